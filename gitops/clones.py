"""A worker's own clone of a shared remote, for tasks dispatched to other machines.

Each worker keeps one clone per remote under ``$PLANFLOW_CLONES_DIR`` (default
``~/.cache/planflow/clones``), named by a hash of the remote's address, and fetches before
each task: the branches and ``refs/planflow/*`` (bases and finished task commits). A task
marks its worktree as its own while it runs (``owned_worktree``); the worktrees of tasks whose
process died are salvaged by the next task on that worker (``sweep_dead_worktrees``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gitops.command import run_git
from gitops.repo import Repository, open_repository

FETCH_REFSPECS = ["refs/heads/*:refs/remotes/origin/*", "refs/planflow/*:refs/planflow/*"]


def clones_dir() -> Path:
    """``$PLANFLOW_CLONES_DIR`` or ``~/.cache/planflow/clones``."""
    configured = os.environ.get("PLANFLOW_CLONES_DIR")
    return Path(configured) if configured else Path.home() / ".cache" / "planflow" / "clones"


def worker_clone(remote: str) -> Repository:
    """This worker's clone of ``remote`` (a URL or path), created on first use and fetched.
    Raises ``GitError`` when the remote cannot be cloned or fetched."""
    path = clones_dir() / hashlib.sha256(remote.encode()).hexdigest()[:16]
    if not (path / ".git").is_dir():
        # two flow runs of a new worker start at once: each clones aside, the first rename wins
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}-"))
        run_git(path.parent, f"clone {remote}", "clone", "--quiet", remote, str(staging))
        try:
            staging.rename(path)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
    repo = open_repository(path)
    repo.fetch(remote, FETCH_REFSPECS)
    return repo


def _started(pid: int) -> str | None:
    """Process ``pid``'s start time (clock ticks since boot, ``/proc/PID/stat`` field 22), or
    None when there is no such process: with the pid it names one process for good."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _owners(repo: Repository) -> Path:
    return repo.state_dir / "remote-tasks"


@contextmanager
def owned_worktree(repo: Repository, name: str) -> Iterator[None]:
    """While the body runs, worktree ``name`` (under ``.worktrees/``) of ``repo`` is marked as
    this process's (``<state dir>/remote-tasks/NAME``: pid and start time); the mark goes at
    the end. A mark left by a process that died (``kill -9``, the machine went down) tells
    ``sweep_dead_worktrees`` the worktree is an orphan."""
    mark = _owners(repo) / name
    mark.parent.mkdir(parents=True, exist_ok=True)
    mark.write_text(f"{os.getpid()} {_started(os.getpid())}\n")
    try:
        yield
    finally:
        mark.unlink(missing_ok=True)


def sweep_dead_worktrees(repo: Repository) -> list[str]:
    """Salvage (``refs/planflow/salvage/NAME/STAMP``) and remove every worktree of ``repo``
    whose owner mark names a process that is gone; returns their names. Raises ``GitError``."""
    swept = []
    for mark in sorted(_owners(repo).glob("*")) if _owners(repo).is_dir() else []:
        pid, started = (mark.read_text().split() + ["", ""])[:2]
        if pid.isdigit() and _started(int(pid)) == started:
            continue  # its task is still running in another flow run of this worker
        repo.remove_worktree(repo.root / ".worktrees" / mark.name)
        mark.unlink(missing_ok=True)
        swept.append(mark.name)
    return swept
