"""Refs an agent moved or deleted, recorded before it runs and put back after: ``RefWatch``.

Every ref of a linked worktree (branches, tags and the rest) is the repository's: what the
agent does to a branch other than its task's changes the user's repository.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gitops.errors import shown
from gitops.repo import Repository


@dataclass
class RefChange:
    """One ref that differs: ``ref`` (full name), ``old`` / ``new`` sha (None: absent)."""

    ref: str
    old: str | None
    new: str | None

    def describe(self) -> str:
        """``"moved branch main"``, ``"deleted tag v1"``, ``"created ref refs/stash"``."""
        kind, name = ("branch", self.ref[11:]) if self.ref.startswith("refs/heads/") else \
            ("tag", self.ref[10:]) if self.ref.startswith("refs/tags/") else ("ref", self.ref)
        verb = "created" if self.old is None else "deleted" if self.new is None else "moved"
        return f"{verb} {kind} {shown(name)}"


RESTORED = ("refs/heads/", "refs/tags/")
"""Refs put back when the agent moved or deleted them; other refs (remote-tracking, stash,
notes) are only reported."""


def worktree_heads(common_dir: Path, skip: Path) -> set[str]:
    """Every commit sha the HEAD reflogs of the linked worktrees of ``common_dir`` (git's
    ``worktrees/*/logs/HEAD``) record as made there (entries ``commit...``), except worktree
    ``skip``'s (its admin folder): the commits the agents of other tasks made. Read from the
    files (no git process); an unreadable reflog counts as empty."""
    heads: set[str] = set()
    for log in (common_dir / "worktrees").glob("*/logs/HEAD"):
        if log.parent.parent == skip:
            continue
        try:
            lines = log.read_text(errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            ids, _, message = line.partition("\t")
            parts = ids.split(" ", 2)
            if message.startswith("commit") and len(parts) == 3:
                heads.add(parts[1])
    return heads


class RefWatch:
    """The refs of ``repo`` when created, except ``own`` (the task's branch, full name), refs
    under ``refs/planflow/`` and branches planflow created (``Repository.recorded_branches``:
    other tasks move them meanwhile). ``admin`` is the task worktree's admin folder
    (``<common dir>/worktrees/<name>``): a ref moved to a commit another task's worktree
    reached is that task's agent's doing, reported and restored by that task's watch (in a
    parallel phase both watches see the move)."""

    def __init__(self, repo: Repository, own: str, admin: Path) -> None:
        self.repo, self.own, self.admin = repo, own, admin
        self.tips = repo.ref_tips()

    def restore(self) -> list[str]:
        """Put back every branch and tag the agent moved or deleted (a moved one's new commits
        are saved under ``refs/planflow/salvage/``), except one checked out in some worktree
        (moving it would change that checkout: reported only). Returns a warning per changed
        ref. Raises ``GitError``."""
        now = self.repo.ref_tips()
        skip = {f"refs/heads/{b}" for b in self.repo.recorded_branches()} | {self.own}
        changes = [RefChange(ref, self.tips.get(ref), now.get(ref))
                   for ref in sorted(self.tips.keys() | now.keys())]
        changes = [change for change in changes if change.old != change.new
                   and change.ref not in skip and not change.ref.startswith("refs/planflow/")]
        others = worktree_heads(self.repo.common_dir, self.admin) if changes else set()
        warnings = []
        for change in changes:
            ref = change.ref
            if change.new in others:
                continue
            holder = self.repo.branch_worktree(ref[11:]) if ref.startswith("refs/heads/") else None
            if change.old is None or not ref.startswith(RESTORED):
                warnings.append(f"{change.describe()} (left as it is)")
            elif holder is not None:
                warnings.append(f"{change.describe()} (not restored: checked out in {holder})")
            else:
                self.repo.restore_ref(ref, change.old, change.new)
                kept = "; its new commits are kept under refs/planflow/salvage/" if change.new else ""
                warnings.append(f"{change.describe()} (restored to {change.old[:10]}{kept})")
        return warnings
