"""The schedule of a plan as a table (``planflow run --dry-run``).

The table is laid out here as aligned plain-text columns (widths by ``rich.cells.cell_len``)
rather than as a ``rich.table.Table``: rich measures and wraps every cell, about 1 ms a row, so a
1,000-task plan's table alone took a second; aligned lines cost about a tenth of that.
"""

from __future__ import annotations

from rich.cells import cell_len, set_cell_size
from rich.console import Console

from planning.models import Plan
from planning.schedule import Schedule, hours_text, summary_markdown, task_hours

COLUMNS = ("phase", "wave", "task", "title", "estimate", "files", "depends on", "state")
MAX_WIDTH = {"title": 60, "files": 48, "depends on": 32, "state": 48}
"""The widest a column gets (cells); a longer value ends in ``…``."""


def schedule_rows(plan: Plan, schedule: Schedule) -> list[tuple[str, ...]]:
    """One row of ``COLUMNS`` per task, in schedule order (phase, wave, then plan order)."""
    tasks = {task.id: task for task in plan.tasks()}
    rows = []
    for phase in schedule.phases:
        label = f"Phase {phase.number} {phase.strategy}" + (f" x{phase.agents}" if phase.agents > 1 else "")
        for number, wave in enumerate(phase.waves, start=1):
            for task_id in wave.tasks + wave.skipped:
                task = tasks[task_id]
                size = f"{task.size.value} " if task.size else ""
                assumed = "?" if task_id in schedule.assumed else ""
                rows.append((
                    label, str(number), task.id, task.title,
                    f"{size}{hours_text(task_hours(task))}{assumed}",
                    ", ".join(task.files) or "-", ", ".join(task.dependencies) or "-",
                    f"skip: {schedule.skipped[task_id]}" if task_id in schedule.skipped else "run",
                ))
                label = ""
    return rows


def _fit(text: str, width: int) -> str:
    if cell_len(text) <= width:
        return text + " " * (width - cell_len(text))
    return set_cell_size(text, width - 1) + "…"


def print_schedule(plan: Plan, schedule: Schedule, console: Console) -> None:
    """Print the plan's title, a header and one line per task (phase, wave, id, title,
    estimate, files, dependencies, state), and the execution summary under it."""
    rows = schedule_rows(plan, schedule)
    widths = [min(MAX_WIDTH.get(name, 10**6), max([cell_len(name)] + [cell_len(row[k]) for row in rows]))
              for k, name in enumerate(COLUMNS)]
    lines = [f"{plan.name}" + (f" (run {plan.run_id})" if plan.run_id else ""),
             "  ".join(_fit(name, width) for name, width in zip(COLUMNS, widths)).rstrip(),
             "  ".join("-" * width for width in widths)]
    lines += ["  ".join(_fit(cell, width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    console.out("\n".join(lines), highlight=False)
    console.print(summary_markdown(schedule).replace("## ", "", 1))
