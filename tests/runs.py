"""Test helper: scratch repositories and in-process ``planflow run`` calls."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

from gitrepo import git, make_repo
from planflow.cli import main

APPEND_TO_FILES = (
    'while IFS= read -r f; do [ -n "$f" ] || continue; mkdir -p "$(dirname "$f")"; '
    'echo "task $PLANFLOW_TASK_ID" >> "$f"; done <<< "$PLANFLOW_TASK_FILES"'
)
"""A shell agent command that appends a line naming the task to each of the task's files."""


def copy_repo(source: Path, path: Path) -> Path:
    """A git repository at ``path`` holding a copy of ``source`` in one commit."""
    shutil.copytree(source, path)
    git(path, "init", "-q", "-b", "main")
    git(path, "add", "-A")
    git(path, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "init")
    return path


def run_cli(capsys, *args: str) -> tuple[int, dict | None, str]:
    """``planflow run ARGS --retry-delay 0`` in-process: (exit code, status JSON or None, stderr)."""
    code = main(["run", *args, "--retry-delay", "0"])
    captured = capsys.readouterr()
    return code, (json.loads(captured.out) if captured.out.strip() else None), captured.err


def write_plan(path: Path, text: str) -> Path:
    """Write dedented ``text`` to ``path``; returns ``path``."""
    path.write_text(textwrap.dedent(text))
    return path


__all__ = ["APPEND_TO_FILES", "copy_repo", "git", "make_repo", "run_cli", "write_plan"]
