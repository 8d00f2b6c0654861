"""Order of work inside phases (waves) and a plain-text dry run of a plan.

A wave is a list of tasks that may run at the same time; waves of a phase run in order.
"""

from __future__ import annotations

from planning.errors import PlanError
from planning.models import Phase, Plan, PlanTask, Strategy


def phase_waves(phase: Phase) -> list[list[PlanTask]]:
    """The waves of ``phase``.

    Sequential: one task per wave, in plan order. Parallel: wave k holds the tasks whose
    dependencies inside the phase are all in earlier waves, in plan order (dependencies on
    other phases are met by phase order). Raises PlanError (``dependency-cycle``) when tasks
    of a parallel phase depend on each other in a cycle.
    """
    if phase.strategy is Strategy.sequential:
        return [[task] for task in phase.tasks]
    in_phase = {task.id for task in phase.tasks}
    done: set[str] = set()
    pending = list(phase.tasks)
    waves: list[list[PlanTask]] = []
    while pending:
        wave = [task for task in pending
                if all(dep in done or dep not in in_phase or dep == task.id
                       for dep in task.dependencies)]
        if not wave:
            raise PlanError(
                f"tasks {', '.join(task.id for task in pending)} of {phase.label} wait on each other",
                line=pending[0].line, fix="break the dependency cycle", code="dependency-cycle",
            )
        waves.append(wave)
        done.update(task.id for task in wave)
        pending = [task for task in pending if task not in wave]
    return waves


def plan_waves(plan: Plan) -> list[list[list[PlanTask]]]:
    """``phase_waves`` of every phase, in phase order."""
    return [phase_waves(phase) for phase in plan.phases]


def estimates(plan: Plan) -> tuple[float, float]:
    """``(sequential hours, parallel hours)``: the sum of all task estimates, and the sum over
    phases and their waves of the longest task per wave. Tasks without an estimate count 0."""
    hours = [[[task.estimate_hours or 0.0 for task in wave] for wave in waves]
             for waves in plan_waves(plan)]
    sequential = sum(sum(sum(wave) for wave in waves) for waves in hours)
    parallel = sum(sum(max(wave) for wave in waves) for waves in hours)
    return sequential, parallel


def render_dry_run(plan: Plan) -> str:
    """A plain-text listing of what a run would do: each phase (label, name, max_parallel), its
    waves, each task (id, title, estimate, files, dependencies), and the totals. Raises
    PlanError as :func:`phase_waves` does."""
    run = f" (run {plan.run_id})" if plan.run_id else ""
    out = [f"Plan: {plan.name}{run}"]
    if plan.source:
        out.append(f"Source: {plan.source}")
    for phase, waves in zip(plan.phases, plan_waves(plan)):
        cap = f", max_parallel {phase.max_parallel}" if phase.max_parallel else ""
        out.append(f"\n{phase.label}: {phase.name}{cap}")
        for number, wave in enumerate(waves, start=1):
            out.append(f"  Wave {number}:")
            for task in wave:
                out.extend(_task_lines(task))
    sequential, parallel = estimates(plan)
    unknown = sum(1 for task in plan.tasks() if task.estimate_hours is None)
    note = f" ({unknown} tasks without estimate)" if unknown else ""
    out.append(
        f"\nTotal: {len(plan.tasks())} tasks in {len(plan.phases)} phases; "
        f"sequential {_hours(sequential)}, parallel estimate {_hours(parallel)}{note}"
    )
    return "\n".join(out) + "\n"


def _task_lines(task: PlanTask) -> list[str]:
    estimate = task.estimate_hours
    size = f"{task.size.value}, " if task.size else ""
    lines = [f"    {task.id}  {task.title}  [{size}{_hours(estimate) if estimate is not None else '?'}]"]
    lines.append(f"      files: {', '.join(task.files) if task.files else '(none)'}")
    if task.dependencies:
        lines.append(f"      depends on: {', '.join(task.dependencies)}")
    return lines


def _hours(value: float) -> str:
    return f"{value:g}h"
