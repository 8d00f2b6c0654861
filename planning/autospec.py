"""Parser for autospec's ``tasks.yaml`` (ariel-frischer/autospec).

    tasks: {branch: 001-feature, spec_path: ..., plan_path: ...}
    summary: {total_tasks: 2, total_phases: 1}
    phases:
      - number: 1
        title: Setup
        tasks:
          - id: T001
            title: Create the model in internal/model.go
            status: Pending        # Pending | InProgress | Completed | Blocked
            type: setup            # setup | implementation | test | documentation | refactor
            parallel: true
            file_path: internal/model.go
            dependencies: [T000]
            acceptance_criteria: ["the model exists"]
            blocked_reason: ...    # for Blocked tasks
            notes: ...             # at most 1000 characters

Completed tasks are done (skipped by a run), Blocked ones are not run nor anything depending
on them. A phase holding a ``parallel: true`` task is parallel (its dependencies make the
waves), else sequential. Unknown task fields are reported as warnings.
"""

from __future__ import annotations

from pathlib import Path

from planning.errors import Issue
from planning.models import Phase, Plan, PlanTask, Strategy
from planning.yamldoc import Doc, LineMap, load_yaml

STATUSES = {"Pending": "pending", "InProgress": "pending", "Completed": "done", "Blocked": "blocked"}
TYPES = {name: name for name in ("setup", "implementation", "test", "documentation", "refactor")}
MAX_NOTES = 1000
_BOOLS = {"true": True, "false": False}
_TASK_KEYS = {"id", "title", "status", "type", "parallel", "story_id", "file_path", "dependencies",
              "acceptance_criteria", "blocked_reason", "notes", "description"}


def parse_autospec(text: str, source: Path | None = None) -> Plan:
    """Parse an autospec ``tasks.yaml`` into a :class:`Plan`.

    Args: ``text`` the YAML document; ``source`` its path. Returns the plan (phases numbered
    by position, ``Plan.name`` from ``tasks.branch``). Raises :class:`PlanError` with file and
    line for invalid YAML, missing ``phases`` or phase ``tasks``, values of the wrong type,
    an unknown ``status`` or ``type`` (``bad-enum``), or notes over 1000 characters
    (``notes-too-long``).
    """
    doc = Doc(source, "autospec tasks.yaml")
    root = doc.mapping(load_yaml(text, source), "the tasks file", 1)
    meta = root.get("tasks")
    name = doc.text(meta, "branch", "tasks") if isinstance(meta, LineMap) else None
    warnings: list[Issue] = []
    phases = []
    phase_list = doc.items(root, "phases", "the tasks file")
    for number, (item, line) in enumerate(zip(phase_list, phase_list.lines), start=1):
        phases.append(_phase(doc, doc.mapping(item, f"phase {number}", line), number, warnings))
    if not phases:
        raise doc.error("the tasks file has no phases", root.lines.get("phases", 1),
                        fix="add phases with tasks", code="no-phases")
    return Plan(name=name or (source.parent.name if source else "tasks"), source=source,
                phases=phases, parse_warnings=warnings)


def _phase(doc: Doc, node: LineMap, number: int, warnings: list[Issue]) -> Phase:
    what = f"phase {number}"
    items = doc.items(node, "tasks", what)
    tasks = [_task(doc, doc.mapping(item, f"{what} task {index}", line), f"{what} task {index}",
                   warnings)
             for index, (item, line) in enumerate(zip(items, items.lines), start=1)]
    parallel = any(doc.choice(task, "parallel", f"{what} task", _BOOLS, default=False)
                   for task in items)
    purpose = doc.text(node, "purpose", what)
    return Phase(number=number, name=doc.text(node, "title", what) or f"Phase {number}",
                 strategy=Strategy.parallel if parallel else Strategy.sequential,
                 tasks=tasks, notes=[purpose] if purpose else [], line=node.line)


def _task(doc: Doc, node: LineMap, what: str, warnings: list[Issue]) -> PlanTask:
    task_id = doc.text(node, "id", what, required=True)
    what = f"task {task_id}"
    status = doc.choice(node, "status", what, STATUSES, default="pending")
    doc.choice(node, "type", what, TYPES)
    notes = doc.text(node, "notes", what) or ""
    if len(notes) > MAX_NOTES:
        raise doc.error(f"{what}: notes too long: {len(notes)} characters (max {MAX_NOTES})",
                        node.lines["notes"], fix="shorten the notes", code="notes-too-long")
    for key in node:
        if key not in _TASK_KEYS:
            warnings.append(Issue(code="unknown-field", severity="warning", file=doc.source,
                                  line=node.lines[key], message=f"{what}: unknown field {key!r} ignored"))
    title = doc.text(node, "title", what, required=True) or task_id
    story = doc.text(node, "story_id", what)
    body = "\n\n".join(part for part in (title, doc.text(node, "description", what),
                                         f"User story: {story}" if story else None, notes) if part)
    file_path = doc.text(node, "file_path", what)
    return PlanTask(
        id=task_id, title=title, body=body,
        files=[path.strip() for path in (file_path or "").split(",") if path.strip()],
        dependencies=doc.texts(node, "dependencies", what),
        acceptance_criteria=doc.texts(node, "acceptance_criteria", what),
        status=status,
        blocked_reason=doc.text(node, "blocked_reason", what) if status == "blocked" else None,
        line=node.line,
    )

