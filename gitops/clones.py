"""A worker's own clone of a shared remote, for tasks dispatched to other machines.

Each worker keeps one clone per remote under ``$PLANFLOW_CLONES_DIR`` (default
``~/.cache/planflow/clones``), named by a hash of the remote's address, and fetches before
each task: the branches and ``refs/planflow/*`` (bases and finished task commits).
"""

from __future__ import annotations

import hashlib
import os
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
        path.parent.mkdir(parents=True, exist_ok=True)
        run_git(path.parent, f"clone {remote}", "clone", "--quiet", remote, str(path))
    repo = open_repository(path)
    repo.fetch(remote, FETCH_REFSPECS)
    return repo
