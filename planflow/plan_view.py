"""What planflow understood of a plan, for ``planflow validate --show`` and ``--json``: its
phases, each task with its files (after mapping absolute paths) and resolved dependencies, and
the tasks a run skips with the reason."""

from __future__ import annotations

from planning.models import Plan
from planning.schedule import runnable


def plan_outline(plan: Plan) -> dict:
    """The plan as JSON-ready values: ``name``, ``run_id``, ``phases`` (``number``, ``name``,
    ``strategy``, ``tasks``: ids), ``tasks`` (``id``, ``title``, ``phase``: its number,
    ``files``, ``depends_on``: task ids, ``status``, ``skipped``: the reason a run skips it, or
    None) and ``skipped`` (``[{"id", "reason"}]``, plan order)."""
    _, skip = runnable(plan)
    return {
        "name": plan.name, "run_id": plan.run_id,
        "phases": [{"number": phase.number, "name": phase.name, "strategy": phase.strategy.value,
                    "tasks": [task.id for task in phase.tasks]} for phase in plan.phases],
        "tasks": [{"id": task.id, "title": task.title, "phase": phase.number, "files": task.files,
                   "depends_on": task.dependencies, "status": task.status,
                   "skipped": skip.get(task.id)}
                  for phase in plan.phases for task in phase.tasks],
        "skipped": [{"id": task_id, "reason": reason} for task_id, reason in skip.items()],
    }


def outline_lines(outline: dict) -> list[str]:
    """``plan_outline`` as text lines: a heading per phase, a line per task with its files and
    dependencies, then the skipped tasks."""
    lines = [f"Plan: {outline['name']} ({len(outline['phases'])} phases, {len(outline['tasks'])} tasks)"]
    tasks = {task["id"]: task for task in outline["tasks"]}
    for phase in outline["phases"]:
        lines.append(f"Phase {phase['number']}: {phase['name']} ({phase['strategy']})")
        for task_id in phase["tasks"]:
            task = tasks[task_id]
            lines.append(f"  {task_id}  {task['title']}")
            lines.append(f"      files: {', '.join(task['files']) or '-'}")
            lines.append(f"      depends on: {', '.join(task['depends_on']) or '-'}")
    for entry in outline["skipped"]:
        lines.append(f"Skipped {entry['id']}: {entry['reason']}")
    return lines
