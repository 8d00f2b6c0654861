"""Test helper: scratch repositories and in-process ``planflow run`` calls."""

from __future__ import annotations

import json
import shutil
import textwrap
from collections.abc import Iterable
from pathlib import Path

from gitrepo import git, make_repo
from planflow.cli import main
from planning.dag import effective_dependencies
from planning.models import Plan

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


def assert_stacked_after_dependencies(plan: Plan, status: dict, ran: list[str],
                                      skipped: Iterable[str] = ()) -> None:
    """Assert that ``status["stack"]`` holds the branch of each task in ``ran`` once, each after
    the branches of the tasks it waits for (``planning.dag.effective_dependencies``): true of
    every schedule (phases, waves, dag)."""
    branch = {task["id"]: task["branch"] for task in status["tasks"]}
    position = {name: index for index, name in enumerate(status["stack"])}
    assert sorted(status["stack"]) == sorted(branch[task_id] for task_id in ran)
    for task_id, deps in effective_dependencies(plan.phases, skipped).items():
        assert all(position[branch[dep]] < position[branch[task_id]] for dep in deps), task_id


def write_plan(path: Path, text: str) -> Path:
    """Write dedented ``text`` to ``path``; returns ``path``."""
    path.write_text(textwrap.dedent(text))
    return path


__all__ = ["APPEND_TO_FILES", "assert_stacked_after_dependencies", "copy_repo", "git", "make_repo",
           "run_cli", "write_plan"]
