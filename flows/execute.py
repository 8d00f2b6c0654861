"""``execute_plan``: the flow that runs a whole plan, phase by phase, into a stack of branches.

Parameters are one pydantic model (``ExecuteParams``), so a deployment shows a typed form in
the Prefect UI. The run's status is written to ``<git dir>/planflow/runs/{run_id}/status.json``
as it moves; the flow run fails (``RunFailed``) when a task fails or stacking conflicts, after
the status says why (a ``Failed`` state returned by the flow, so no traceback is logged).
"""

from __future__ import annotations

import time
from pathlib import Path

from prefect import flow
from prefect.states import Failed, State
from prefect.task_runners import ThreadPoolTaskRunner

from flows.context import ExecuteParams, RunContext
from flows.phase import phase_limit, run_phase
from flows.report import publish_plan, publish_tasks
from gitops.repo import open_repository
from planning.errors import PlanError
from planning.loader import load_plan
from planning.models import Plan
from planning.status import RunStatus, StatusStore, TaskState, register_store, status_path
from planning.validate import check_plan


def resolve_plan_path(plan_path: str, repo: Path) -> Path:
    """``plan_path`` as given when it exists, else relative to ``repo``; PlanError when neither."""
    for candidate in (Path(plan_path), repo / plan_path):
        if candidate.is_file():
            return candidate.resolve()
    raise PlanError(f"plan file not found: {plan_path}", fix="give a path to an existing plan file")


@flow(name="execute-plan")
def execute_plan(params: ExecuteParams) -> dict | State:
    """Run every phase of the plan in order and stack the task branches on the repository's HEAD.

    Returns the public status JSON (a dict), or a ``Failed`` state carrying the status output
    when a task fails or stacking conflicts. Raises PlanError for an unreadable or invalid plan
    (before anything runs).
    """
    repo = open_repository(Path(params.repo))
    plan = load_plan(resolve_plan_path(params.plan_path, repo.root), params.plan_format)
    check_plan(plan)
    ctx = _context(params, plan, repo.root, repo.state_dir)
    base = repo.head_sha()
    store = register_store(StatusStore(ctx.status_path, RunStatus.for_plan(plan, ctx.run_id, base)))
    publish_plan(plan, ctx.run_id)

    tip, stack = base, []
    for phase in plan.phases:
        ids = ", ".join(task.id for task in phase.tasks)
        limit = phase_limit(phase, params.max_parallel)
        mode = f"in parallel ({limit} agents)" if limit > 1 else "in order"
        store.update(phase=f"{phase.label}", output=f"Executing tasks {ids} {mode}")
        subflow = run_phase.with_options(
            task_runner=ThreadPoolTaskRunner(max_workers=limit),
            flow_run_name=f"{ctx.run_id}-phase-{phase.number}",
        )
        result = subflow(ctx, phase, tip)
        stack += result.branches
        store.update(stack=stack)
        if not result.ok:
            return _finish_failed(store, phase.label, result.failed, result.conflict)
        tip = result.tip

    store.update(status="completed", phase=None, finished_at=time.time(),
                 output=f"{len(stack)} branches stacked on {base[:10]}; tip {tip[:10]}")
    publish_tasks(store.status)
    return store.status.public()


def _context(params: ExecuteParams, plan: Plan, root: Path, state_dir: Path) -> RunContext:
    run_id = params.run_id or plan.default_run_id()
    return RunContext(params=params, run_id=run_id, repo=root, plan_name=plan.name,
                      plan_path=plan.source, spec_path=plan.spec,
                      status_path=status_path(state_dir, run_id))


def _finish_failed(store: StatusStore, label: str, failed: list[str], conflict: str | None) -> State:
    for task in store.status.tasks:
        if task.state in (TaskState.pending, TaskState.running):
            store.update_task(task.id, state=TaskState.skipped)
    if conflict:
        output = f"{label}: stacking stopped on a conflict\n{conflict}"
    else:
        output = f"{label}: task(s) {', '.join(failed)} failed; finished work is kept and cached"
        output += "; re-run the same command to resume"
    store.update(status="failed", finished_at=time.time(), output=output)
    publish_tasks(store.status)
    return Failed(message=output)
