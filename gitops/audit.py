"""What an agent did to git, read before and after it runs, and put right where that is safe.

``WorktreeWatch`` records a task worktree's ``.git`` file, its HEAD reflog position and the
user's checkout (HEAD, branch, and the status of its files) before the agent starts;
``WorktreeWatch.review`` then finds, from the worktree's own HEAD reflog (kept by git in the
shared git dir, so it survives a deleted ``.git`` file):

- a deleted or replaced ``.git`` file: restored;
- commits the agent made itself: kept (the task's commit is its branch tip);
- another branch checked out: the worktree is put back on the task branch with the files as
  the agent left them;
- shared git files changed (``.git/config``, ``.git/hooks``, ``.git/info``): put back
  (``gitops.shared_files.SharedFiles``);
- any branch or tag other than the task's moved or deleted: restored, its new commits kept in a
  salvage ref; created refs reported (``gitops.refwatch.RefWatch``);
- rewritten history (reset, rebase, amend): reported; when the task branch no longer contains
  the task's base, ``Review.fatal`` says so (the task must fail: its work is not on its base);
- changes in the user's checkout (its HEAD, branch or files): reported, never reverted (they
  may be the user's own edits made meanwhile).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from gitops.command import run_git
from gitops.refwatch import RefWatch
from gitops.repo import Repository, worktree_head_ref
from gitops.shared_files import SharedFiles
from gitops.status import Status, read_status


@dataclass
class Review:
    """Findings of ``WorktreeWatch.review``: ``warnings`` (what the agent did wrong and what
    planflow did about it), ``fatal`` (why the task cannot succeed, or None), ``agent_tip``
    (the task branch's tip when the agent committed on it itself, else None)."""

    warnings: list[str] = field(default_factory=list)
    fatal: str | None = None
    agent_tip: str | None = None


def checkout_state(repo: Repository) -> dict[str, tuple]:
    """The user's checkout as a comparable value: ``HEAD`` (sha, branch) and, for each path
    ``git status`` lists (changed or untracked), its (status, mtime ns, size). One git
    process (``gitops.status.read_status``: HEAD comes with the status)."""
    root = repo.root
    status = read_status(root, "read checkout status")
    state: dict[str, tuple] = {"HEAD": (status.head, status.branch)}
    for entry in status.entries:
        try:
            info = os.lstat(root / entry.path)
            state[entry.path] = (entry.code, info.st_mtime_ns, info.st_size)
        except OSError:
            state[entry.path] = (entry.code, None, None)
    return state


class WorktreeWatch:
    """Watches task worktree ``worktree`` on ``branch`` (just created from commit ``start``)
    while an agent runs in it. Raises ``GitError``/``OSError`` when the worktree is unreadable."""

    def __init__(self, repo: Repository, worktree: Path, branch: str, start: str) -> None:
        self.repo, self.worktree, self.branch, self.start = repo, Path(worktree), branch, start
        self.dot_git = (self.worktree / ".git").read_text()
        self.admin = Path(self.dot_git.partition("gitdir:")[2].strip())
        self.log_lines = len(self._reflog())
        self.checkout = checkout_state(repo)
        self.shared = SharedFiles(repo.common_dir, repo.state_dir / "shared-git" / f"{self.worktree.name}.json")
        self.refs = RefWatch(repo, f"refs/heads/{branch}", self.admin)

    def review(self) -> Review:
        """Inspect and repair the worktree after the agent ended; see the module docstring.
        Raises ``GitError`` when git fails on a worktree planflow could repair."""
        result = Review()
        changed_files = self.shared.restore()
        if changed_files:
            result.warnings.append("changed the repository's shared git files (restored): "
                                   + "; ".join(changed_files))
        if not self.worktree.is_dir() or not self.admin.is_dir():
            result.fatal = "deleted its worktree (or git's record of it)"
            return result
        if not (self.worktree / ".git").is_file() or (self.worktree / ".git").read_text() != self.dot_git:
            (self.worktree / ".git").write_text(self.dot_git)
            result.warnings.append("deleted or replaced its worktree's .git file (restored)")
        entries = self._reflog()[self.log_lines:]
        self._reattach(entries, result)
        rewrites = sorted({message.split(":")[0] for _, message in entries
                           if message.startswith(("reset:", "rebase", "commit (amend)"))})
        if rewrites:
            result.warnings.append(f"rewrote history in its worktree ({', '.join(rewrites)})")
        tip = self.repo.require_commit(f"refs/heads/{self.branch}")
        if result.fatal is None and tip != self.start and not self.repo.contains(tip, self.start):
            result.fatal = (f"rewrote history: branch {self.branch} no longer contains the task's"
                            f" base {self.start[:10]}")
        elif result.fatal is None and tip != self.start:
            count = self.repo.count_commits(tip, self.start)
            result.warnings.append(f"made {count} commit(s) itself (kept on {self.branch})")
            result.agent_tip = tip
        result.warnings += self.refs.restore()
        changed = self._checkout_changes()
        if changed:
            result.warnings.append("changed the user's checkout (left as found, check it): "
                                   + ", ".join(changed[:20]) + (" ..." if len(changed) > 20 else ""))
        return result

    def _reattach(self, entries: list[tuple[str, str]], result: Review) -> None:
        """Put HEAD back on the task branch when the agent switched away (the branch follows
        when the agent's HEAD still contains the task's start, e.g. after ``checkout -b``)."""
        checked_out = {}
        for new, message in entries:
            if message.startswith("checkout: moving from "):
                target = message.rsplit(" to ", 1)[1]
                if target != self.branch:
                    checked_out.setdefault(target, new)
        own = f"refs/heads/{self.branch}"
        if worktree_head_ref(self.worktree) != own:
            head = run_git(self.worktree, "read worktree HEAD", "rev-parse", "HEAD")
            where = ", ".join(checked_out) or "a detached commit"
            if self.repo.contains(head, self.start):
                self.repo.set_branch(self.branch, head)
            else:
                self.repo.keep_ref(f"salvage/{self.worktree.name}/agent-head-{head[:12]}", head)
                result.fatal = (f"checked out {where}, which does not contain the task's base"
                                f" {self.start[:10]} (its HEAD is kept under refs/planflow/salvage/)")
            run_git(self.worktree, "reattach worktree", "symbolic-ref", "HEAD", own)
            result.warnings.append(f"checked out {where} (planflow put the worktree back on"
                                   f" {self.branch}, keeping its files as the agent left them)")

    def _reflog(self) -> list[tuple[str, str]]:
        """(new sha, message) of each entry of the worktree's HEAD reflog, oldest first."""
        log = self.admin / "logs" / "HEAD"
        if not log.is_file():
            return []
        entries = []
        for line in log.read_text(errors="replace").splitlines():
            head, _, message = line.partition("\t")
            parts = head.split(" ")
            entries.append((parts[1] if len(parts) > 1 else "", message))
        return entries

    def _checkout_changes(self) -> list[str]:
        after = checkout_state(self.repo)
        return sorted(key for key in self.checkout.keys() | after.keys()
                      if self.checkout.get(key) != after.get(key))


def uncommitted_files(worktree: Path, status: Status | None = None) -> list[str]:
    """Paths (relative to ``worktree``) of files changed or added and not committed, untracked
    ones included (ignored ones not), from ``status`` (the worktree's ``read_status``; read
    here when None). Raises ``GitError``."""
    status = status or read_status(worktree, "list uncommitted files")
    return [entry.path for entry in status.entries]
