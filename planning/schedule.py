"""What a run will do and how long it takes: waves, skipped tasks, critical path, estimates.

A wave is a list of tasks that may run at the same time; waves of a phase run in order and
phases run in order, so each is a barrier. Hence the critical path is the longest task of
each wave, and the parallel estimate for ``max_parallel`` agents is, per wave, the makespan
of its tasks spread over the wave's agents (longest first onto the least loaded agent).
"""

from __future__ import annotations

import heapq
from collections import deque

from pydantic import BaseModel

from planning.errors import PlanError
from planning.models import SIZE_HOURS, Lane, Phase, Plan, PlanTask, Strategy

DEFAULT_HOURS = SIZE_HOURS["M"]
"""Hours assumed for a task with neither hours nor a size."""


def phase_waves(phase: Phase) -> list[list[PlanTask]]:
    """The waves of ``phase``.

    Sequential: one task per wave, in plan order. Parallel: wave k holds the tasks whose
    dependencies inside the phase are all in earlier waves, in plan order (dependencies on
    other phases are met by phase order). Raises PlanError (``dependency-cycle``) when tasks
    of a parallel phase depend on each other in a cycle.
    """
    if phase.strategy is Strategy.sequential:
        return [[task] for task in phase.tasks]
    index = {task.id: position for position, task in enumerate(phase.tasks)}
    waiting = [0] * len(phase.tasks)
    dependents: list[list[int]] = [[] for _ in phase.tasks]
    for position, task in enumerate(phase.tasks):
        for dep in dict.fromkeys(task.dependencies):
            if dep in index and dep != task.id:
                waiting[position] += 1
                dependents[index[dep]].append(position)
    wave = [position for position, count in enumerate(waiting) if count == 0]
    waves: list[list[PlanTask]] = []
    placed = 0
    while wave:  # Kahn's algorithm, one level at a time: linear in tasks and dependencies
        waves.append([phase.tasks[position] for position in wave])
        placed += len(wave)
        ready = []
        for position in wave:
            for dependent in dependents[position]:
                waiting[dependent] -= 1
                if waiting[dependent] == 0:
                    ready.append(dependent)
        wave = sorted(ready)
    if placed < len(phase.tasks):
        pending = [task for position, task in enumerate(phase.tasks) if waiting[position]]
        raise PlanError(
            f"tasks {', '.join(task.id for task in pending)} of {phase.label} wait on each other",
            line=pending[0].line, fix="break the dependency cycle", code="dependency-cycle",
        )
    return waves


def plan_waves(plan: Plan) -> list[list[list[PlanTask]]]:
    """``phase_waves`` of every phase, in phase order."""
    return [phase_waves(phase) for phase in plan.phases]


def runnable(plan: Plan) -> tuple[list[str], dict[str, str]]:
    """``(ids of the tasks a run executes, {id: reason} of those it skips)``.

    Skipped: tasks the plan marks done ("already done"), blocked tasks ("blocked: reason")
    and every task that depends on a blocked one, directly or not ("depends on blocked task
    X"). Dependents of done tasks run.
    """
    skip: dict[str, str] = {}
    blocked: dict[str, str] = {}
    for task in plan.tasks():
        if task.status == "done":
            skip[task.id] = "already done"
        elif task.status == "blocked":
            blocked[task.id] = task.id
            skip[task.id] = f"blocked: {task.blocked_reason or 'no reason given'}"
    dependents: dict[str, list[PlanTask]] = {}
    for task in plan.tasks():
        for dep in task.dependencies:
            dependents.setdefault(dep, []).append(task)
    queue = deque(blocked)
    while queue:  # breadth first from the blocked tasks, in plan order: linear
        current = queue.popleft()
        for task in dependents.get(current, []):
            if task.id not in blocked:
                blocked[task.id] = blocked[current]
                skip[task.id] = f"depends on blocked task {blocked[current]}"
                queue.append(task.id)
    return [task.id for task in plan.tasks() if task.id not in skip], skip


def task_hours(task: PlanTask) -> float:
    """The task's estimate: its hours, else its size's hours, else ``DEFAULT_HOURS``."""
    estimate = task.estimate_hours
    return DEFAULT_HOURS if estimate is None else estimate


def phase_limit(phase: Phase, max_parallel: int) -> int:
    """Agents a phase runs at once: 1 when sequential, else the smaller of ``max_parallel``
    and the phase's own ``max_parallel``."""
    if phase.strategy is Strategy.sequential:
        return 1
    return min(max_parallel, phase.max_parallel or max_parallel)


def _makespan(hours: list[float], agents: int) -> float:
    loads = [0.0] * max(1, min(agents, len(hours)))
    for value in sorted(hours, reverse=True):
        heapq.heapreplace(loads, loads[0] + value)
    return max(loads, default=0.0)


class WaveInfo(BaseModel):
    """One wave: the ids it runs, the ids it skips, its hours with the run's agents."""

    tasks: list[str]
    skipped: list[str]
    hours: float


class PhaseInfo(BaseModel):
    """One phase of the schedule."""

    number: int
    name: str
    strategy: str
    agents: int
    waves: list[WaveInfo]


class Schedule(BaseModel):
    """The schedule of a plan for ``max_parallel`` agents.

    ``sequential_hours``: every task that runs, one after another; ``parallel_hours``: the
    waves with ``max_parallel`` agents; ``critical_path`` (ids) and ``critical_hours``: the
    longest task of each wave (the time with unlimited agents); ``savings_hours`` and
    ``savings_percent``: sequential minus parallel; ``assumed``: ids of tasks without an
    estimate (counted as ``DEFAULT_HOURS``); ``skipped``: {id: reason}; ``dependencies``:
    dependency edges; ``lanes``: tasks that declare common files and run one after the other
    (the plan's ``lanes``; the hours above count them so).
    """

    plan: str
    run_id: str | None
    max_parallel: int
    phases: list[PhaseInfo]
    tasks: int
    dependencies: int
    sequential_hours: float
    parallel_hours: float
    savings_hours: float
    savings_percent: float
    critical_path: list[str]
    critical_hours: float
    assumed: list[str]
    skipped: dict[str, str]
    lanes: list[Lane] = []


def build_schedule(plan: Plan, max_parallel: int = 4) -> Schedule:
    """The :class:`Schedule` of ``plan`` with at most ``max_parallel`` agents at once.

    Raises PlanError as :func:`phase_waves` does.
    """
    _, skip = runnable(plan)
    phases, path, critical, sequential, parallel = [], [], 0.0, 0.0, 0.0
    for phase, waves in zip(plan.phases, plan_waves(plan)):
        agents = phase_limit(phase, max_parallel)
        infos = []
        for wave in waves:
            run = [task for task in wave if task.id not in skip]
            hours = [task_hours(task) for task in run]
            span = _makespan(hours, agents)
            infos.append(WaveInfo(tasks=[t.id for t in run],
                                  skipped=[t.id for t in wave if t.id in skip], hours=span))
            sequential += sum(hours)
            parallel += span
            if run:
                longest = max(run, key=task_hours)
                path.append(longest.id)
                critical += task_hours(longest)
        phases.append(PhaseInfo(number=phase.number, name=phase.name,
                                strategy=phase.strategy.value, agents=agents, waves=infos))
    saved = sequential - parallel
    return Schedule(
        plan=plan.name, run_id=plan.run_id, max_parallel=max_parallel, phases=phases,
        tasks=len(plan.tasks()), dependencies=sum(len(t.dependencies) for t in plan.tasks()),
        sequential_hours=sequential, parallel_hours=parallel, savings_hours=saved,
        savings_percent=round(100 * saved / sequential, 1) if sequential else 0.0,
        critical_path=path, critical_hours=critical,
        assumed=[t.id for t in plan.tasks() if t.estimate_hours is None and t.id not in skip],
        skipped=skip, lanes=plan.lanes,
    )


def estimates(plan: Plan, max_parallel: int = 4) -> tuple[float, float]:
    """``(sequential hours, parallel hours)`` of :func:`build_schedule`."""
    schedule = build_schedule(plan, max_parallel)
    return schedule.sequential_hours, schedule.parallel_hours


def hours_text(value: float) -> str:
    """``2.5h``."""
    return f"{value:g}h"


def summary_markdown(schedule: Schedule) -> str:
    """The "Execution Summary" of a schedule as markdown (totals, critical path, skipped)."""
    lines = [
        "## Execution Summary", "",
        f"- Tasks: {schedule.tasks} in {len(schedule.phases)} phases, "
        f"{schedule.dependencies} dependencies",
        f"- Sequential time: {hours_text(schedule.sequential_hours)}",
        f"- Parallel time ({schedule.max_parallel} agents): {hours_text(schedule.parallel_hours)}",
        f"- Time savings: {hours_text(schedule.savings_hours)} ({schedule.savings_percent:g}%)",
        f"- Critical path: {' → '.join(schedule.critical_path) or '-'} "
        f"({hours_text(schedule.critical_hours)})",
    ]
    if schedule.assumed:
        lines.append(f"- Without estimate (counted as {hours_text(DEFAULT_HOURS)}): "
                     f"{', '.join(schedule.assumed)}")
    for task_id, reason in schedule.skipped.items():
        lines.append(f"- Skipped {task_id}: {reason}")
    for lane in schedule.lanes:
        lines.append(f"- One lane (same files, one after the other): {lane.describe()}")
    return "\n".join(lines) + "\n"


def render_mermaid(plan: Plan) -> str:
    """A Mermaid flowchart of the task graph: one subgraph per phase, an edge per dependency."""
    def node(task_id: str) -> str:
        return "t_" + "".join(c if c.isalnum() else "_" for c in task_id)

    lines = ["flowchart TD"]
    for index, phase in enumerate(plan.phases):
        lines.append(f'  subgraph p{index}["{_label(phase.label + ": " + phase.name)}"]')
        for task in phase.tasks:
            lines.append(f'    {node(task.id)}["{_label(task.id + " " + task.title)}"]')
        lines.append("  end")
    known = {task.id for task in plan.tasks()}
    for task in plan.tasks():
        for dep in task.dependencies:
            if dep in known:
                lines.append(f"  {node(dep)} --> {node(task.id)}")
    return "\n".join(lines) + "\n"


def _label(text: str) -> str:
    return text.replace('"', "'").replace("[", "(").replace("]", ")")[:80]
