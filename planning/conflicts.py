"""Files declared by two tasks that may run at the same time (the same wave of a parallel
phase), and the fix that runs them one after the other: in one *lane* (Spec Kitty's word for
work packages whose owned files overlap). A run does it by default; ``--allow-overlap`` runs
such tasks side by side (their stacking may then conflict)."""

from __future__ import annotations

from dataclasses import dataclass

from planning.models import Lane, Plan
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
    """A copy of ``plan`` where the later of two tasks of a wave that declare a common file
    depends on the earlier one, repeated until no two tasks of a wave share a file; its
    ``lanes`` list the tasks so put one after the other (a lane: tasks linked by such
    dependencies, in plan order, with the files that linked them). Each round links every
    task to the nearest earlier task of its wave that declared the same file (so three tasks
    sharing a file become a chain), then the waves are computed again: a few rounds, whatever
    the plan's size. Raises PlanError on a dependency cycle."""
    plan = plan.model_copy(deep=True)
    links: list[Conflict] = []
    while conflicts := _nearest(file_conflicts(plan)):
        for conflict in conflicts:
            plan.task(conflict.second).dependencies.append(conflict.first)
        links += conflicts
    plan.lanes = _lanes(plan, links)
    return plan


def _nearest(conflicts: list[Conflict]) -> list[Conflict]:
    """Of ``conflicts`` (plan order, as ``file_conflicts`` gives them), for each later task and
    file only the pair with the nearest earlier task: the links that make a chain."""
    nearest: dict[tuple[int, str, str], Conflict] = {}
    for conflict in conflicts:  # later pairs of a task and file replace earlier ones
        for path in conflict.files:
            nearest[(conflict.phase, conflict.second, path)] = conflict
    return list(dict.fromkeys(nearest.values()))


def _lanes(plan: Plan, links: list[Conflict]) -> list[Lane]:
    """The lanes the dependencies ``links`` form: groups of linked tasks, in plan order."""
    lane_of: dict[str, int] = {}
    lanes: list[tuple[set[str], set[str], int]] = []
    for link in links:
        joined = {lane_of[t] for t in (link.first, link.second) if t in lane_of}
        tasks, files = {link.first, link.second}, set(link.files)
        for index in joined:
            tasks |= lanes[index][0]
            files |= lanes[index][1]
            lanes[index] = (set(), set(), link.phase)
        lanes.append((tasks, files, link.phase))
        lane_of.update({task_id: len(lanes) - 1 for task_id in tasks})
    order = {task.id: index for index, task in enumerate(plan.tasks())}
    return sorted((Lane(phase=phase, tasks=sorted(tasks, key=order.__getitem__), files=sorted(files))
                   for tasks, files, phase in lanes if tasks), key=lambda lane: order[lane.tasks[0]])
