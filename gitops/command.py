"""The one place git runs: ``run_git`` (GitPython underneath, failures become ``GitError``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import git

from gitops.errors import GitError

BASE_ENV = {"GIT_TERMINAL_PROMPT": "0"}
"""Environment every git call gets on top of the process's: never prompt for credentials."""

AUTOMATION_CONFIG = ("-c", "core.hooksPath=/dev/null", "-c", "commit.gpgsign=false", "-c", "rerere.enabled=false")
"""``git -c`` options for commits planflow makes itself: no user hooks, no signing (which could
prompt and would make stacked commits non-deterministic), no rerere (which hides conflicts)."""


def run_git(cwd: Path, operation: str, *args: str, env: Mapping[str, str] | None = None) -> str:
    """Run ``git <args>`` in directory ``cwd`` and return its stdout (trailing newline removed).

    Arguments: ``cwd`` the directory git runs in (decides which worktree it acts on; must
    exist); ``operation`` a short description used in errors; ``args`` the git arguments;
    ``env`` extra environment variables (on top of ``GIT_TERMINAL_PROMPT=0``). stdin is empty.
    Raises ``GitError`` when git exits non-zero, or (with exit code -1) when git cannot be
    started or ``cwd`` is no directory.
    """
    command = ["git", *args]
    if not Path(cwd).is_dir():
        # GitPython would silently fall back to the process's current directory.
        raise GitError(operation, command, -1, "", f"directory {cwd} does not exist")
    try:
        status, stdout, stderr = git.Git(str(cwd)).execute(
            command,
            with_extended_output=True,
            with_exceptions=False,
            env={**BASE_ENV, **(env or {})},
        )
    except git.CommandError as error:  # git cannot be started (GitCommandNotFound)
        raise GitError(operation, command, -1, "", str(error)) from error
    if status != 0:
        raise GitError(operation, command, status, stdout, stderr)
    return stdout
