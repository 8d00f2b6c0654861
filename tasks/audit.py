"""``AgentAudit``: what an agent did wrong, found and put right after it ends.

Created once the task's worktree exists and before the agent starts (it records the worktree
and the user's checkout, and gives the agent run a marker, ``AgentRequest.marker``);
``finish`` runs after the agent, whatever its outcome, and:

1. reports the processes the agent left running: those the reaper killed when the agent
   ended (``ProcessOutcome.leftovers``: every process below the agent, in its PID namespace
   where it has one) and those still found by the marker (``agents.leftovers``), killed; their
   command lines are redacted (``planning.redaction``);
2. repairs and reports what it did to git (``gitops.audit.WorktreeWatch``): the shared git
   files (config, hooks, info) and other refs put back, a deleted ``.git`` file, its own
   commits, another branch checked out, rewritten history, writes into the user's checkout;
3. turns nested git repositories it created into plain files (``gitops.nested``; their ``.git``
   moved to ``<git dir>/planflow/runs/{run_id}/nested/task-{id}/<path>/.git``);
4. takes files over ``max_file_bytes()`` out of the worktree before anything is committed or
   salvaged: each is moved to ``<git dir>/planflow/runs/{run_id}/oversized/task-{id}/<path>``
   and reported; when the rest, with what the agent committed itself, adds up to more than
   ``max_task_bytes()``, or the agent committed a file over the limit itself, the task fails.

File names are escaped in messages (``gitops.errors.shown``: a name that is not UTF-8 shows its
bytes as ``\\xNN``).

What is wrong but repaired becomes a warning on the task's result (``Review.warnings``); what
cannot be repaired raises ``AgentMisbehaved`` (the worktree and branch are kept).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from agents.leftovers import kill_marked, kill_worktree_agents, new_marker
from gitops.audit import Review, WorktreeWatch, uncommitted_files
from gitops.clean import run_worktrees
from gitops.errors import shown
from gitops.files import committed_sizes
from gitops.nested import flatten_nested
from gitops.repo import Repository
from gitops.status import Status, read_status
from planning.redaction import redact
from tasks.errors import AgentMisbehaved

MAX_FILE_MB_VAR = "PLANFLOW_MAX_FILE_MB"
"""Environment variable: the largest file (MB, 10^6 bytes) an agent may leave to be committed."""

DEFAULT_MAX_FILE_MB = 100

MAX_TASK_MB_VAR = "PLANFLOW_MAX_TASK_MB"
"""Environment variable: the most (MB, 10^6 bytes) one task's agent may add or change in all
its files together (files over the per-file limit not counted: they are moved out)."""

DEFAULT_MAX_TASK_MB = 200


def _megabytes(name: str, default: int) -> int:
    """``$name`` (default ``default``) in bytes. Raises ValueError when it is not a positive
    integer (MB)."""
    value = os.environ.get(name, str(default))
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{name} must be a positive integer (MB), not {value!r}")
    return int(value) * 1_000_000


def max_file_bytes() -> int:
    """``$PLANFLOW_MAX_FILE_MB`` (default 100) in bytes. Raises ValueError when it is not a
    positive integer."""
    return _megabytes(MAX_FILE_MB_VAR, DEFAULT_MAX_FILE_MB)


def max_task_bytes() -> int:
    """``$PLANFLOW_MAX_TASK_MB`` (default 200) in bytes. Raises ValueError when it is not a
    positive integer."""
    return _megabytes(MAX_TASK_MB_VAR, DEFAULT_MAX_TASK_MB)


def kill_dead_run_agents(repo: Repository, run_id: str) -> dict[int, str]:
    """Kill the agent processes still running in run ``run_id``'s worktrees: left by a run of
    that id that was killed itself (call it holding the run lock, before the worktrees are
    swept). Returns {pid: command line} of the processes killed."""
    return kill_worktree_agents(run_worktrees(repo, run_id))


class AgentAudit:
    """Watches one agent run of task ``task_id`` in ``worktree`` on ``branch``, created from
    commit ``start``; ``oversized_dir`` receives files over the size limit, ``nested_dir`` the
    ``.git`` of nested repositories. ``marker`` goes to ``AgentRequest.marker``. Raises
    ValueError for a bad ``$PLANFLOW_MAX_FILE_MB`` or ``$PLANFLOW_MAX_TASK_MB``,
    ``GitError`` when the worktree cannot be read."""

    def __init__(self, repo: Repository, task_id: str, worktree: Path, branch: str, start: str,
                 oversized_dir: Path, nested_dir: Path) -> None:
        self.repo, self.task_id, self.worktree, self.branch = repo, task_id, worktree, branch
        self.oversized_dir, self.nested_dir = oversized_dir, nested_dir
        self.limit, self.task_limit = max_file_bytes(), max_task_bytes()
        self.start = start
        self.marker = new_marker(worktree)
        self.watch = WorktreeWatch(repo, worktree, branch, start)

    def finish(self, log_path: Path | None, leftovers: dict[int, str] | None = None) -> Review:
        """Kill leftovers, repair and review git, flatten nested repositories, move oversized
        files out, check the task's total size (see the module docstring); ``leftovers`` are the processes the reaper killed ({pid: command line}).
        Returns the ``Review`` (warnings, and ``agent_tip`` when the agent committed on its
        branch itself). Raises ``AgentMisbehaved`` when the work cannot be used, ``GitError``."""
        killed = (leftovers or {}) | kill_marked(self.marker)
        review = self.watch.review()
        if killed:
            review.warnings.insert(0, f"left {len(killed)} process(es) running (killed): " + "; ".join(
                f"pid {pid} `{redact(command)[:80]}`" for pid, command in sorted(killed.items())))
        if review.fatal:
            self._fail(review, review.fatal, log_path)
        status = read_status(self.worktree, "read the worktree's status")  # one for both checks
        flattened = flatten_nested(self.worktree, self.nested_dir, self.start, status)
        for folder in flattened:
            review.warnings.append(f"created a nested git repository in {shown(folder)}/ (its files"
                                   f" are committed as plain files; its .git was moved to"
                                   f" {shown(str(self.nested_dir / folder))}/.git)")
        sizes = self._added_sizes(None if flattened else status)
        for name, size in sizes.items():
            if size > self.limit:
                target = self.oversized_dir / name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(self.worktree / name, target)
                review.warnings.append(f"wrote {shown(name)} ({size / 1e6:.1f} MB, over the"
                                       f" {self.limit / 1e6:g} MB limit of ${MAX_FILE_MB_VAR}): not"
                                       f" committed; moved to {shown(str(target))}")
        if review.agent_tip:  # what the agent committed itself counts too
            committed = committed_sizes(self.repo, self.start, review.agent_tip)
            over = sorted(name for name, size in committed.items() if size > self.limit)
            if over:
                self._fail(review, f"committed {', '.join(shown(name) for name in over[:3])} itself,"
                           f" over the {self.limit / 1e6:g} MB limit per file of ${MAX_FILE_MB_VAR}",
                           log_path)
            sizes = committed | sizes
        total = sum(size for size in sizes.values() if size <= self.limit)
        if total > self.task_limit:
            largest = sorted((name for name, size in sizes.items() if size <= self.limit),
                             key=sizes.__getitem__, reverse=True)[:3]
            self._fail(review, f"added {total / 1e6:.1f} MB of files, over the"
                       f" {self.task_limit / 1e6:g} MB limit per task of ${MAX_TASK_MB_VAR}"
                       f" (largest: {', '.join(shown(name) for name in largest)}); planflow"
                       " committed nothing", log_path)
        return review

    def _fail(self, review: Review, why: str, log_path: Path | None) -> None:
        raise AgentMisbehaved(self.task_id, f"the agent {why}", self.worktree, self.branch,
                              log_path, "\n".join(review.warnings))

    def _added_sizes(self, status: Status | None) -> dict[str, int]:
        """{path: bytes} of the regular files the agent added or changed and did not commit
        (from ``status`` when it is still current, else read again)."""
        sizes = {}
        for name in uncommitted_files(self.worktree, status):
            source = self.worktree / name
            if source.is_file() and not source.is_symlink():
                sizes[name] = source.lstat().st_size
        return sizes
