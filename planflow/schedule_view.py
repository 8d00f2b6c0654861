"""The schedule of a plan as a rich table (``planflow run --dry-run``)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from planning.models import Plan
from planning.schedule import Schedule, hours_text, summary_markdown, task_hours


def print_schedule(plan: Plan, schedule: Schedule, console: Console) -> None:
    """Print one table row per task (phase, wave, id, title, estimate, files, dependencies,
    state) and the execution summary under it."""
    title = f"{plan.name}" + (f" (run {plan.run_id})" if plan.run_id else "")
    table = Table(title=title, title_justify="left")
    for column in ("phase", "wave", "task", "title", "estimate", "files", "depends on", "state"):
        table.add_column(column, overflow="fold")
    tasks = {task.id: task for task in plan.tasks()}
    for phase in schedule.phases:
        label = f"Phase {phase.number} {phase.strategy}" + (f" x{phase.agents}" if phase.agents > 1 else "")
        for number, wave in enumerate(phase.waves, start=1):
            for task_id in wave.tasks + wave.skipped:
                task = tasks[task_id]
                size = f"{task.size.value} " if task.size else ""
                assumed = "?" if task_id in schedule.assumed else ""
                table.add_row(
                    label, str(number), task.id, task.title[:60],
                    f"{size}{hours_text(task_hours(task))}{assumed}",
                    ", ".join(task.files) or "-", ", ".join(task.dependencies) or "-",
                    f"skip: {schedule.skipped[task_id]}" if task_id in schedule.skipped else "run",
                )
                label = ""
    console.print(table)
    console.print(summary_markdown(schedule).replace("## ", "", 1))
