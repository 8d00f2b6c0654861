"""Parser for Task Master's ``tasks.json`` (npm ``task-master-ai``; ``.taskmaster/tasks/tasks.json``
tagged, or the legacy ``tasks/tasks.json``).

    {"master": {"tasks": [{"id": 1, "title": "...", "status": "pending", "dependencies": [],
                           "details": "...", "subtasks": [{"id": 1, "title": "...",
                                                           "dependencies": [], "status": "done"}]}],
                "metadata": {...}}}

Mapping (Task Master has no phases): each subtask is a planflow task ``<parent>.<sub>``, a task
without subtasks is one planflow task ``<id>``. Phases are the layers of the task-level
dependency graph (phase 1: tasks depending on nothing, phase k: tasks whose dependencies are
all in earlier phases), each parallel. Inside a task, subtasks are ordered steps: a subtask
depends on the subtasks it names (a bare number is a sibling, unless it is a task its parent
depends on: then, as with any other task id, every planflow task of that task; ``"3.2"`` any
subtask), else on the sibling before it; each also waits for the
task-level dependencies of its parent (met by phase order). Status ``done``, ``completed``
and ``cancelled`` are done (skipped by a run), and so is every subtask of a done task;
``blocked`` is blocked. A done task keeps no dependency on another done task (a run skips both,
and real files keep cycles among finished subtasks). Files are the paths the task's title and text name (``markdown.paths_in``).
The ``master`` tag is read (else the first); other tags are named in a warning.
"""

from __future__ import annotations

import re
from pathlib import Path

from planning.errors import Issue
from planning.markdown import paths_in
from planning.models import Phase, Plan, PlanTask, Strategy
from planning.references import dependency_layers
from planning.safety import file_path_problem
from planning.yamldoc import Doc, LineList, LineMap, load_json

DONE = {"done", "completed", "cancelled", "canceled"}


TASKS_LIST = re.compile(r'"tasks"\s*:\s*\[')
"""A ``"tasks": [`` key: with no ``"phases"`` key, a JSON plan is Task Master's (used to detect it)."""


def parse_taskmaster(text: str, source: Path | None = None) -> Plan:
    """Parse a Task Master ``tasks.json`` into a :class:`Plan` (see the module docstring).

    Raises PlanError with file and line for invalid JSON, a file without a ``tasks`` list, a
    task or subtask without ``id``, or a value of the wrong type.
    """
    doc = Doc(source, "Task Master tasks")
    root = doc.mapping(load_json(text, source), "the tasks file", 1)
    warnings = []
    if isinstance(root.get("tasks"), LineList):
        tag_name, tag = "master", root
    else:
        tags = {name: value for name, value in root.items() if isinstance(value, LineMap)
                and isinstance(value.get("tasks"), LineList)}
        if not tags:
            raise doc.error("no `tasks` list found", 1, fix="pass a Task Master tasks.json",
                            code="no-tasks")
        tag_name = "master" if "master" in tags else next(iter(tags))
        tag = tags[tag_name]
        if len(tags) > 1:
            others = ", ".join(name for name in tags if name != tag_name)
            warnings.append(Issue(code="other-tags", severity="warning", file=source, line=tag.line,
                                  message=f"read tag {tag_name!r}; not read: {others}",
                                  fix="split the tags into their own files to run them"))
    parents = _parents(doc, doc.items(tag, "tasks", f"tag {tag_name}"))
    return Plan(name=source.parent.parent.name if source else tag_name, source=source,
                phases=_layers(parents), parse_warnings=warnings)


class _Parent:
    """One top-level task: its id, task-level dependencies and planflow tasks."""

    def __init__(self, task_id: str, deps: list[str], tasks: list[PlanTask]) -> None:
        self.id, self.deps, self.tasks = task_id, deps, tasks


def _parents(doc: Doc, items: LineList) -> dict[str, _Parent]:
    parents: dict[str, _Parent] = {}
    for item, line in zip(items, items.lines):
        node = doc.mapping(item, "a task", line)
        task_id = doc.text(node, "id", "a task", required=True)
        what = f"task {task_id}"
        done = (doc.text(node, "status", what) or "").lower() in DONE
        subs = doc.items(node, "subtasks", what, required=False)
        if not subs:
            tasks = [_task(doc, node, task_id, what, done)]
        else:
            tasks = []
            for sub, sub_line in zip(subs, subs.lines):
                sub_node = doc.mapping(sub, f"a subtask of {what}", sub_line)
                sub_id = doc.text(sub_node, "id", f"a subtask of {what}", required=True)
                tasks.append(_task(doc, sub_node, f"{task_id}.{sub_id}", f"subtask {task_id}.{sub_id}",
                                   done, parent=task_id))
        parents[task_id] = _Parent(task_id, doc.texts(node, "dependencies", what), tasks)
    ids = {task.id for parent in parents.values() for task in parent.tasks}
    for parent in parents.values():
        outer = [task.id for dep in parent.deps if dep in parents for task in parents[dep].tasks]
        outer += [dep for dep in parent.deps if dep not in parents]
        previous: list[str] = []
        for task in parent.tasks:
            named = []
            for dep in task.dependencies:  # subtask references, as written
                if dep in parents and dep in parent.deps:  # the parent's own dependency
                    named += [t.id for t in parents[dep].tasks]
                elif "." not in dep and f"{parent.id}.{dep}" in ids:
                    named.append(f"{parent.id}.{dep}")
                elif dep in parents:
                    named += [t.id for t in parents[dep].tasks]
                else:
                    named.append(dep)
            task.dependencies = list(dict.fromkeys(outer + (named or previous)))
            previous = [task.id]
    done = {task.id for parent in parents.values() for task in parent.tasks if task.status == "done"}
    for parent in parents.values():
        for task in parent.tasks:
            if task.id in done:
                task.dependencies = [dep for dep in task.dependencies if dep not in done]
    return parents


def _task(doc: Doc, node: LineMap, task_id: str, what: str, parent_done: bool,
          parent: str | None = None) -> PlanTask:
    status = (doc.text(node, "status", what) or "pending").lower()
    body = "\n\n".join(part for part in (doc.text(node, key, what) for key in
                                         ("description", "details", "testStrategy")) if part)
    title = doc.text(node, "title", what) or task_id
    return PlanTask(
        id=task_id, title=title, body=body,
        files=[path for path in paths_in(f"{title}\n{body}") if not file_path_problem(path)],
        dependencies=doc.texts(node, "dependencies", what) if parent else [],
        status="done" if parent_done or status in DONE else "blocked" if status == "blocked" else "pending",
        blocked_reason="blocked in Task Master" if status == "blocked" else None,
        line=node.line)


def _layers(parents: dict[str, _Parent]) -> list[Phase]:
    """Phases of the task-level dependency graph's layers (``references.dependency_layers``)."""
    layers = dependency_layers({parent.id: parent.deps for parent in parents.values()})
    return [Phase(number=number, name=f"Layer {number}", strategy=Strategy.parallel,
                  tasks=[task for task_id in layer for task in parents[task_id].tasks],
                  line=parents[layer[0]].tasks[0].line)
            for number, layer in enumerate(layers, start=1)]
