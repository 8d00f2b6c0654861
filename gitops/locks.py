"""Git lock files a killed run left behind, cleared when the run starts again.

git writes ``<ref>.lock`` or ``index.lock`` next to what it changes and renames it into place;
a git process killed in between (``kill -9`` of the run) leaves the lock, and every later git
command on that ref or worktree fails ("Unable to create '...lock': File exists"). Once a run
holds its run lock (``gitops.runlock``), no other planflow process works on its refs and
worktrees, so locks on them are stale: ``clear_stale_locks`` deletes them. It touches only
what the run owns: ``refs/heads/{run_id}-*``, ``refs/planflow/{run_id}/``,
``refs/planflow/salvage/{run_id}-*`` and the git admin folders of worktrees
``{run_id}-*``; never the user's branches, the main index or ``packed-refs``.
"""

from __future__ import annotations

import time
from pathlib import Path

from gitops.repo import Repository

SETTLE_S = 2.0
"""A lock younger than this many seconds may belong to a git process still ending (an
orphan of the killed run); it is given that long to disappear before it is removed."""


def clear_stale_locks(repo: Repository, run_id: str) -> list[Path]:
    """Delete the stale git lock files of run ``run_id`` in ``repo`` (call it holding the run
    lock). Returns the deleted paths. Raises ``OSError`` when a lock cannot be deleted."""
    common = repo.common_dir
    patterns = [f"refs/heads/{run_id}-*.lock", f"refs/planflow/{run_id}/**/*.lock",
                f"refs/planflow/salvage/{run_id}-*/**/*.lock", f"worktrees/{run_id}-*/*.lock",
                f"logs/refs/heads/{run_id}-*.lock"]
    locks = sorted({path for pattern in patterns for path in common.glob(pattern)})
    youngest = max((path.stat().st_mtime for path in locks if path.exists()), default=0.0)
    wait = youngest + SETTLE_S - time.time()
    if wait > 0:
        time.sleep(min(wait, SETTLE_S))
    removed = []
    for path in locks:
        if path.exists():
            path.unlink()
            removed.append(path)
    return removed
