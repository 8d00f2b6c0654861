"""``run_phase``: one plan phase as a subflow.

The phase runs wave by wave (``planning.schedule.phase_waves``): a sequential phase is one
task per wave, a parallel phase submits each wave's tasks to the subflow's own
``ThreadPoolTaskRunner`` (its ``max_workers`` is the phase's concurrency limit). After each
wave its branches are stacked in plan order on the wave's base; the stack tip is the next
wave's base, and the phase's last tip is the next phase's base.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow
from prefect.futures import PrefectFuture
from prefect.tasks import exponential_backoff
from pydantic import BaseModel, Field

from flows.context import RunContext
from gitops.errors import StackConflict
from gitops.repo import StackEntry, open_repository
from planning.models import Phase, PlanTask
from planning.schedule import phase_waves
from planning.status import TaskState, open_store
from tasks.plan_task import TaskOutcome, run_plan_task


class PhaseResult(BaseModel):
    """A finished phase: ``tip`` the commit the next phase starts from; ``branches`` stacked in
    order; ``failed`` task ids; ``conflict`` the stacking conflict report, if any."""

    tip: str
    branches: list[str] = Field(default_factory=list)
    failed: list[str] = Field(default_factory=list)
    conflict: str | None = None

    @property
    def ok(self) -> bool:
        """True when every task finished and the stack was built."""
        return not self.failed and self.conflict is None


@flow(name="run-phase")
def run_phase(ctx: RunContext, phase: Phase, base: str) -> PhaseResult:
    """Run ``phase``'s tasks from commit ``base`` and stack their branches.

    Returns a ``PhaseResult``; task failures and a stacking conflict are returned in it (the
    caller decides to stop), so finished tasks of a failed wave keep their results and branches.
    """
    repo = open_repository(ctx.repo)
    store = open_store(ctx.status_path)
    runner = run_plan_task.with_options(
        retries=ctx.params.retries,
        retry_delay_seconds=exponential_backoff(ctx.params.retry_delay_s),
    )
    result = PhaseResult(tip=base)
    for wave in phase_waves(phase):
        futures = [(task, runner.submit(ctx.task_spec(task, result.tip))) for task in wave]
        outcomes = []
        for task, future in futures:
            outcome = _collect(ctx, task, future, result.tip)
            if outcome is None:
                result.failed.append(task.id)
            else:
                outcomes.append(outcome)
        if result.failed:
            return result
        entries = [StackEntry(label=o.task_id, branch=o.branch, tip=o.commit) for o in outcomes]
        try:
            tips = repo.stack(result.tip, entries, scratch_path(repo.root, ctx.run_id))
        except StackConflict as conflict:
            result.conflict = conflict.report()
            store.update(conflict=result.conflict)
            return result
        for outcome, tip in zip(outcomes, tips):
            store.update_task(outcome.task_id, commit=tip)
        result.branches.extend(entry.branch for entry in entries)
        result.tip = tips[-1] if tips else result.tip
    return result


def _collect(ctx: RunContext, task: PlanTask, future: PrefectFuture, base: str) -> TaskOutcome | None:
    """Wait for one task run and record it in the status; None when it failed.

    A cached outcome whose commit no longer exists (branch deleted and garbage-collected) is
    recomputed with ``refresh_cache``.
    """
    store = open_store(ctx.status_path)
    future.wait()
    state = future.state
    outcome = state.result(raise_on_failure=False)
    cached = state.name == "Cached"
    if state.is_completed() and not open_repository(ctx.repo).commit_exists(outcome.commit):
        refreshed = run_plan_task.with_options(refresh_cache=True, retries=ctx.params.retries)
        state = refreshed(ctx.task_spec(task, base), return_state=True)
        outcome, cached = state.result(raise_on_failure=False), False
    if not state.is_completed():
        store.update_task(task.id, state=TaskState.failed, error=str(outcome))
        return None
    store.update_task(
        task.id,
        state=TaskState.done,
        branch=outcome.branch,
        commit=outcome.commit,
        duration_s=outcome.duration_s,
        log_path=str(outcome.log_path),
        cached=cached,
        error=None,
    )
    return outcome


def phase_limit(phase: Phase, max_parallel: int) -> int:
    """Concurrent task runs of ``phase``: 1 when sequential, else the smaller of the run's
    ``max_parallel`` and the phase's own limit."""
    if phase.strategy.value == "sequential":
        return 1
    return min(max_parallel, phase.max_parallel or max_parallel)


def scratch_path(root: Path, run_id: str) -> Path:
    """The temporary worktree where a run stacks branches."""
    return root / ".worktrees" / f"{run_id}-stack"
