"""What an agent's worktree shares with the user's repository, recorded before the agent runs
and put back after: the git files (``SharedFiles``: ``config``, ``hooks/``, ``info/``) and the
refs (``RefWatch``: branches, tags and the rest, other than planflow's own).

A linked worktree has its own HEAD and index, but ``.git/config``, ``.git/hooks``,
``.git/info`` and every ref are the repository's: what the agent changes there changes the
user's repository, and (for config and hooks) would run inside planflow's next git call.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from gitops.command import read_config_file
from gitops.errors import shown
from gitops.repo import Repository

SHARED_PARTS = ("config", "hooks", "info")
"""Parts of the shared git directory that are recorded and put back."""

Files = dict[str, tuple[bytes, int]]


def _read_files(common_dir: Path) -> Files:
    """{path relative to ``common_dir``: (content, mode)} of the files of ``SHARED_PARTS``."""
    files: Files = {}
    for part in SHARED_PARTS:
        top = common_dir / part
        paths = [top] if top.is_file() else sorted(p for p in top.rglob("*") if p.is_file() or p.is_symlink())
        for path in paths:
            try:
                info = path.lstat()
                content = os.readlink(path).encode() if path.is_symlink() else path.read_bytes()
            except OSError:
                continue
            files[path.relative_to(common_dir).as_posix()] = (content, info.st_mode)
    return files


class SharedFiles:
    """The shared git files of ``repo`` as they were when created (before an agent starts)."""

    def __init__(self, repo: Repository) -> None:
        self.common_dir = repo.common_dir
        self.files = _read_files(self.common_dir)

    def restore(self) -> list[str]:
        """Put every shared file back as it was: changed and deleted ones rewritten, added ones
        removed. Returns what was changed (``"config (filter.x.clean, ...)"``,
        ``"hooks/post-checkout added"``), empty when nothing was. Raises ``OSError``."""
        now = _read_files(self.common_dir)
        changes = []
        for name in sorted(self.files.keys() | now.keys()):
            old, new = self.files.get(name), now.get(name)
            if old == new:
                continue
            path = self.common_dir / name
            keys = self._changed_keys(path, old) if name == "config" else []
            if new is not None:
                path.unlink()
            if old is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                if stat.S_ISLNK(old[1]):
                    os.symlink(old[0].decode(), path)
                else:
                    path.write_bytes(old[0])
                    os.chmod(path, old[1] & 0o7777)
            what = "added" if old is None else "deleted" if new is None else "changed"
            changes.append(f"{shown(name)} {what}" + (f" ({', '.join(keys)})" if keys else ""))
        return changes

    @staticmethod
    def _changed_keys(path: Path, old: tuple[bytes, int] | None) -> list[str]:
        """Keys whose values differ between config file ``path`` now and content ``old``."""
        current = set(read_config_file(path)) if path.is_file() else set()
        before_path = path.with_name("config.planflow-before")
        try:
            before_path.write_bytes(old[0] if old else b"")
            before = set(read_config_file(before_path))
        finally:
            before_path.unlink(missing_ok=True)
        return sorted({shown(key) for key, _ in current ^ before})[:10]


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


class RefWatch:
    """The refs of ``repo`` when created, except ``own`` (the task's branch, full name), refs
    under ``refs/planflow/`` and branches planflow created (``Repository.recorded_branches``:
    other tasks move them meanwhile)."""

    def __init__(self, repo: Repository, own: str) -> None:
        self.repo, self.own = repo, own
        self.tips = repo.ref_tips()

    def restore(self) -> list[str]:
        """Put back every branch and tag the agent moved or deleted (a moved one's new commits
        are saved under ``refs/planflow/salvage/``), except one checked out in some worktree
        (moving it would change that checkout: reported only). Returns a warning per changed
        ref. Raises ``GitError``."""
        now = self.repo.ref_tips()
        skip = {f"refs/heads/{b}" for b in self.repo.recorded_branches()} | {self.own}
        warnings = []
        for ref in sorted(self.tips.keys() | now.keys()):
            change = RefChange(ref, self.tips.get(ref), now.get(ref))
            if change.old == change.new or ref in skip or ref.startswith("refs/planflow/"):
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
