"""Phase lanes: under the ``dag`` and ``waves`` schedules, each phase as its own subflow run
``{run_id}-phase-{n}`` holding its task runs, while one scheduler (``flows.dag``) decides, across
all phases, which task starts when.

A Prefect task run belongs to the flow run that submits it, so the scheduler does not submit
task runs itself: it hands each to its phase's lane. A lane is the subflow ``phase-lane``,
running in a thread of its own (started with the scheduler's Prefect context, so it is a child
of the scheduling flow run); it submits each task run it is given to its own
``ThreadPoolTaskRunner`` (the phase's concurrency limit) and ends when the scheduler closes it,
once no task of the phase is left to start or running. Phases whose dependencies allow it run
at the same time, each in its subflow run.
"""

from __future__ import annotations

import contextvars
import queue
import threading
import time
from typing import Any

from prefect import Task, flow
from prefect.futures import PrefectFuture
from prefect.task_runners import ThreadPoolTaskRunner

from flows.context import RunContext
from flows.phase import submit_spec
from tasks.plan_task import TaskSpec

START_TIMEOUT_S = 600
"""How long the scheduler waits for a lane's subflow to take a task run, seconds."""


class PhaseLane:
    """The lane of phase ``number`` (label ``label``) of run ``ctx.run_id``: ``start`` hands it a
    task run, ``close`` ends it (``join`` waits for its subflow run to finish)."""

    def __init__(self, ctx: RunContext, number: int, label: str, limit: int, runner: Task) -> None:
        self.ctx, self.number, self.label, self.runner = ctx, number, label, runner
        self.inbox: queue.Queue[tuple[TaskSpec, list[PrefectFuture], queue.Queue] | None] = queue.Queue()
        self.error: BaseException | None = None
        subflow = phase_lane.with_options(task_runner=ThreadPoolTaskRunner(max_workers=limit),
                                          flow_run_name=f"{ctx.run_id}-phase-{number}")
        with _LANES_LOCK:
            _LANES[(ctx.run_id, number)] = self
        context = contextvars.copy_context()
        self.thread = threading.Thread(target=context.run, name=f"planflow-phase-{number}",
                                       args=(self._run, subflow), daemon=True)
        self.thread.start()

    def _run(self, subflow: Any) -> None:
        try:
            subflow(self.ctx.run_id, self.number, self.label, return_state=True)
        except BaseException as error:  # reported to the scheduler by ``start``
            self.error = error

    def start(self, spec: TaskSpec, after: list[PrefectFuture]) -> PrefectFuture:
        """Submit ``spec``'s task run in this lane's subflow run, after the task runs ``after``;
        returns its future. Raises RuntimeError when the lane's subflow ended or does not take
        it within ``START_TIMEOUT_S``."""
        reply: queue.Queue[PrefectFuture] = queue.Queue()
        self.inbox.put((spec, after, reply))
        deadline = time.monotonic() + START_TIMEOUT_S
        while self.thread.is_alive() and time.monotonic() < deadline:
            try:
                return reply.get(timeout=1)
            except queue.Empty:
                continue
        why = f"ended ({self.error!r})" if not self.thread.is_alive() else f"took none in {START_TIMEOUT_S} s"
        raise RuntimeError(f"{self.label}: its subflow run could not start task {spec.task.id}: {why}")

    def close(self) -> None:
        """No more task runs: the subflow run ends once its task runs have."""
        self.inbox.put(None)

    def join(self) -> None:
        """Wait for the subflow run to end."""
        self.thread.join()
        with _LANES_LOCK:
            _LANES.pop((self.ctx.run_id, self.number), None)


_LANES: dict[tuple[str, int], PhaseLane] = {}
_LANES_LOCK = threading.Lock()


@flow(name="phase-lane")
def phase_lane(run_id: str, phase: int, label: str) -> None:
    """The subflow run of phase ``phase`` (``label``) of run ``run_id`` under a dependency
    schedule: submits each task run its ``PhaseLane`` is handed, until the lane is closed."""
    with _LANES_LOCK:
        lane = _LANES[(run_id, phase)]
    while (job := lane.inbox.get()) is not None:
        spec, after, reply = job
        reply.put(submit_spec(lane.ctx, lane.runner, spec, after))
