"""Files declared by two tasks that may run at the same time (the same wave of a parallel
phase), and the fix that runs them one after the other."""

from __future__ import annotations

from dataclasses import dataclass

from planning.models import Plan
from planning.schedule import phase_waves, runnable


@dataclass(frozen=True)
class Conflict:
    """Tasks ``first`` and ``second`` (plan order) of phase ``phase`` both declare ``files``."""

    phase: int
    first: str
    second: str
    files: tuple[str, ...]


def file_conflicts(plan: Plan) -> list[Conflict]:
    """Every pair of tasks of one wave that declare a common file, in plan order.

    Tasks that will not run (done, blocked and their dependents) are left out. Raises
    PlanError as :func:`planning.schedule.phase_waves` does (a dependency cycle).
    """
    skip = set(runnable(plan)[1])
    conflicts = []
    for phase in plan.phases:
        for wave in phase_waves(phase) if phase.strategy.value == "parallel" else []:
            tasks = [task for task in wave if task.id not in skip]
            owners: dict[str, list[int]] = {}  # file -> earlier tasks of the wave declaring it
            pairs: dict[tuple[int, int], list[str]] = {}
            for second, task in enumerate(tasks):
                for path in dict.fromkeys(task.files):
                    for first in owners.setdefault(path, []):
                        pairs.setdefault((first, second), []).append(path)
                    owners[path].append(second)
            conflicts += [Conflict(phase.number, tasks[first].id, tasks[second].id, tuple(files))
                          for (first, second), files in sorted(pairs.items())]
    return conflicts


def serialize_conflicts(plan: Plan) -> Plan:
    """A copy of ``plan`` where, for each conflict, the later task depends on the earlier one,
    repeated until no two tasks of a wave share a file. Raises PlanError on a dependency cycle."""
    plan = plan.model_copy(deep=True)
    while conflicts := file_conflicts(plan):
        task = plan.task(conflicts[0].second)
        if conflicts[0].first in task.dependencies:
            break
        task.dependencies.append(conflicts[0].first)
    return plan
