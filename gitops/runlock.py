"""One live process per run id: a file lock held while a run executes.

The lock is an ``fcntl.flock`` on ``<state dir>/runs/{run_id}/run.lock``. The kernel drops it
when its process dies, even by ``kill -9``, so a crashed run never blocks the next one; and
whoever holds it knows that any worktree left under ``.worktrees/{run_id}-*`` is an orphan.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class RunInProgress(Exception):
    """Another live process (or flow run) is executing the same run id; ``holder`` is the pid
    holding the run lock, when known."""

    def __init__(self, message: str, holder: str | None = None) -> None:
        super().__init__(message)
        self.holder = holder


@contextmanager
def hold_run_lock(state_dir: Path, run_id: str) -> Iterator[Path]:
    """Hold run ``run_id``'s lock for the ``with`` block; yields the lock file's path.

    Raises ``RunInProgress`` at once (no waiting) when another process holds it, naming the
    holder's pid: the kernel's (``/proc/locks``), else the one the lock file records.
    """
    path = state_dir / "runs" / run_id / "run.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            raise RunInProgress(
                f"run {run_id} is already executing (pid {holder}); wait for it or stop it first",
                holder) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield path
    finally:
        os.close(fd)


def _holder(fd: int) -> str:
    """The pid holding the ``flock`` on open file ``fd``: from ``/proc/locks`` (exact, Linux),
    else the pid the file records (which the holder writes just after it took the lock)."""
    stat = os.fstat(fd)
    inode = f"{os.major(stat.st_dev):02x}:{os.minor(stat.st_dev):02x}:{stat.st_ino}"
    try:
        with open("/proc/locks") as locks:
            for line in locks:
                fields = line.split()
                if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == inode:
                    return fields[4]
    except OSError:
        pass
    return os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
