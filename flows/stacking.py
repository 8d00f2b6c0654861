"""``stack_outcomes``: put finished tasks' branches on top of a tip, record the new tips in the
run's status and push them to the run's shared remote. Every scheduling mode stacks through
here, so conflict handling lives in one place."""

from __future__ import annotations

from pathlib import Path

from flows.context import RunContext
from gitops.repo import StackEntry, open_repository
from planning.status import open_store
from tasks.plan_task import TaskOutcome


def stack_outcomes(ctx: RunContext, base: str, outcomes: list[TaskOutcome]) -> list[str]:
    """Stack ``outcomes``' branches in the given order on commit ``base``.

    Returns the new tip of each branch (one sha per outcome, same order); each task's status
    gets its stacked commit. Raises ``StackConflict`` when a cherry-pick conflicts (no branch
    moved), ``GitError`` when git or the push fails.
    """
    repo = open_repository(ctx.repo)
    entries = [StackEntry(label=o.task_id, branch=o.branch, tip=o.commit) for o in outcomes]
    tips = repo.stack(base, entries, scratch_path(repo.root, ctx.run_id))
    store = open_store(ctx.status_path)
    for outcome, tip in zip(outcomes, tips):
        store.update_task(outcome.task_id, commit=tip)
    if ctx.params.remote:
        repo.push(ctx.params.remote, [f"refs/heads/{entry.branch}" for entry in entries])
    return tips


def scratch_path(root: Path, run_id: str) -> Path:
    """The temporary worktree where a run stacks branches."""
    return root / ".worktrees" / f"{run_id}-stack"
