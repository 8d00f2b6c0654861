"""Artifacts on the flow run: the plan as markdown and the tasks as a table (Prefect UI's
Artifacts tab). Keys group the versions of one run id across flow runs."""

from __future__ import annotations

from prefect.artifacts import create_markdown_artifact, create_table_artifact

from planning.models import Plan
from planning.status import RunStatus


def publish_plan(plan: Plan, run_id: str) -> None:
    """A markdown artifact ``planflow-{run_id}-plan``: phases, strategies and tasks."""
    lines = [f"# {plan.name} (run {run_id})", ""]
    for phase in plan.phases:
        lines += [f"## {phase.label}: {phase.name}", "", "| task | title | depends on | files |",
                  "|---|---|---|---|"]
        for task in phase.tasks:
            deps = ", ".join(task.dependencies) or "-"
            files = ", ".join(f"`{f}`" for f in task.files) or "-"
            lines.append(f"| {task.id} | {task.title} | {deps} | {files} |")
        lines.append("")
    create_markdown_artifact("\n".join(lines), key=f"planflow-{run_id}-plan",
                             description=f"Plan of run {run_id}")


def publish_tasks(status: RunStatus) -> None:
    """A table artifact ``planflow-{run_id}-tasks``: id, status, branch, commit, seconds."""
    rows = [
        {"task": t.id, "phase": t.phase, "status": t.state.value, "cached": t.cached,
         "branch": t.branch or "", "commit": (t.commit or "")[:10],
         "duration_s": t.duration_s if t.duration_s is not None else ""}
        for t in status.tasks
    ]
    create_table_artifact(rows, key=f"planflow-{status.run_id}-tasks",
                          description=f"Tasks of run {status.run_id}: {status.status}")
