"""``run_phase``: one plan phase as a subflow.

The phase runs wave by wave (``planning.schedule.phase_waves``): a sequential phase is one
task per wave, a parallel phase submits each wave's tasks to the subflow's own
``ThreadPoolTaskRunner`` (its ``max_workers`` is the phase's concurrency limit). After each
wave its branches are stacked in plan order on the wave's base; the stack tip is the next
wave's base, and the phase's last tip is the next phase's base. Once the run's reported cost
passes ``--budget-usd`` no new wave starts, and tasks not yet started end ``skipped``.
"""

from __future__ import annotations

from prefect import Task, flow
from prefect.futures import PrefectFuture
from prefect.tasks import exponential_backoff
from pydantic import BaseModel, Field

from flows.context import RunContext
from flows.earlier_work import EarlierWork
from flows.remote import dispatch_task
from flows.report import publish_progress
from flows.stacking import stack_outcomes
from gitops.errors import StackConflict
from gitops.repo import open_repository
from planning.disk import disk_full
from planning.models import Phase, PlanTask
from planning.schedule import phase_limit, phase_waves
from planning.status import StatusStore, TaskState, open_store
from tasks.errors import BudgetReached
from tasks.limits import agent_tags, reserve_agent_slots
from tasks.plan_task import TaskOutcome, TaskSpec, run_plan_task


class PhaseResult(BaseModel):
    """A finished phase: ``tip`` the commit the next phase starts from; ``branches`` stacked in
    order; ``failed`` task ids; ``conflict`` the stacking conflict report, if any; ``stopped``
    when the run's budget stopped it before every task ran."""

    tip: str
    branches: list[str] = Field(default_factory=list)
    failed: list[str] = Field(default_factory=list)
    conflict: str | None = None
    stopped: bool = False

    @property
    def ok(self) -> bool:
        """True when every task finished and the stack was built."""
        return not self.failed and self.conflict is None and not self.stopped


@flow(name="run-phase")
def run_phase(ctx: RunContext, phase: Phase, base: str, skip: list[str] | None = None) -> PhaseResult:
    """Run ``phase``'s tasks from commit ``base`` and stack their branches.

    Tasks in ``skip`` (done or blocked in the plan; their status already says so) are not run;
    the tasks after them start from the current tip.

    Returns a ``PhaseResult``; task failures and a stacking conflict are returned in it (the
    caller decides to stop), so finished tasks of a failed wave keep their results and branches.
    """
    store = open_store(ctx.status_path)
    runner = plan_task_runner(ctx)
    earlier = EarlierWork(ctx)
    result = PhaseResult(tip=base)
    try:
        for wave in phase_waves(phase):
            wave = [task for task in wave if task.id not in (skip or [])]
            if wave and not _run_wave(ctx, store, runner, earlier, wave, result):
                break
    finally:
        earlier.log_taken()
    return result


def _run_wave(ctx: RunContext, store: StatusStore, runner: PlanTaskRunner, earlier: EarlierWork,
              wave: list[PlanTask], result: PhaseResult) -> bool:
    """Run the tasks of ``wave`` from ``result.tip`` (those whose work landed in an earlier run
    without a task run: ``earlier``) and stack them, updating ``result``; False when the
    phase stops (the budget, a failed task, a conflict)."""
    if over_budget(store, ctx.params.budget_usd):
        result.stopped = True
        return False
    specs = [ctx.task_spec(task, result.tip) for task in wave]
    started = [(spec, earlier.outcome(spec)) for spec in specs]
    reserve_slots(ctx, sum(1 for _, done in started if done is None))
    futures = [(spec, done or submit_spec(ctx, runner, spec)) for spec, done in started]
    outcomes = []
    for spec, future in futures:
        outcome = collect_spec(ctx, spec, future)
        if outcome is not None:
            outcomes.append(outcome)
        elif store.status.task(spec.task.id).state == TaskState.skipped:
            result.stopped = True
        else:
            result.failed.append(spec.task.id)
    if result.failed or result.stopped:
        return False
    try:
        tips = stack_outcomes(ctx, result.tip, outcomes)
    except StackConflict as conflict:
        result.conflict = conflict.report()
        store.update(conflict=result.conflict)
        return False
    result.branches.extend(outcome.branch for outcome in outcomes)
    result.tip = tips[-1] if tips else result.tip
    return True


class PlanTaskRunner:
    """``run_plan_task`` with a run's retries and exponential retry delay (and any other
    ``options`` of ``Task.with_options``), built once per agent kind: ``with_options`` copies
    the task (reading its source), which costs milliseconds per call. ``for_agent`` adds the
    ``agent:{name}`` tag only when a tag limit exists for it (``tasks.limits.agent_tags``,
    asked once per agent kind)."""

    def __init__(self, ctx: RunContext, **options: object) -> None:
        self.task = run_plan_task.with_options(
            retries=ctx.params.retries,
            retry_delay_seconds=exponential_backoff(ctx.params.retry_delay_s),
            **options,
        )
        self._by_agent: dict[str, Task] = {}

    def for_agent(self, agent: str) -> Task:
        """The task for runs of agent kind ``agent`` (a name)."""
        if agent not in self._by_agent:
            tags = agent_tags(agent)
            self._by_agent[agent] = self.task.with_options(tags=tags) if tags else self.task
        return self._by_agent[agent]


def plan_task_runner(ctx: RunContext, **options: object) -> PlanTaskRunner:
    """A ``PlanTaskRunner`` for ``ctx``'s run (``options``: more ``Task.with_options``
    arguments, e.g. ``task_run_name``)."""
    return PlanTaskRunner(ctx, **options)


def reserve_slots(ctx: RunContext, count: int) -> None:
    """Before ``count`` task runs start in this process, take their agent slots (at most
    ``max_parallel``) one after another (``tasks.limits.reserve_agent_slots``); nothing for a
    run whose tasks run on remote workers, which take their own."""
    if count and not ctx.params.remote:
        reserve_agent_slots(min(count, ctx.params.max_parallel))


def submit_spec(ctx: RunContext, runner: PlanTaskRunner, spec: TaskSpec,
                after: list[PrefectFuture] | None = None) -> PrefectFuture:
    """Start ``runner``'s task (``run_plan_task`` with options) on ``spec``: in this process,
    or as a ``run-task`` deployment run on any worker when the run has a shared ``remote``.
    ``after``: finished task runs this one depends on (drawn as edges in the Prefect UI's run
    graph)."""
    if ctx.params.remote:
        return dispatch_task.submit(spec, ctx.params.remote, wait_for=after)
    return runner.for_agent(spec.task.agent or ctx.params.agent).submit(spec, wait_for=after)


def collect_spec(ctx: RunContext, spec: TaskSpec, future: PrefectFuture | TaskOutcome) -> TaskOutcome | None:
    """Wait for the task run of ``spec`` and record it in the status; None when it failed or
    did not start because of the budget (then the task is ``skipped``). ``future`` may be the
    outcome itself, of work that landed in an earlier run (``EarlierWork``): recorded as cached.

    A cached outcome whose commit no longer exists (branch deleted and garbage-collected) is
    recomputed with ``refresh_cache`` (a fresh outcome's commit was just made: not checked). Raises ``DiskFull`` when the task failed because a disk
    is full (the run stops: no other task could write either).
    """
    task = spec.task
    if isinstance(future, TaskOutcome):
        return _record_done(ctx, task, future, cached=True)
    store = open_store(ctx.status_path)
    future.wait()
    state = future.state
    outcome = state.result(raise_on_failure=False)
    cached = state.name == "Cached" or bool(getattr(outcome, "recovered", False)
                                            or getattr(outcome, "cached", False))
    if state.is_completed() and cached and not open_repository(ctx.repo).commit_exists(outcome.commit):
        refreshed = run_plan_task.with_options(refresh_cache=True, retries=ctx.params.retries)
        state = refreshed(spec, return_state=True)
        outcome, cached = state.result(raise_on_failure=False), False
    if isinstance(outcome, BudgetReached):
        store.update_task(task.id, state=TaskState.skipped, error=str(outcome))
        publish_progress(store.status)
        return None
    if not state.is_completed():
        store.update_task(task.id, state=TaskState.failed, error=str(outcome))
        publish_progress(store.status)
        if isinstance(outcome, BaseException) and (full := disk_full(outcome, ctx.repo,
                                                                     f"running task {task.id}")):
            raise full
        return None
    return _record_done(ctx, task, outcome, cached)


def _record_done(ctx: RunContext, task: PlanTask, outcome: TaskOutcome, cached: bool) -> TaskOutcome:
    """Record ``task``'s finished ``outcome`` (``cached``: from the cache or an earlier run's
    landed work) in the run's status and the live report; returns ``outcome``."""
    store = open_store(ctx.status_path)
    store.update_task(
        task.id,
        state=TaskState.done,
        branch=outcome.branch,
        commit=outcome.commit,
        duration_s=outcome.duration_s,
        log_path=str(outcome.log_path),
        cached=cached,
        error=None,
        worker=outcome.worker,
        # a dispatched task's agent runs are counted by its worker (the parent has no ledger)
        **({"attempts": outcome.attempts} if outcome.worker and not cached else {}),
    )
    publish_progress(store.status)
    return outcome


def over_budget(store: StatusStore, budget_usd: float | None) -> bool:
    """True when ``budget_usd`` (USD) is set and the run's reported cost has passed it."""
    return budget_usd is not None and store.status.cost_usd() > budget_usd

