"""Test helper: real git repositories in temporary folders.

``make_repo(path)`` creates a repository with one commit and no ``user.name``/``user.email``
in its config; ``git(path, *args)`` runs git there and returns stdout. Import with
``from gitrepo import git, make_repo`` (pytest puts ``tests/`` on ``sys.path``).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

TEST_IDENTITY = ("-c", "user.name=Test User", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false")
"""``git -c`` options for commits the tests make themselves (the repository config stays empty)."""


def git(path: Path, *args: str) -> str:
    """Run ``git <args>`` in ``path``; returns stdout without the trailing newline.
    Raises ``subprocess.CalledProcessError`` when git fails."""
    done = subprocess.run(["git", *args], cwd=path, capture_output=True, text=True, check=True)
    return done.stdout.rstrip("\n")


def make_repo(path: Path) -> Path:
    """Initialise a git repository at ``path`` (created if missing) on branch ``main`` with one
    commit adding ``README.md`` (``"hello\\n"``). Returns ``path``."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    (path / "README.md").write_text("hello\n")
    git(path, "add", "README.md")
    git(path, *TEST_IDENTITY, "commit", "-q", "-m", "initial")
    return path
