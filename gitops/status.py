"""One ``git status`` of a work tree, parsed: ``read_status`` gives its HEAD (commit and branch)
and every changed or untracked path with its index mode, so one git process answers what the
checkout audit, the search for nested repositories and the size check each asked git for."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from gitops.command import run_git

GITLINK = "160000"
"""The mode of a gitlink (a nested repository's commit) in the index."""


class Entry(NamedTuple):
    """One path ``git status`` lists: ``code`` (``XY`` as in ``--porcelain=v2``: ``.M``,
    ``A.``, ``??`` for untracked ...), ``path`` (relative, ``/``-separated, a folder ending in
    ``/``; ``surrogateescape``-decoded), ``index_mode`` (octal digits; "" when untracked)."""

    code: str
    path: str
    index_mode: str

    @property
    def staged(self) -> bool:
        """True when the index differs from HEAD at this path."""
        return self.code[0] not in ".?"


class Status(NamedTuple):
    """``head``: HEAD's commit sha (None before the first commit); ``branch``: the ref HEAD
    is on (``refs/heads/...``; None when detached); ``entries``: what differs, in git's order."""

    head: str | None
    branch: str | None
    entries: list[Entry]


def read_status(cwd: Path, operation: str = "read status") -> Status:
    """``git status --porcelain=v2 --branch -z --untracked-files=all --no-renames`` in work
    tree ``cwd`` (renames as a deletion and an addition; ignored files left out). Raises
    ``GitError``."""
    out = run_git(cwd, operation, "status", "--porcelain=v2", "--branch", "-z",
                  "--untracked-files=all", "--no-renames")
    head = branch = None
    entries = []
    for record in out.split("\0"):
        kind = record[:2]
        if record.startswith("# branch.oid "):
            head = record[13:] if record[13:] != "(initial)" else None
        elif record.startswith("# branch.head "):
            branch = f"refs/heads/{record[14:]}" if record[14:] != "(detached)" else None
        elif kind == "1 ":  # 1 XY sub mH mI mW hH hI path
            fields = record.split(" ", 8)
            entries.append(Entry(fields[1], fields[8], fields[4]))
        elif kind == "u ":  # u XY sub m1 m2 m3 mW h1 h2 h3 path
            fields = record.split(" ", 10)
            entries.append(Entry(fields[1], fields[10], ""))
        elif kind == "? ":
            entries.append(Entry("??", record[2:], ""))
    return Status(head, branch, entries)
