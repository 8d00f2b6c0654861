"""Parser for chopstack's ``plan.yaml`` (arittr/chopstack), versions 1 and 2.

v1: a ``tasks`` list; each task has ``id``, ``title``, ``description``, ``touches`` and
``produces`` (its files), ``requires`` (dependencies) and ``agentPrompt``. The tasks form one
parallel phase whose waves follow ``requires``.

v2: ``name``, ``strategy``, ``tasks`` (``id``, ``name``, ``description``, ``files``,
``dependencies``, ``complexity`` XS/S/M/L/XL, ``estimated_hours``, ``acceptance_criteria``)
and ``phases`` (``id``, ``name``, ``strategy``, ``requires``: earlier phase ids, ``tasks``: task
ids or the task entries themselves). Without ``phases``, all tasks form one phase with the
plan's strategy, unless the tasks name their ``phase`` (``phase: inspect``): then phases in the
order they first appear, sequential unless one of their tasks says ``parallel: true``. camelCase spellings (``estimatedHours``, ``acceptanceCriteria``) are read too.
"""

from __future__ import annotations

import re
from pathlib import Path

from planning.models import Phase, Plan, PlanTask, Size, Strategy
from planning.yamldoc import Doc, LineList, LineMap, load_yaml

SIZES = {"XS": Size.S, "S": Size.S, "M": Size.M, "L": Size.L, "XL": Size.XL}
STRATEGIES = {"sequential": Strategy.sequential, "parallel": Strategy.parallel,
              "phased-parallel": Strategy.parallel}


def parse_chopstack(text: str, source: Path | None = None) -> Plan:
    """Parse a chopstack ``plan.yaml`` (v1 or v2) into a :class:`Plan`.

    Args: ``text`` the YAML document; ``source`` its path. Returns the plan. Raises
    :class:`PlanError` with file and line for invalid YAML, a plan with neither ``tasks`` nor
    ``phases``, a phase naming an unknown task or requiring a phase that is not earlier, a task
    in no phase, an unknown ``strategy`` or ``complexity`` (``bad-enum``), or a value of the
    wrong type.
    """
    doc = Doc(source, "chopstack plan")
    root = doc.mapping(load_yaml(text, source), "the plan", 1)
    meta = root.get("metadata")
    name = doc.text(root, "name", "the plan") or (
        doc.text(meta, "projectName", "metadata") if isinstance(meta, LineMap) else None)
    name = name or (source.stem if source else "plan")
    if "phases" not in root and "tasks" not in root:
        raise doc.error("the plan has neither `tasks` nor `phases`", 1,
                        fix="list the work under `tasks:`", code="no-tasks")
    tasks = {}
    task_list = doc.items(root, "tasks", "the plan", required=False)
    for item, line in zip(task_list, task_list.lines):
        task = _task(doc, doc.mapping(item, "a task", line))
        tasks.setdefault(task.id, task)
    if "phases" not in root and any(isinstance(item, LineMap) and "phase" in item for item in task_list):
        return Plan(name=name, source=source, phases=_flat_phases(doc, task_list, tasks))
    if "phases" not in root:
        strategy = doc.choice(root, "strategy", "the plan", STRATEGIES, default=Strategy.parallel)
        phase = Phase(number=1, name=name, strategy=strategy, tasks=list(tasks.values()),
                      line=task_list.line)
        return Plan(name=name, source=source, phases=[phase])
    phases = _phases(doc, doc.items(root, "phases", "the plan"), tasks)
    placed = {task.id for phase in phases for task in phase.tasks}
    for item, line in zip(task_list, task_list.lines):
        task_id = doc.text(item, "id", "a task")
        if task_id not in placed:
            raise doc.error(f"task {task_id} is in no phase", line,
                            fix="list its id under a phase's `tasks`", code="task-outside-phase")
    return Plan(name=name, source=source, phases=phases)


def _flat_phases(doc: Doc, items: LineList, tasks: dict[str, PlanTask]) -> list[Phase]:
    """Phases of a flat task list whose tasks name their ``phase``, in the order they first
    appear; a phase is parallel when one of its tasks says ``parallel: true``."""
    phases: dict[str, Phase] = {}
    for item, line in zip(items, items.lines):
        task = tasks[doc.text(item, "id", "a task")]
        name = doc.text(item, "phase", f"task {task.id}")
        if name is None:
            raise doc.error(f"task {task.id} names no phase while others do", line,
                            fix="give every task a `phase:`", code="task-outside-phase")
        phase = phases.setdefault(name, Phase(number=len(phases) + 1, name=name, line=line))
        if item.get("parallel") is True:
            phase.strategy = Strategy.parallel
        if task not in phase.tasks:
            phase.tasks.append(task)
    return list(phases.values())


def _phases(doc: Doc, items: LineList, tasks: dict[str, PlanTask]) -> list[Phase]:
    phases, seen = [], []
    for number, (item, line) in enumerate(zip(items, items.lines), start=1):
        node = doc.mapping(item, f"phase {number}", line)
        phase_id = doc.text(node, "id", f"phase {number}") or str(number)
        what = f"phase {phase_id}"
        for required in doc.texts(node, "requires", what):
            if required not in seen:
                raise doc.error(f"{what} requires {required!r}, which is not an earlier phase",
                                node.lines["requires"], fix="order the phases so that required "
                                "ones come first", code="forward-dependency")
        seen.append(phase_id)
        entries = doc.items(node, "tasks", what)
        phase_tasks = []
        for entry, entry_line in zip(entries, entries.lines):
            if isinstance(entry, LineMap):
                phase_tasks.append(_task(doc, entry))
            elif str(entry) in tasks:
                phase_tasks.append(tasks[str(entry)].model_copy())
            else:
                raise doc.error(f"{what} lists unknown task {entry!r}", entry_line,
                                fix="name a task id from the plan's `tasks`", code="unknown-task")
        phases.append(Phase(
            number=number, name=doc.text(node, "name", what) or phase_id,
            strategy=doc.choice(node, "strategy", what, STRATEGIES, default=Strategy.sequential),
            tasks=phase_tasks, line=node.line))
    return phases


def _task(doc: Doc, node: LineMap) -> PlanTask:
    task_id = doc.text(node, "id", "a task", required=True)
    what = f"task {task_id}"
    title = doc.text(node, "title", what) or doc.text(node, "name", what) or task_id
    description = doc.text(node, "description", what)
    prompt = doc.text(node, "agentPrompt", what)
    files = (doc.texts(node, "files", what) + doc.texts(node, "touches", what)
             + doc.texts(node, "produces", what))
    hours = doc.number(node, "estimated_hours", what)
    if hours is None:
        hours = doc.number(node, "estimatedHours", what)
    return PlanTask(
        id=task_id,
        title=title,
        body="\n\n".join(part for part in (description, prompt) if part),
        files=list(dict.fromkeys(_clean(path) for path in files if _clean(path))),
        dependencies=doc.texts(node, "dependencies", what) + doc.texts(node, "requires", what),
        size=doc.choice(node, "complexity", what, SIZES),
        hours=hours,
        acceptance_criteria=(doc.texts(node, "acceptance_criteria", what)
                             + doc.texts(node, "acceptanceCriteria", what)),
        line=node.line,
    )


def _clean(path: str) -> str:
    """``src/a.ts (moved)`` -> ``src/a.ts``."""
    return re.sub(r"\s*\([^)]*\)\s*$", "", path).strip()
