"""``stack_outcomes``: put finished tasks' branches on top of a tip, record the new tips, the
tasks' warnings and context records in the run's status and push them to the run's shared
remote. Every scheduling mode stacks through here, so conflict handling lives in one place:
with conflict resolution on, a resolver agent (``tasks.resolve``) settles a conflict and
stacking goes on; otherwise, or when it fails, ``StackConflict`` stops the phase."""

from __future__ import annotations

from pathlib import Path

from flows.context import ExecuteParams, RunContext
from flows.handoff import last_toucher, record_context
from flows.report import publish_progress
from gitops.errors import StackConflict
from gitops.repo import Repository, StackEntry, open_repository
from planning.loader import load_plan
from planning.status import open_store
from tasks.agent_setup import resolve_agent
from tasks.errors import ResolutionFailed
from tasks.plan_task import TaskOutcome
from tasks.resolve import Resolution, ResolveSpec, resolve_conflict
from tasks.run_log import run_logger


def stack_outcomes(ctx: RunContext, base: str, outcomes: list[TaskOutcome]) -> list[str]:
    """Stack ``outcomes``' branches in the given order on commit ``base``.

    Returns the new tip of each branch (one sha per outcome, same order); each task's status
    gets its stacked commit and warnings, and its context record is stored. A conflict is
    handed to the resolver when ``resolution_on``; a resolved task's branch then holds the
    resolved commit (its own commit stays under ``refs/planflow/{run_id}/task-{id}``). Raises
    ``StackConflict`` when a cherry-pick conflicts and resolution is off or fails (its report
    then says why; no branch of the conflicting task moved), ``GitError`` when git or the push
    fails.
    """
    repo = open_repository(ctx.repo)
    entries = [StackEntry(label=o.task_id, branch=o.branch, tip=o.commit) for o in outcomes]
    scratch = scratch_path(repo.root, ctx.run_id)
    store = open_store(ctx.status_path)
    notes = {o.task_id: o.warnings for o in outcomes}
    resolved: dict[str, str] = {}
    resolving: bool | None = None
    logger = run_logger()
    while True:
        try:
            tips = repo.stack(base, entries, scratch)
            break
        except StackConflict as conflict:
            resolving = resolution_on(ctx.params) if resolving is None else resolving
            if conflict.task in resolved:  # never loop on a cached resolution
                conflict.notes.append(f"Task {conflict.task} conflicted again after its resolution.")
            if not resolving or conflict.task in resolved:
                logger.error(f"stacking stopped on a conflict:\n{conflict.report()}")
                raise
            logger.warning(f"task {conflict.task} conflicts in {', '.join(conflict.files)} when"
                           " stacked: a resolver agent settles it")
            index = [entry.label for entry in entries].index(conflict.task)
            try:
                resolution = _resolve(ctx, repo, base, entries[:index + 1], conflict)
            except StackConflict:
                logger.error(f"stacking stopped on a conflict:\n{conflict.report()}")
                raise
            entries[index] = entries[index].model_copy(update={"tip": resolution.commit})
            against = f"task {resolution.other}" if resolution.other else "the base"
            resolved[conflict.task] = (f"stacking conflict with {against} in {', '.join(conflict.files)}"
                                       f" resolved by the {resolution.agent} agent")
            notes[conflict.task] = [*notes[conflict.task], resolved[conflict.task]]
            logger.info(f"task {conflict.task}: {resolved[conflict.task]} (commit {resolution.commit[:10]})")
    for outcome, tip in zip(outcomes, tips):
        store.update_task(outcome.task_id, commit=tip, warnings=notes[outcome.task_id])
        logger.info(f"stacked task {outcome.task_id}: branch {outcome.branch} at {tip[:10]}")
    record_context(ctx, outcomes, tips, resolved)
    publish_progress(store.status)
    if ctx.params.remote:
        repo.push(ctx.params.remote, [f"refs/heads/{entry.branch}" for entry in entries])
    return tips


def resolution_on(params: ExecuteParams) -> bool:
    """Whether stacking conflicts go to a resolver agent: ``params.resolve_conflicts`` when set,
    else True for a coding agent and False for the shell agent (the run's default agent, or
    its ``agent_block``'s kind; loading the block can raise ``AgentConfigError``)."""
    if params.resolve_conflicts is not None:
        return params.resolve_conflicts
    return resolve_agent(params.agent, params.agent_block, params.agent_command, None).name != "shell"


def _resolve(ctx: RunContext, repo: Repository, base: str, entries: list[StackEntry],
             conflict: StackConflict) -> Resolution:
    """Stack ``entries`` but the last (the conflicting task) and let the resolver replay the
    last one on top, against ``conflict.other`` or, for a conflict with ``base``, the stacked
    task that last modified the conflicting files (``last_toucher``: so the resolver sees both
    tasks and both tasks' gates run when the DAG schedule stacks one task at a time). Raises
    ``conflict`` with a note when the run's budget is spent or the resolver cannot run or fails
    (``ResolutionFailed``, or any other error of the resolver's task run, e.g. an agent that
    cannot be configured)."""
    *earlier, entry = entries
    tips = repo.stack(base, earlier, scratch_path(repo.root, ctx.run_id)) if earlier else []
    if ctx.plan_path is None:
        conflict.notes.append("Conflict resolution needs the plan file; the run has none.")
        raise conflict
    spent, budget = open_store(ctx.status_path).status.cost_usd(), ctx.params.budget_usd
    if budget is not None and spent > budget:
        conflict.notes.append(f"No resolver agent was started: the run's cost ${spent:.4f} passed"
                              f" its budget ${budget}.")
        raise conflict
    plan = load_plan(ctx.plan_path, ctx.params.plan_format, ctx.repo)
    other = conflict.other or last_toucher(ctx, base, conflict.files)
    spec = ResolveSpec(
        run_id=ctx.run_id, repo=ctx.repo, plan_name=ctx.plan_name, task=plan.task(conflict.task),
        other=plan.task(other) if other else None,
        onto=tips[-1] if tips else base, tip=entry.tip,
        exclude=[base, *(earlier_entry.tip for earlier_entry in earlier)],
        agent=ctx.params.agent, agent_command=ctx.params.agent_command,
        agent_block=ctx.params.agent_block, timeout_s=ctx.params.timeout_s,
        run_gates=ctx.params.quality_gates, status_path=ctx.status_path,
    )
    state = resolve_conflict(spec, return_state=True)
    if state.is_completed() and not repo.commit_exists(state.result().commit):
        state = resolve_conflict.with_options(refresh_cache=True)(spec, return_state=True)
    result = state.result(raise_on_failure=False)
    if not state.is_completed():
        kind = "" if isinstance(result, ResolutionFailed) else f"{type(result).__name__}: "
        conflict.notes.append(f"The resolver agent could not settle it: {kind}{result}")
        raise conflict
    return result


def scratch_path(root: Path, run_id: str) -> Path:
    """The temporary worktree where a run stacks branches."""
    return root / ".worktrees" / f"{run_id}-stack"
