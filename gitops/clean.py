"""``clean_runs``: remove what finished runs left behind, without losing work.

For each run (not one that is executing: its run lock is taken for the clean-up):

- every worktree ``.worktrees/{run_id}-task-*`` is removed after its uncommitted changes are
  saved under ``refs/planflow/salvage/`` (``Repository.remove_worktree``); its ignored files
  (build output, caches) are not saved: they are listed in the report (``ignored``) first;
- every branch ``{run_id}-task-*`` that planflow created (``Repository.recorded_branches``;
  a user's branch that only looks like one is never touched) whose commits are all in the main work tree's ``HEAD`` (the
  stack was merged, or the task changed nothing) is deleted; a branch with commits ``HEAD``
  lacks is kept unless it is named in ``force``; a forced branch's tip is saved to a salvage
  ref first (unless a ``refs/planflow`` ref already holds it), so even then nothing is lost;
  a branch checked out in some worktree is never deleted;
- ``refs/planflow/{run_id}/task-*`` and salvage refs stay (they cost no disk to speak of and
  are what resume and recovery read); the run's status and logs stay too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from gitops.command import run_git
from gitops.errors import shown
from gitops.repo import Repository
from gitops.runlock import RunInProgress, hold_run_lock

TASK_MARK = "-task-"
"""What separates the run id from the task in worktree and branch names."""


@dataclass
class CleanReport:
    """What ``clean_runs`` did: ``removed`` worktrees (path -> bytes on disk they used),
    ``salvaged`` refs created for their uncommitted work, ``deleted`` branches (name -> tip
    sha), ``kept`` branches (name -> why), ``skipped`` runs (run id -> why), ``ignored`` files
    deleted with the removed worktrees (worktree -> {path shown escaped: bytes})."""

    removed: dict[Path, int] = field(default_factory=dict)
    salvaged: list[str] = field(default_factory=list)
    deleted: dict[str, str] = field(default_factory=dict)
    kept: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    ignored: dict[Path, dict[str, int]] = field(default_factory=dict)

    @property
    def freed_bytes(self) -> int:
        """Bytes on disk the removed worktrees used."""
        return sum(self.removed.values())


def disk_usage(path: Path) -> int:
    """Bytes on disk (allocated blocks, like ``du``) of the files under ``path``, each inode
    counted once, symlinks not followed; 0 when ``path`` does not exist."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for folder, dirs, files in os.walk(path):
        for name in dirs + files:
            try:
                info = os.lstat(os.path.join(folder, name))
            except FileNotFoundError:
                continue
            if (info.st_dev, info.st_ino) not in seen:
                seen.add((info.st_dev, info.st_ino))
                total += info.st_blocks * 512
    return total


def ignored_files(worktree: Path) -> dict[str, int]:
    """{path (relative, escaped for showing): size in bytes} of the files git ignores in
    ``worktree`` (``.gitignore``, ``info/exclude``), each file listed. Raises ``GitError``."""
    out = run_git(worktree, "list ignored files", "status", "--porcelain=v1", "-z", "--ignored",
                  "--untracked-files=all")
    found = {}
    for entry in out.split("\0"):
        if entry.startswith("!! "):
            try:
                found[shown(entry[3:])] = os.lstat(worktree / entry[3:]).st_size
            except OSError:
                continue
    return found


def run_worktrees(repo: Repository, run_id: str) -> list[Path]:
    """Folders ``<root>/.worktrees/{run_id}-task-*`` (registered worktrees or not), sorted."""
    return sorted((repo.root / ".worktrees").glob(f"{run_id}{TASK_MARK}*"))


def known_runs(repo: Repository) -> list[str]:
    """Run ids that left state, worktrees or task branches in ``repo``, sorted."""
    runs = {path.name for path in (repo.state_dir / "runs").glob("*") if path.is_dir()}
    runs |= {path.name.split(TASK_MARK)[0] for path in (repo.root / ".worktrees").glob(f"*{TASK_MARK}*")}
    runs |= {branch.split(TASK_MARK)[0] for branch in run_branches(repo, "*")}
    return sorted(runs)


def run_branches(repo: Repository, run_id: str) -> list[str]:
    """Branches ``{run_id}-task-*`` (``run_id`` may be ``*``) that exist and that planflow
    created (``Repository.recorded_branches``), sorted."""
    recorded = repo.recorded_branches()
    return [branch for branch in repo.branches(f"{run_id}{TASK_MARK}*") if branch in recorded]


def clean_runs(repo: Repository, run_ids: list[str], force: list[str] | None = None) -> CleanReport:
    """Clean up runs ``run_ids`` of ``repo`` as the module docstring says.

    ``force`` names branches to delete even though they hold commits ``HEAD`` lacks. Returns a
    ``CleanReport``; a run that is executing is skipped (``report.skipped``). Raises
    ``GitError`` when git fails (what was done before stays done and reported by git's state).
    """
    report = CleanReport()
    forced = set(force or [])
    before = set(repo.refs("refs/planflow/salvage/"))
    for run_id in run_ids:
        try:
            with hold_run_lock(repo.state_dir, run_id):
                _clean_run(repo, run_id, forced, report)
        except RunInProgress as exc:
            report.skipped[run_id] = str(exc)
    report.salvaged = sorted(set(repo.refs("refs/planflow/salvage/")) - before)
    return report


def _clean_run(repo: Repository, run_id: str, forced: set[str], report: CleanReport) -> None:
    for path in run_worktrees(repo, run_id):
        size = disk_usage(path)
        ignored = ignored_files(path) if (path / ".git").is_file() else {}
        if repo.remove_worktree(path):
            report.removed[path] = size
            if ignored:
                report.ignored[path] = ignored
        else:
            report.skipped[str(path)] = "not a registered worktree; left in place"
    for branch in run_branches(repo, run_id):
        _clean_branch(repo, branch, branch in forced, report)


def _clean_branch(repo: Repository, branch: str, forced: bool, report: CleanReport) -> None:
    holder = repo.branch_worktree(branch)
    if holder is not None:
        report.kept[branch] = f"checked out in {holder}"
        return
    ahead = repo.count_commits(branch, "HEAD")
    if ahead and not forced:
        report.kept[branch] = (f"{ahead} commit(s) not in HEAD; `planflow clean --force {branch}`"
                               " deletes it (its tip stays in a salvage ref)")
        return
    report.deleted[branch] = repo.delete_branch(branch, salvage=bool(ahead))
