"""Git repositories an agent created inside its worktree (``git init sub``), turned into plain
files: ``flatten_nested``.

Left alone, ``git add -A`` records a nested repository as a gitlink (a pointer to a commit that
exists only in ``sub/.git``, lost with the worktree) or fails outright when it has no commit
yet, which would also block removing the worktree. Moving ``sub/.git`` aside makes its files
ordinary files of the task; the nested history is kept where it was moved.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from gitops.command import run_git
from gitops.status import GITLINK, Status, read_status


def nested_repositories(worktree: Path, start: str | None = None, status: Status | None = None) -> list[str]:
    """Folders (relative, ``/``-separated) of ``worktree`` that are git repositories of their
    own: untracked ones (``git status`` lists them as one ``dir/`` entry) and, when ``start``
    is given, gitlinks staged or committed since commit ``start``. ``status``: the worktree's
    ``read_status`` when the caller has it (read here otherwise); while HEAD is at ``start``
    it also shows the staged gitlinks, else ``git diff-index`` is asked. Raises ``GitError``."""
    status = status or read_status(worktree, "find nested repositories")
    found = [entry.path.rstrip("/") for entry in status.entries
             if entry.code == "??" and entry.path.endswith("/")]
    if start is not None and status.head == start:
        found += [entry.path for entry in status.entries
                  if entry.staged and entry.index_mode == GITLINK and entry.path not in found]
    elif start is not None:
        fields = run_git(worktree, "find added gitlinks", "diff-index", "--cached", "--raw", "-z",
                         "--no-renames", start).split("\0")
        found += [path for meta, path in zip(fields[::2], fields[1::2])
                  if meta.split(" ")[1:2] == [GITLINK] and path not in found]
    return sorted(found)


def flatten_nested(worktree: Path, aside: Path, start: str | None = None,
                   status: Status | None = None) -> list[str]:
    """Make every nested repository of ``worktree`` (``nested_repositories``, given ``start``
    and ``status``) plain files: its ``.git`` is moved to ``aside/<path>/.git`` and a gitlink
    for it is unstaged. Returns the folders flattened. Raises ``GitError``, ``OSError``."""
    flattened = []
    for folder in nested_repositories(worktree, start, status):
        dot_git = worktree / folder / ".git"
        if dot_git.exists() or dot_git.is_symlink():
            target = aside / folder / ".git"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(dot_git, target)
        run_git(worktree, f"unstage nested repository {folder}", "rm", "-r", "-q", "--cached", "-f",
                "--ignore-unmatch", "--", folder)
        flattened.append(folder)
    return flattened
