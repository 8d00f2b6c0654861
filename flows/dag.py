"""``run_dag``: tasks of one or more phases scheduled by their dependencies, as one subflow.

``--schedule dag``: a task starts as soon as each of its dependencies is stacked, from the stack
prefix that ends at the last of them; a finished task goes on top of the stack (the order rules
are ``planning.dag``'s). A task whose work landed in an earlier run gets no task run
(``flows.earlier_work``). ``--schedule waves``: the same runner with each global wave a barrier
(every task waits for the whole wave before its own; each wave stacked in plan order).

Stacking runs in a thread of its own (``Stacker``), batch after batch in the scheduler's
order, while the scheduler records ended task runs and starts tasks: only a task whose base
includes a batch still being stacked waits for it.

Concurrency: at most ``--max-parallel`` task runs at once (the subflow's
``ThreadPoolTaskRunner`` has as many workers), at most the phase's limit per phase (1 in a
sequential phase), and the global agent limit inside each task run.

A failed task stops its dependants (``skipped``, "depends on task X, which did not finish");
unrelated tasks go on and are stacked. A stacking conflict, or the budget, starts no new task;
tasks already running finish and are recorded. A re-run resumes: the stack order of the last
run (``stack-order.json`` next to the status file; a missing or unreadable file means no
order) is followed again, so every unchanged task gets the same base and comes from the cache.

In the Prefect UI the subflow run (``{run_id}-dag``) holds one subflow run per phase
(``{run_id}-phase-{n}``, ``flows.lanes``), which holds one task run ``{id} {title slug}`` per task, each drawn after the task runs it depends on.
"""

from __future__ import annotations

import contextvars
import json
import queue
import threading
from pathlib import Path
from typing import NamedTuple

from prefect import flow
from prefect.futures import PrefectFuture

from flows.context import RunContext
from flows.earlier_work import EarlierWork
from flows.lanes import PhaseLane
from flows.phase import PhaseResult, collect_spec, over_budget, plan_task_runner, reserve_slots
from flows.stacking import stack_outcomes
from gitops.errors import StackConflict
from planning.dag import DagScheduler, ScheduleMode, effective_dependencies, global_waves, wave_barriers
from planning.disk import write_text
from planning.models import Phase
from planning.schedule import phase_limit
from planning.status import TaskState, open_store
from tasks.plan_task import TaskOutcome, TaskSpec


@flow(name="run-dag")
def run_dag(ctx: RunContext, phases: list[Phase], base: str, mode: ScheduleMode = ScheduleMode.dag,
            skip: list[str] | None = None) -> PhaseResult:
    """Run the tasks of ``phases`` (all of the plan, or one phase) from commit ``base`` by
    their dependencies (``mode`` ``dag`` or ``waves``) and stack their branches.

    Tasks in ``skip`` (done or blocked in the plan; their status says so) are not run; their
    dependants wait for what they waited for. Returns a ``PhaseResult`` (``branches`` in stack
    order, ``tip`` the last stacked commit); failures, a conflict and a budget stop are
    returned in it, not raised.
    """
    run = _DagRun(ctx, phases, base, mode, skip or [])
    try:
        while True:
            run.start_ready()
            if not run.running and not run.stacking:
                return run.result
            events = [run.events.get()]
            while not run.events.empty():
                events.append(run.events.get())
            run.settle(events)
    finally:
        run.stacker.close()
        run.close_lanes()
        run.earlier.log_taken()


class _DagRun:
    """One ``run_dag`` call: the scheduler, the task runs in flight and the stack so far."""

    def __init__(self, ctx: RunContext, phases: list[Phase], base: str, mode: ScheduleMode,
                 skip: list[str]) -> None:
        self.ctx, self.phases, self.base, self.mode = ctx, phases, base, mode
        self.store = open_store(ctx.status_path)
        self.tasks = {task.id: task for phase in phases for task in phase.tasks if task.id not in skip}
        order = list(self.tasks)
        deps = effective_dependencies(phases, skip)
        self.stack_order = StackOrder(ctx.status_path, order)
        held = self.stack_order.held()
        if mode is ScheduleMode.waves:
            waves = global_waves(order, deps)
            deps, held = wave_barriers(waves), [t for wave in waves for t in wave]
        groups = {task.id: phase.number for phase in phases for task in phase.tasks}
        limits = {phase.number: phase_limit(phase, ctx.params.max_parallel) for phase in phases}
        self.scheduler = DagScheduler(list(self.tasks.values()), deps, ctx.params.max_parallel,
                                      held, groups, limits)
        self.runner = plan_task_runner(ctx)
        self.phase_of = {task_id: phase for phase in phases for task_id in self.tasks
                         if any(task.id == task_id for task in phase.tasks)}
        self.unstarted = {phase.number: {t.id for t in phase.tasks if t.id in self.tasks} for phase in phases}
        self.limits = limits
        self.lanes: dict[int, PhaseLane] = {}
        self.events: queue.Queue[str | Stacked] = queue.Queue()  # a task run's end: its id
        self.stacker = Stacker(ctx, base, self.events)
        self.stacking = 0  # batches handed to the stacker, not stacked yet
        self.waiting: list[str] = []  # started by the scheduler; their base is still being stacked
        self.earlier = EarlierWork(ctx)
        self.running: dict[str, tuple[TaskSpec, PrefectFuture | TaskOutcome]] = {}
        self.futures: dict[str, PrefectFuture] = {}
        self.outcomes: dict[str, TaskOutcome] = {}
        self.tips: list[str] = []
        self.result = PhaseResult(tip=base)

    def start_ready(self) -> None:
        """Submit every task the scheduler lets start, each from its stack prefix, as soon as
        that prefix is stacked (none once the budget is passed)."""
        if not self.scheduler.stopped and over_budget(self.store, self.ctx.params.budget_usd):
            self.scheduler.stop()
            self.result.stopped = True
            self.waiting.clear()
        self.waiting += self.scheduler.start_next()
        ready = [t for t in self.waiting if self.scheduler.base_index(t) <= len(self.tips)]
        if ready:
            busy = sum(1 for _, future in self.running.values() if not isinstance(future, TaskOutcome))
            reserve_slots(self.ctx, busy + len(ready))
        for task_id in ready:
            self.waiting.remove(task_id)
            index = self.scheduler.base_index(task_id)
            spec = self.ctx.task_spec(self.tasks[task_id], self.tips[index - 1] if index else self.base)
            self.unstarted[self.phase_of[task_id].number].discard(task_id)
            done = self.earlier.outcome(spec)
            if done is not None:  # no task run (nor lane) for it
                self.running[task_id] = (spec, done)
                self.events.put(task_id)
                continue
            after = [self.futures[dep] for dep in self.scheduler.deps[task_id] if dep in self.futures]
            future = self._lane(self.phase_of[task_id]).start(spec, after)
            self.running[task_id] = (spec, future)
            self.futures[task_id] = future
            future.add_done_callback(lambda _, task_id=task_id: self.events.put(task_id))
        if self.running:
            busy = [t for t in self.scheduler.order if t in self.running]
            phase = next(p for p in self.phases if any(task.id == busy[0] for task in p.tasks))
            self.store.update(phase=phase.label, output=f"Executing tasks {', '.join(busy)}"
                              f" ({self.mode.value}, at most {self.ctx.params.max_parallel} agents)")

    def settle(self, events: list[str | Stacked]) -> None:
        """Record the ended task runs and the stacked batches of ``events``, start the tasks
        that may start now, then hand what may be stacked to the stacker, as one batch: it
        stacks while the tasks run and start (a task whose base is in the batch waits)."""
        for event in events:
            if isinstance(event, Stacked):
                self._stacked(event)
            else:
                self._record(event)
        self.start_ready()
        stackable = self.scheduler.take_stackable()
        if stackable and self.result.conflict is None:
            self.stacker.stack(stackable, [self.outcomes[task_id] for task_id in stackable])
            self.stacking += 1
        self.close_finished_lanes()

    def _record(self, task_id: str) -> None:
        """Record the ended task run of ``task_id``; on a failure its dependants are skipped."""
        spec, future = self.running.pop(task_id)
        outcome = collect_spec(self.ctx, spec, future)
        if outcome is not None:
            self.outcomes[task_id] = outcome
            self.scheduler.finish(task_id)
            return
        if self.store.status.task(task_id).state == TaskState.skipped:
            self.scheduler.stop()
            self.result.stopped = True
        else:
            self.result.failed.append(task_id)
        for lost in self.scheduler.fail(task_id):
            self.store.update_task(lost, state=TaskState.skipped,
                                   reason=f"depends on task {task_id}, which did not finish")
            self.unstarted[self.phase_of[lost].number].discard(lost)

    def _lane(self, phase: Phase) -> PhaseLane:
        """The lane (subflow run) of ``phase``, started on its first task."""
        if phase.number not in self.lanes:
            self.lanes[phase.number] = PhaseLane(self.ctx, phase.number, phase.label,
                                                 self.limits[phase.number], self.runner)
        return self.lanes[phase.number]

    def close_finished_lanes(self) -> None:
        """Close the lanes with no task left to start and none running (all of them once the
        scheduler has stopped)."""
        busy = {self.phase_of[task_id].number for task_id in self.running}
        for number, lane in self.lanes.items():
            if number not in busy and (self.scheduler.stopped or not self.unstarted[number]):
                lane.close()

    def close_lanes(self) -> None:
        """Close every lane and wait for their subflow runs to end."""
        for lane in self.lanes.values():
            lane.close()
        for lane in self.lanes.values():
            lane.join()

    def _stacked(self, batch: Stacked) -> None:
        """Take in a batch the stacker finished: its tips, or its conflict (then no new task
        starts, nor one waiting for its base); an unexpected error of the stacker is raised."""
        self.stacking -= 1
        if batch.error is not None:
            raise batch.error
        if batch.conflict is not None:
            self.result.conflict = batch.conflict.report()
            self.store.update(conflict=self.result.conflict)
            self.scheduler.stop()
            self.waiting.clear()
            return
        if batch.tips is None:  # after a conflict: not stacked
            return
        self.tips += batch.tips
        self.result.branches += [self.outcomes[task_id].branch for task_id in batch.task_ids]
        self.result.tip = batch.tips[-1]
        self.store.update(stack=[*self.store.status.stack,
                                 *(self.outcomes[task_id].branch for task_id in batch.task_ids)])
        self.stack_order.record(batch.task_ids)


class Stacked(NamedTuple):
    """A batch the ``Stacker`` is done with: ``tips`` (one per task of ``task_ids``), or the
    ``conflict`` that stopped it, or the unexpected ``error``; all None when it was not
    stacked because an earlier batch conflicted."""

    task_ids: list[str]
    tips: list[str] | None = None
    conflict: StackConflict | None = None
    error: BaseException | None = None


class Stacker:
    """Stacks batches of finished tasks in the order given, each on the tip of the last, in a
    thread of its own (started with the caller's Prefect context, so it logs to the flow run
    and a resolver agent's task run belongs to it); each batch's end is put on ``events`` as a
    ``Stacked``. After a conflict the batches still to come are not stacked."""

    def __init__(self, ctx: RunContext, base: str, events: queue.Queue) -> None:
        self.ctx, self.tip, self.events = ctx, base, events
        self.inbox: queue.Queue[tuple[list[str], list[TaskOutcome]] | None] = queue.Queue()
        self.conflicted = False
        self.thread = threading.Thread(target=contextvars.copy_context().run, args=(self._run,),
                                       name="planflow-stacker", daemon=True)
        self.thread.start()

    def stack(self, task_ids: list[str], outcomes: list[TaskOutcome]) -> None:
        """Stack ``outcomes`` (of ``task_ids``) after the batches given before."""
        self.inbox.put((task_ids, outcomes))

    def close(self) -> None:
        """Stack what was given, then end the thread (waits for it)."""
        self.inbox.put(None)
        self.thread.join()

    def _run(self) -> None:
        while (batch := self.inbox.get()) is not None:
            task_ids, outcomes = batch
            if self.conflicted:
                self.events.put(Stacked(task_ids))
                continue
            try:
                tips = stack_outcomes(self.ctx, self.tip, outcomes)
            except StackConflict as conflict:
                self.conflicted = True
                self.events.put(Stacked(task_ids, conflict=conflict))
            except BaseException as error:  # raised by the scheduler
                self.conflicted = True
                self.events.put(Stacked(task_ids, error=error))
            else:
                self.tip = tips[-1]
                self.events.put(Stacked(task_ids, tips=tips))


class StackOrder:
    """The run's stack order (task ids), kept in ``stack-order.json`` next to its status file
    so that a re-run stacks the same tasks in the same order.

    ``ids``: the tasks this subflow schedules; the order of other tasks (other phases' subflows)
    in the file is kept when this one writes.
    """

    def __init__(self, status_path: Path, ids: list[str]) -> None:
        self.path = status_path.with_name("stack-order.json")
        try:
            self.prior: list[str] = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self.prior = []
        self.ids = set(ids)
        self.stacked: list[str] = []

    def held(self) -> list[str]:
        """This subflow's tasks in the order the last run stacked them."""
        return [task_id for task_id in self.prior if task_id in self.ids]

    def record(self, task_ids: list[str]) -> None:
        """``task_ids`` were stacked (in this order): rewrite the file."""
        self.stacked += task_ids
        others = [task_id for task_id in self.prior if task_id not in self.ids]
        write_text(self.path, json.dumps(self.stacked + others))
