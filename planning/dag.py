"""Dependency-driven scheduling, pure: what each task waits for, where it starts on the stack,
and when its branch may be stacked (``--schedule dag`` and ``--schedule waves``).

The *effective dependencies* of a task are the ones it declares, plus the task before it in a
sequential phase, plus, for a task outside the first phase that declares none, every task of
the phase before (the phase order is then its only ordering, so it is kept). Dependencies on
tasks outside the scheduled phases are met by phase order; a task that is not run (done or
blocked in the plan) passes its own dependencies on to its dependants.

A plan's dependencies are *explicit* when it declares at least one and no task outside the
first phase relies on the phase order alone (each declares a dependency or follows another
task of its sequential phase); ``default_mode`` then picks ``dag``, else ``phases``.

``DagScheduler`` holds one run's state. The stack is one line of branches; a task starts once
each of its dependencies is stacked, from the stack prefix that ends at the last of them; a
finished task is stacked at the end of the line. Which finished task goes next: first those of
the *held order* (a previous run's stack, or the fixed order of wave barriers), in that order,
so that a re-run rebuilds the same bases and hits the cache (a held task that cannot start yet,
because it now waits for a task outside the held order, is passed over); other tasks are
stacked as they finish, except that a finished task nothing waits for yet waits for the tasks
before it in plan order that still run: plan order is kept wherever keeping it delays no task.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Iterable
from enum import Enum

from planning.models import Phase, Plan, PlanTask, Strategy
from planning.schedule import phase_limit, runnable, task_hours


class ScheduleMode(str, Enum):
    """How a run orders its tasks: ``dag`` each task as soon as its dependencies are stacked;
    ``phases`` phase by phase, waves inside a phase; ``waves`` global waves across the plan,
    each a barrier."""

    dag = "dag"
    phases = "phases"
    waves = "waves"


def _declared(phases: list[Phase]) -> tuple[dict[str, list[str]], list[str]]:
    """``({id: dependencies before contraction}, ids relying on phase order alone)``."""
    deps: dict[str, list[str]] = {}
    implicit: list[str] = []
    before: list[str] = []
    for phase in phases:
        previous: str | None = None
        for task in phase.tasks:
            own = [dep for dep in task.dependencies if dep != task.id]
            if phase.strategy is Strategy.sequential and previous is not None:
                own = [*own, previous] if previous not in own else own
            if not own and before:
                own = list(before)
                implicit.append(task.id)
            deps[task.id] = own
            previous = task.id
        if phase.tasks:
            before = [task.id for task in phase.tasks]
    return deps, implicit


def explicit_dependencies(plan: Plan) -> bool:
    """True when the plan declares a dependency and no task outside the first phase relies on
    the phase order alone (see the module docstring)."""
    declared = any(task.dependencies for task in plan.tasks())
    return declared and not _declared(plan.phases)[1]


def default_mode(plan: Plan) -> ScheduleMode:
    """``dag`` when the plan's dependencies are explicit, else ``phases``."""
    return ScheduleMode.dag if explicit_dependencies(plan) else ScheduleMode.phases


def effective_dependencies(phases: list[Phase], skip: Iterable[str] = ()) -> dict[str, list[str]]:
    """``{task id: ids it waits for}`` for the tasks of ``phases`` not in ``skip``.

    A dependency in ``skip`` is replaced by its own dependencies (transitively); one outside
    ``phases`` is dropped (met by phase order).
    """
    raw, _ = _declared(phases)
    skipped = set(skip)
    memo: dict[str, dict[str, None]] = {}

    def through(task_id: str) -> dict[str, None]:
        """The tasks ``task_id`` waits for, skipped ones replaced (ordered, no repeats)."""
        if task_id not in memo:
            memo[task_id] = {}  # a dependency cycle ends here
            out: dict[str, None] = {}
            for dep in (dep for dep in raw[task_id] if dep in raw):
                if dep in skipped:
                    out.update(through(dep))
                else:
                    out[dep] = None
            out.pop(task_id, None)
            memo[task_id] = out
        return memo[task_id]

    for task_id in raw:  # plan order: a dependency is mostly resolved before its dependants
        through(task_id)
    return {task_id: list(memo[task_id]) for task_id in raw if task_id not in skipped}


def global_waves(order: list[str], deps: dict[str, list[str]]) -> list[list[str]]:
    """The waves of the tasks ``order`` (plan order) with dependencies ``deps``: wave k holds the
    tasks whose dependencies are all in earlier waves, in plan order. Raises ValueError naming
    the tasks when dependencies form a cycle."""
    placed: set[str] = set()
    pending = list(order)
    waves: list[list[str]] = []
    while pending:
        wave = [t for t in pending if all(dep in placed for dep in deps.get(t, []))]
        if not wave:
            raise ValueError(f"tasks {', '.join(pending)} wait on each other (a dependency cycle)")
        waves.append(wave)
        placed.update(wave)
        pending = [t for t in pending if t not in placed]
    return waves


def wave_barriers(waves: list[list[str]]) -> dict[str, list[str]]:
    """Dependencies that turn ``waves`` into barriers: each task waits for every task of the
    wave before its own."""
    deps: dict[str, list[str]] = {}
    for index, wave in enumerate(waves):
        for task_id in wave:
            deps[task_id] = list(waves[index - 1]) if index else []
    return deps


class DagScheduler:
    """The state of one dependency-driven run; no I/O, no clock.

    Args:
        tasks: the tasks to run, in plan order.
        deps: ``{id: ids it waits for}`` (``effective_dependencies``); ids outside ``tasks``
            are ignored.
        max_parallel: the most tasks running at once overall.
        held: ids whose stacking order is fixed (``held`` order first, see the module
            docstring); ids outside ``tasks`` are ignored.
        groups: ``{id: group}`` (the task's phase number); tasks not named form no group.
        limits: ``{group: the most tasks of the group running at once}``.

    The caller loops: ``start_next`` (submit those tasks from ``base_index``), then for each
    task that ends ``finish`` or ``fail``, then ``take_stackable`` (stack those, in order).
    ``stop`` starts nothing more (budget, conflict). ``running`` counts tasks started and not
    ended.
    """

    def __init__(self, tasks: list[PlanTask], deps: dict[str, list[str]], max_parallel: int,
                 held: Iterable[str] = (), groups: dict[str, int] | None = None,
                 limits: dict[int, int] | None = None) -> None:
        self.order = [task.id for task in tasks]
        self.position = {task_id: index for index, task_id in enumerate(self.order)}
        self.deps = {t: list(dict.fromkeys(d for d in deps.get(t, []) if d in self.position and d != t))
                     for t in self.order}
        self.dependants: dict[str, list[str]] = {t: [] for t in self.order}
        for task_id in self.order:
            for dep in self.deps[task_id]:
                self.dependants[dep].append(task_id)
        self.groups = groups or {}
        self.limits = limits or {}
        self.max_parallel = max_parallel
        self.held = _topological(list(dict.fromkeys(t for t in held if t in self.position)),
                                 self.order, self.deps)
        self.held_set = set(self.held)
        self.held_from = 0  # held[:held_from] are stacked or dropped
        self.stack: list[str] = []
        self.stacked_at: dict[str, int] = {}
        self.missing = {t: len(self.deps[t]) for t in self.order}  # dependencies not stacked yet
        self.unfinished = dict(self.missing)  # dependencies not finished yet
        self.ready = [self.position[t] for t in self.order if not self.deps[t]]  # sorted positions
        self.started: set[str] = set()
        self.active: set[str] = set()
        self.finished: set[str] = set()
        self.unstacked: set[str] = set()  # finished, not held, not stacked yet
        self.dropped: set[str] = set()
        self.stopped = False

    @property
    def running(self) -> int:
        """Tasks started and neither finished nor failed."""
        return len(self.active)

    def base_index(self, task_id: str) -> int:
        """How many stacked branches lie under ``task_id``'s base: one past the last of its
        dependencies on the stack (0: the run's base)."""
        return max((self.stacked_at[dep] + 1 for dep in self.deps[task_id]), default=0)

    def start_next(self) -> list[str]:
        """Mark and return (plan order) the tasks to start now: not started, every dependency
        stacked, within ``max_parallel`` and their group's limit. Empty once stopped."""
        if self.stopped:
            return []
        busy: dict[int | None, int] = {}
        for task_id in self.active:
            busy[self.groups.get(task_id)] = busy.get(self.groups.get(task_id), 0) + 1
        chosen: list[str] = []
        for index in self.ready:
            if len(self.active) + len(chosen) >= self.max_parallel:
                break
            task_id = self.order[index]
            group = self.groups.get(task_id)
            if busy.get(group, 0) >= self.limits.get(group, self.max_parallel):
                continue
            chosen.append(task_id)
            busy[group] = busy.get(group, 0) + 1
        for task_id in chosen:
            self.ready.remove(self.position[task_id])
        self.started.update(chosen)
        self.active.update(chosen)
        return chosen

    def finish(self, task_id: str) -> None:
        """``task_id`` ended with a branch to stack."""
        self.finished.add(task_id)
        for other in self.dependants[task_id]:
            self.unfinished[other] -= 1
        if task_id not in self.held_set:
            self.unstacked.add(task_id)
        self.active.discard(task_id)

    def fail(self, task_id: str) -> list[str]:
        """``task_id`` ended without a branch (failed, or not started for the budget).

        Returns the tasks that depend on it, directly or not, in plan order: they will not
        run. Unrelated tasks go on.
        """
        self.dropped.add(task_id)
        self.active.discard(task_id)
        lost: set[str] = set()
        todo = list(self.dependants[task_id])
        while todo:
            other = todo.pop()
            if other not in self.dropped:
                self.dropped.add(other)
                lost.add(other)
                todo += self.dependants[other]
        return sorted(lost, key=self.position.__getitem__)

    def stop(self) -> None:
        """Start no new task; tasks already running may still finish and be stacked."""
        self.stopped = True

    def take_stackable(self) -> list[str]:
        """The finished tasks to stack now, in stack order (they count as stacked from here).

        Held tasks go first, in their order; one that neither runs nor may start (it waits
        for a task not yet stacked, or the run stopped) is passed over. Other finished tasks
        follow in plan order, unless a held task is still to come before them; one of them
        waits for the tasks before it in plan order that still run, unless a task that has not
        started needs it (so plan order is kept wherever keeping it delays no task).
        """
        taken: list[str] = []
        waiting = False
        for task_id in self.held[self.held_from:]:
            if task_id in self.stacked_at or task_id in self.dropped:
                continue
            if task_id in self.finished:
                self._push(task_id, taken)
            elif self._coming(task_id):
                waiting = True
                break
        while self.held_from < len(self.held) and (self.held[self.held_from] in self.stacked_at
                                                   or self.held[self.held_from] in self.dropped):
            self.held_from += 1
        if not waiting:
            first_running = min((self.position[t] for t in self.active), default=len(self.order))
            for task_id in sorted(self.unstacked, key=self.position.__getitem__):
                if self.position[task_id] < first_running or self._needed(task_id):
                    self._push(task_id, taken)
        return taken

    def _push(self, task_id: str, taken: list[str]) -> None:
        """Stack ``task_id`` (append it to ``taken``); its dependants whose dependencies are
        now all stacked become ready to start."""
        self.stacked_at[task_id] = len(self.stack)
        self.stack.append(task_id)
        self.unstacked.discard(task_id)
        taken.append(task_id)
        for other in self.dependants[task_id]:
            self.missing[other] -= 1
            if not self.missing[other]:
                bisect.insort(self.ready, self.position[other])

    def _needed(self, task_id: str) -> bool:
        """True when a task that has not started waits for ``task_id`` and for nothing that is
        not finished: stacking ``task_id`` now lets it start."""
        return any(
            other not in self.started and other not in self.dropped and not self.unfinished[other]
            for other in self.dependants[task_id])

    def _coming(self, task_id: str) -> bool:
        """True when ``task_id`` runs now or may start now (all its dependencies stacked)."""
        if task_id in self.started:
            return True
        return not self.stopped and not self.missing[task_id]


def _topological(ids: list[str], order: list[str], deps: dict[str, list[str]]) -> list[str]:
    """``ids`` reordered so that no task comes before one it depends on, directly or through
    other tasks of ``order``; otherwise their given order: each step places the first of
    ``ids`` none of whose dependencies is still to place (Kahn's algorithm; the tasks of
    ``order`` not in ``ids`` are placed, unlisted, as soon as they may be). On a dependency
    cycle the first of ``ids`` left is placed anyway."""
    rank = {task_id: index for index, task_id in enumerate(ids)}
    dependants: dict[str, list[str]] = {task_id: [] for task_id in order}
    for task_id in order:
        for dep in deps[task_id]:
            dependants[dep].append(task_id)
    missing = {task_id: len(deps[task_id]) for task_id in order}
    free = [task_id for task_id in order if not missing[task_id]]
    heap: list[int] = []
    done: set[str] = set()
    placed: list[str] = []

    def place(task_id: str) -> None:
        done.add(task_id)
        for other in dependants[task_id]:
            missing[other] -= 1
            if not missing[other]:
                free.append(other)

    while len(placed) < len(ids):
        while free:
            task_id = free.pop()
            if task_id in rank:
                heapq.heappush(heap, rank[task_id])
            elif task_id not in done:
                place(task_id)
        if heap:
            pick = ids[heapq.heappop(heap)]
        else:  # a cycle: the first of ids still to place
            pick = next(task_id for task_id in ids if task_id not in done)
        if pick in done:
            continue
        placed.append(pick)
        place(pick)
    return placed


def dag_hours(plan: Plan, max_parallel: int) -> float:
    """The plan's estimated time, hours, with ``--schedule dag`` and ``max_parallel`` agents:
    the tasks that run replayed through ``DagScheduler``, each taking its estimate
    (``task_hours``), stacking taking no time. Tasks the plan skips (done, blocked) count
    nothing."""
    skip = runnable(plan)[1]
    tasks = [task for task in plan.tasks() if task.id not in skip]
    scheduler = DagScheduler(
        tasks, effective_dependencies(plan.phases, skip), max_parallel,
        groups={task.id: phase.number for phase in plan.phases for task in phase.tasks},
        limits={phase.number: phase_limit(phase, max_parallel) for phase in plan.phases})
    length = {task.id: task_hours(task) for task in tasks}
    now, ends = 0.0, []
    while True:
        for task_id in scheduler.start_next():
            heapq.heappush(ends, (now + length[task_id], scheduler.position[task_id], task_id))
        if not ends:
            return now
        now, _, task_id = heapq.heappop(ends)
        scheduler.finish(task_id)
        scheduler.take_stackable()
