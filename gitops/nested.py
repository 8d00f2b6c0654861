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


def nested_repositories(worktree: Path, start: str | None = None) -> list[str]:
    """Folders (relative, ``/``-separated) of ``worktree`` that are git repositories of their
    own: untracked ones (``git status`` lists them as one ``dir/`` entry) and, when ``start``
    is given, gitlinks staged or committed since commit ``start``. Raises ``GitError``."""
    out = run_git(worktree, "find nested repositories", "status", "--porcelain=v1", "-z",
                  "--untracked-files=all")
    found = [entry[3:].rstrip("/") for entry in out.split("\0")
             if entry.startswith("?? ") and entry.endswith("/")]
    if start is not None:
        fields = run_git(worktree, "find added gitlinks", "diff-index", "--cached", "--raw", "-z",
                         "--no-renames", start).split("\0")
        found += [path for meta, path in zip(fields[::2], fields[1::2])
                  if meta.split(" ")[1:2] == ["160000"] and path not in found]
    return sorted(found)


def flatten_nested(worktree: Path, aside: Path, start: str | None = None) -> list[str]:
    """Make every nested repository of ``worktree`` (``nested_repositories``) plain files:
    its ``.git`` is moved to ``aside/<path>/.git`` and a gitlink for it is unstaged. Returns
    the folders flattened. Raises ``GitError``, ``OSError``."""
    flattened = []
    for folder in nested_repositories(worktree, start):
        dot_git = worktree / folder / ".git"
        if dot_git.exists() or dot_git.is_symlink():
            target = aside / folder / ".git"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(dot_git, target)
        run_git(worktree, f"unstage nested repository {folder}", "rm", "-r", "-q", "--cached", "-f",
                "--ignore-unmatch", "--", folder)
        flattened.append(folder)
    return flattened
