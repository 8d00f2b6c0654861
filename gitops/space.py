"""How much disk a task's worktree takes: ``checkout_bytes``."""

from __future__ import annotations

from gitops.command import run_git
from gitops.repo import Repository


def checkout_bytes(repo: Repository, rev: str) -> int:
    """The bytes of the files of commit ``rev`` (what a worktree of it holds, before the
    agent writes). Raises ``GitError``."""
    listing = run_git(repo.root, f"measure the checkout of {rev[:10]}", "ls-tree", "-r", "-l",
                      "-z", "--end-of-options", rev)
    total = 0
    for entry in listing.split("\0"):
        fields = entry.split(None, 4)
        if len(fields) >= 4 and fields[1] == "blob" and fields[3].isdigit():
            total += int(fields[3])
    return total
