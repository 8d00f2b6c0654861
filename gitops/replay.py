"""Replaying a task's commits onto another commit and letting a resolver settle each conflict:
``replay_resolving`` (what conflict resolution does where stacking stopped)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from gitops.command import AUTOMATION_CONFIG, run_git
from gitops.errors import GitError
from gitops.stack import own_commits

if TYPE_CHECKING:
    from gitops.repo import Repository

_MARKER = re.compile(r"^(<{7} |={7}$|>{7} )", re.MULTILINE)


class UnresolvedConflict(Exception):
    """The resolver finished but ``files`` still hold conflict markers or are unmerged."""

    def __init__(self, files: list[str]) -> None:
        self.files = files
        super().__init__(f"conflict not resolved in {', '.join(files)}: markers or unmerged paths remain")


def replay_resolving(repo: Repository, worktree: Path, onto: str, tip: str, exclude: list[str],
                     resolve: Callable[[list[str]], None]) -> str:
    """Cherry-pick ``tip``'s own commits (those not in ``exclude``) onto ``onto`` in a detached
    worktree at ``worktree`` (a leftover there is salvaged and replaced).

    At each conflicting commit ``resolve(files)`` is called with the worktree holding the
    conflict (markers in the files, both sides in the index); then everything is staged and
    committed with the original message, author and committer (even when the resolution drops
    the commit's changes: the caller's checks judge that). The worktree is
    left in place (the caller runs checks there and removes it). Returns the last commit's sha.
    Raises ``UnresolvedConflict`` when markers or unmerged paths remain after ``resolve``
    (the cherry-pick stays in progress for inspection), ``GitError``, or what ``resolve`` raises.
    """
    worktree = repo.detached_worktree(worktree, onto)
    for commit in own_commits(repo, tip, exclude):
        try:
            run_git(worktree, f"apply {commit.sha[:10]}", *AUTOMATION_CONFIG, "cherry-pick",
                    "--allow-empty", "--keep-redundant-commits", commit.sha, env=commit.committer_env)
            continue
        except GitError:
            files = unmerged_files(worktree)
            if not files:
                raise
        resolve(files)
        left = [path for path in files if _has_markers(worktree / path)]
        run_git(worktree, "stage resolution", "add", "-A")
        left += [path for path in unmerged_files(worktree) if path not in left]
        if left:
            raise UnresolvedConflict(left)
        run_git(worktree, "commit resolution", *AUTOMATION_CONFIG, "commit", "-q", "--allow-empty",
                "--no-edit", env=commit.committer_env)
    return run_git(worktree, "read resolved tip", "rev-parse", "HEAD")


def unmerged_files(worktree: Path) -> list[str]:
    """The paths with unresolved conflicts in ``worktree``'s index, sorted. Raises ``GitError``."""
    out = run_git(worktree, "list conflicting files", "diff", "--name-only", "--diff-filter=U", "-z")
    return sorted({name for name in out.split("\0") if name})


def conflict_sides(worktree: Path, path: str) -> tuple[str, str]:
    """(ours, theirs) of conflicting ``path`` in ``worktree``'s index: the stack so far and the
    task being applied; "" for a side that deleted the file. Raises ``GitError``."""
    sides = []
    for stage in (2, 3):
        try:
            sides.append(run_git(worktree, f"read side {stage} of {path}", "show", f":{stage}:{path}"))
        except GitError:
            sides.append("")
    return sides[0], sides[1]


def _has_markers(path: Path) -> bool:
    try:
        return bool(_MARKER.search(path.read_text(errors="replace")))
    except (FileNotFoundError, IsADirectoryError):
        return False
