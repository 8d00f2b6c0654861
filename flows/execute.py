"""``execute_plan``: the flow that runs a whole plan, phase by phase, into a stack of branches.

Parameters are one pydantic model (``ExecuteParams``), so a deployment shows a typed form in
the Prefect UI. The run's status is written to ``<git dir>/planflow/runs/{run_id}/status.json``
as it moves; the flow run fails (``RunFailed``) when a task fails or stacking conflicts, after
the status says why (a ``Failed`` state returned by the flow, so no traceback is logged).
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path

from prefect import flow, runtime
from prefect.context import FlowRunContext
from prefect.states import Failed, State
from prefect.task_runners import ThreadPoolTaskRunner

from flows.context import ExecuteParams, RunContext
from flows.dag import run_dag
from flows.handoff import publish_context
from flows.parameters import fields_as_parameters
from flows.phase import phase_limit, run_phase
from flows.report import end_live_report, publish_plan, publish_tasks, start_live_report
from flows.review import ReviewOutcome, review_enabled, review_stack
from flows.run_slot import busy_state, run_slot
from flows.stale_runs import crash_stale_runs
from gitops.locks import clear_stale_locks
from gitops.repo import Repository, open_repository
from gitops.runlock import RunInProgress
from gitops.space import checkout_bytes
from planning.disk import DiskFull, DiskReserve, disk_full, min_free_bytes, require_free
from planning.errors import PlanError
from planning.loader import load_plan
from planning.models import Plan, slugify
from planning.redaction import redact
from planning.status import RunStatus, StatusStore, TaskState, register_store, status_path
from planning.conflicts import serialize_conflicts
from planning.dag import ScheduleMode, default_mode
from planning.schedule import runnable
from planning.validate import check_plan
from planning.worktree_config import resolve_config
from tasks.audit import kill_dead_run_agents
from tasks.defaults import result_storage
from tasks.limits import agent_limit
from tasks.run_log import run_logger


def resolve_plan_path(plan_path: str, repo: Path) -> Path:
    """``plan_path`` (a plan file, or a folder of phase files) as given when it exists, else
    relative to ``repo``; PlanError when neither."""
    for candidate in (Path(plan_path), repo / plan_path):
        if candidate.is_file() or candidate.is_dir():
            return candidate.resolve()
    raise PlanError(f"plan file not found: {plan_path}", fix="give a path to an existing plan file")


def flow_run_name() -> str:
    """The name of an ``execute-plan`` flow run: ``{run_id} {plan}`` (``7e3a1c textkit``: the
    run id and the plan's name as a slug), from the run's parameters. A plan that cannot be
    read is named by its path (the run then fails with the reason)."""
    parameters = FlowRunContext.get().parameters
    try:
        repo = open_repository(Path(parameters.get("repo", ".")))
        plan = load_plan(resolve_plan_path(parameters["plan_path"], repo.root),
                         parameters.get("plan_format"))
    except (PlanError, ValueError, OSError):
        return f"{parameters.get('run_id') or 'plan'} {parameters['plan_path']}"
    return f"{parameters.get('run_id') or plan.default_run_id()} {slugify(plan.name)}"


@flow(name="execute-plan", flow_run_name=flow_run_name)
@fields_as_parameters(ExecuteParams)
def execute_plan(params: ExecuteParams) -> dict | State:
    """Run every phase of the plan in order and stack the task branches on the repository's HEAD.

    Returns the public status JSON (a dict), a ``Failed`` state carrying the status output
    when a task fails or stacking conflicts, or a ``Cancelled`` state saying which flow run
    (and pid) executes the same run id when another one still does after
    ``params.wait_for_run_s`` seconds (``flows.run_slot``: the slot of the global concurrency
    limit ``planflow-run-{run_id}`` and the run lock). Raises PlanError for an unreadable or
    invalid plan (before anything runs), ValueError when ``params.base`` names no commit,
    ``DiskFull`` when a disk the run writes to has less free space than the run needs (checked before anything is written: the worktrees of
    ``max_parallel`` tasks plus ``$PLANFLOW_MIN_FREE_MB``) or fills up while it runs (the
    status then says so: a reserve of 1 MiB is freed to write it).
    Agent processes, worktrees and git lock files a dead run of the same run id left behind are
    killed, salvaged and removed first, and its flow runs still "Running" marked Crashed.
    """
    repo = open_repository(Path(params.repo))
    plan = load_plan(resolve_plan_path(params.plan_path, repo.root), params.plan_format, repo.root)
    if params.serialize_conflicts:
        plan = serialize_conflicts(plan)
        for lane in plan.lanes:
            run_logger().info(f"one lane, one after the other (same files): {lane.describe()}")
    check_plan(plan)
    ctx = _context(params, plan, repo.root, repo.state_dir)
    with agent_limit(), ExitStack() as slot:
        try:
            slot.enter_context(run_slot(repo.state_dir, ctx.run_id, params.wait_for_run_s))
        except RunInProgress as busy:
            run_logger().warning(str(busy))
            return busy_state(busy)
        crash_stale_runs(ctx.run_id, runtime.flow_run.id)
        clear_stale_locks(repo, ctx.run_id)
        for pid, command in kill_dead_run_agents(repo, ctx.run_id).items():
            run_logger().warning(f"killed agent process {pid} `{redact(command)[:80]}` left by a"
                                     " dead run")
        base = repo.require_commit(params.base) if params.base else repo.head_sha()
        needed = _space_needed(repo, plan, base, params.max_parallel)
        storage = result_storage()
        folders = [repo.state_dir, repo.root / ".worktrees"]
        require_free(folders + ([storage] if isinstance(storage, Path) else []), needed,
                     "starting the run")
        repo.sweep_worktrees(f"{ctx.run_id}-")
        status = RunStatus.for_plan(plan, ctx.run_id, base, flow_run_id=str(runtime.flow_run.id))
        status.base_branch = _base_branch(repo, params.base)
        store = register_store(StatusStore(ctx.status_path, status))
        reserve = DiskReserve(ctx.status_path.with_name(".disk-reserve"))
        try:
            run_logger().info(f"run {ctx.run_id}: plan {plan.name!r}, {len(plan.tasks())} task(s) in"
                              f" {len(plan.phases)} phase(s), from {base[:10]}")
            for task_id, reason in runnable(plan)[1].items():
                run_logger().info(f"task {task_id} skipped: {reason}")
                store.update_task(task_id, state=TaskState.skipped, reason=reason)
            publish_plan(plan, ctx.run_id, ctx.params.max_parallel)
            start_live_report(store.status)
            ended = _run_phases(ctx, plan, store, base)
            publish_context(ctx)
            return ended
        except Exception as exc:
            full = disk_full(exc, repo.state_dir)
            if full is not None:
                reserve.release()
                full = DiskFull(full.path, max(full.needed, needed), "running the plan")
            _record_failure(store, full or exc)
            if full is not None:
                raise full from exc
            raise
        finally:
            end_live_report(ctx.run_id)
            reserve.release()


def _space_needed(repo: Repository, plan: Plan, base: str, max_parallel: int) -> int:
    """Bytes a run needs free: the worktrees of as many tasks as run at once (each the size of
    the base's files), plus ``$PLANFLOW_MIN_FREE_MB`` for logs, results and status."""
    at_once = max(1, min(max_parallel, len(plan.tasks())))
    return at_once * checkout_bytes(repo, base) + min_free_bytes()


def _record_failure(store: StatusStore, error: Exception) -> None:
    """Mark the run failed by ``error`` in its status (best effort: a disk still full, or
    another error writing, leaves the status as it was, and the caller raises ``error``)."""
    try:
        for task in store.status.tasks:
            if task.state in (TaskState.pending, TaskState.running):
                store.update_task(task.id, state=TaskState.skipped)
        what = ": " if isinstance(error, DiskFull) else f" by an unexpected error: {type(error).__name__}: "
        store.update(status="failed", finished_at=time.time(), output=f"run stopped{what}{error}")
    except OSError:
        pass


def _run_phases(ctx: RunContext, plan: Plan, store: StatusStore, base: str) -> dict | State:
    """Each phase as a subflow, in order, each from the previous phase's tip; with the
    ``dag`` or ``waves`` schedule (explicit, or ``dag`` by default for a plan whose dependencies
    are explicit) the whole plan as one ``run_dag`` subflow instead, unless a review follows
    every phase: then the phases stay barriers (with ``dag``, each phase a ``run_dag``)."""
    mode = ctx.params.schedule or default_mode(plan)
    if mode is not ScheduleMode.phases and not review_enabled(ctx.params, "phase"):
        return _run_scheduled(ctx, plan, store, base, mode)
    tip, stack, skip = base, [], sorted(runnable(plan)[1])
    for phase in plan.phases:
        ids = ", ".join(task.id for task in phase.tasks)
        limit = phase_limit(phase, ctx.params.max_parallel)
        how = f"in parallel ({limit} agents)" if limit > 1 else "in order"
        store.update(phase=f"{phase.label}", output=f"Executing tasks {ids} {how}")
        run_logger().info(f"{phase.label}: executing tasks {ids} {how}")
        options = {"task_runner": ThreadPoolTaskRunner(max_workers=limit),
                   "flow_run_name": f"{ctx.run_id}-phase-{phase.number}"}
        if mode is ScheduleMode.dag:  # its lane is the subflow run {run_id}-phase-{n}
            options["flow_run_name"] += "-dag"
            result = run_dag.with_options(**options)(ctx, [phase], tip, mode, skip=skip)
        else:
            result = run_phase.with_options(**options)(ctx, phase, tip, skip=skip)
        stack += result.branches
        store.update(stack=stack)
        if result.stopped and not result.failed and not result.conflict:
            return _finish_stopped(store, phase.label, ctx.params.budget_usd)
        if not result.ok:
            return _finish_failed(store, phase.label, result.failed, result.conflict)
        if review_enabled(ctx.params, "phase"):
            reviewed = review_stack(ctx, phase.tasks, f"phase-{phase.number}", phase.label, tip,
                                    result.tip, result.branches)
            if not reviewed.approved:
                return _finish_unreviewed(ctx, store, phase.label, reviewed)
            result.tip = reviewed.tip
        tip = result.tip
    return _finish_reviewed(ctx, plan, store, base, tip)


def _run_scheduled(ctx: RunContext, plan: Plan, store: StatusStore, base: str,
                   mode: ScheduleMode) -> dict | State:
    """All phases as one ``run_dag`` subflow ``{run_id}-dag`` (or ``-waves``) from ``base``."""
    subflow = run_dag.with_options(
        task_runner=ThreadPoolTaskRunner(max_workers=ctx.params.max_parallel),
        flow_run_name=f"{ctx.run_id}-{mode.value}",
    )
    result = subflow(ctx, plan.phases, base, mode, skip=sorted(runnable(plan)[1]))
    label = f"{mode.value} schedule"
    if result.stopped and not result.failed and not result.conflict:
        return _finish_stopped(store, label, ctx.params.budget_usd)
    if not result.ok:
        return _finish_failed(store, label, result.failed, result.conflict)
    return _finish_reviewed(ctx, plan, store, base, result.tip)


def _finish_reviewed(ctx: RunContext, plan: Plan, store: StatusStore, base: str,
                     tip: str) -> dict | State:
    """With review at the end of the run: the review loop of the whole stack; then the end."""
    if review_enabled(ctx.params, "end"):
        reviewed = review_stack(ctx, plan.tasks(), "end", "End of run", base, tip,
                                store.status.stack)
        if not reviewed.approved:
            return _finish_unreviewed(ctx, store, "End of run", reviewed)
        tip = reviewed.tip
    return _finish_completed(store, base, tip)


def _finish_unreviewed(ctx: RunContext, store: StatusStore, label: str,
                       reviewed: ReviewOutcome) -> State:
    """The review loop did not approve: the run stopped by its budget, or failed with the
    loop's output."""
    if reviewed.stopped:
        return _finish_stopped(store, label, ctx.params.budget_usd)
    return _finish_failed(store, label, [], None, output=reviewed.output)


def _finish_completed(store: StatusStore, base: str, tip: str) -> dict:
    store.update(status="completed", phase=None, finished_at=time.time(),
                 output=f"{len(store.status.stack)} branches stacked on {base[:10]}; tip {tip[:10]}")
    run_logger().info(f"run {store.status.run_id} completed: {store.status.output}")
    publish_tasks(store.status)
    return store.status.public()


def _base_branch(repo: Repository, base: str | None) -> str | None:
    """The branch a run starts from: ``base`` when it names a local branch, else the branch
    checked out in the main checkout (None when its HEAD is detached)."""
    if base and repo.resolve(f"refs/heads/{base.removeprefix('refs/heads/')}"):
        return base.removeprefix("refs/heads/")
    return repo.head_branch()


def _context(params: ExecuteParams, plan: Plan, root: Path, state_dir: Path) -> RunContext:
    run_id = params.run_id or plan.default_run_id()
    cli_file = Path(params.worktree_config) if params.worktree_config else None
    worktree = resolve_config(root, plan.source, cli_file)
    return RunContext(params=params, run_id=run_id, repo=root, plan_name=plan.name,
                      plan_path=plan.source, spec_path=plan.spec,
                      status_path=status_path(state_dir, run_id),
                      worktree=None if worktree.empty else worktree)


def _finish_stopped(store: StatusStore, label: str, budget_usd: float | None) -> State:
    for task in store.status.tasks:
        if task.state == TaskState.pending:
            store.update_task(task.id, state=TaskState.skipped)
    output = (f"{label}: stopped: the run's reported cost ${store.status.cost_usd():.4f} passed"
              f" the budget ${budget_usd}; no new task was started; finished work is kept and"
              " cached; re-run with a higher --budget-usd to resume")
    run_logger().warning(output)
    store.update(status="stopped", finished_at=time.time(), output=output)
    publish_tasks(store.status)
    return Failed(message=output)


def _finish_failed(store: StatusStore, label: str, failed: list[str], conflict: str | None,
                   output: str | None = None) -> State:
    """Skip the tasks not run, mark the run failed with ``output`` (default: the failed
    tasks or the conflict) and return the ``Failed`` state."""
    for task in store.status.tasks:
        if task.state in (TaskState.pending, TaskState.running):
            store.update_task(task.id, state=TaskState.skipped)
    if conflict and not output:
        output = f"{label}: stacking stopped on a conflict\n{conflict}"
    elif not output:
        output = f"{label}: task(s) {', '.join(failed)} failed; finished work is kept and cached"
        output += "; re-run the same command to resume"
    run_logger().error(output)
    store.update(status="failed", finished_at=time.time(), output=output)
    publish_tasks(store.status)
    return Failed(message=output)
