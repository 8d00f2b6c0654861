"""Reading files as committed, without a worktree: ``read_committed``."""

from __future__ import annotations

from gitops.command import run_git
from gitops.errors import GitError
from gitops.repo import Repository


def read_committed(repo: Repository, ref: str, path: str) -> str | None:
    """The text of ``path`` (repository-relative, ``/``-separated) in commit or branch ``ref``;
    None when ``ref`` names no commit or the commit has no such file. Raises ``GitError`` when
    git fails otherwise."""
    sha = repo.resolve(ref)
    if sha is None:
        return None
    try:
        return run_git(repo.root, f"read {path} at {ref}", "show", f"{sha}:{path}")
    except GitError as error:
        if error.exit_code == 128:
            return None
        raise
