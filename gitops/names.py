"""Names planflow gives to runs, task worktrees and task branches."""

from __future__ import annotations

from pathlib import Path

from planning.models import PlanTask


def worktree_path(root: Path, run_id: str, task_ref_id: str) -> Path:
    """The worktree of task ``task_ref_id`` (``PlanTask.ref_id``) in run ``run_id``:
    ``<root>/.worktrees/{run_id}-task-{task_ref_id}``."""
    return root / ".worktrees" / f"{run_id}-task-{task_ref_id}"


def branch_name(run_id: str, task: PlanTask) -> str:
    """The branch of ``task`` in run ``run_id``: ``{run_id}-task-{ref_id}-{slug}``."""
    return f"{run_id}-task-{task.ref_id}-{task.slug}"
