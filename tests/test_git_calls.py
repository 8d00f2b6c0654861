"""The git work per task stays what it needs: a ``git`` first on PATH counts every git process
a ``planflow run`` starts (GitPython starts ``git`` by name), and a sequential phase's git
processes per task, beyond what a run needs whatever its size, stay at or below
``GIT_PER_TASK`` (the shell script of ``bench/overhead.py`` needs 5)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from runs import make_repo, run_cli, write_plan

pytestmark = pytest.mark.usefixtures("prefect_api")

GIT_PER_TASK = 8
"""Git processes per task of a sequential phase of no-op tasks (the target of docs/benchmarks.md;
was 41, then 31): ``worktree add``; the user's checkout read before and after the agent and the
worktree read once after it (``status``, which carries HEAD); ``add`` and ``commit``; the keep
ref's ``update-ref``; ``worktree remove``. Refs, commits, trees, worktrees and the identity are
read from the repository's files (``gitops.stored``) and stacking the task on the stack so far
needs no git process. The guard of the git state an agent shares (its refs and nested
repositories, ``tasks.audit``) is in these 8."""


def _counting_git(folder: Path, log: Path) -> Path:
    """A ``git`` script in ``folder`` that appends its arguments to ``log``, then runs git."""
    real = shutil.which("git")
    script = folder / "git"
    script.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\nexec "{real}" "$@"\n')
    script.chmod(0o755)
    return folder


def _git_processes(tmp_path: Path, capsys, monkeypatch, tasks: int) -> int:
    """Git processes of one run of ``tasks`` no-op tasks in one sequential phase, on a new repository."""
    work = tmp_path / f"run-{tasks}"
    work.mkdir()
    repo = make_repo(work / "repo")
    lines = "\n".join(f'      - {{id: "{n}", title: t{n}, files: [f{n}.txt], run: "echo {n} > f{n}.txt"}}'
                      for n in range(1, tasks + 1))
    plan = write_plan(work / "plan.yaml", f"name: count {tasks}\nphases:\n  - name: one\n"
                                          f"    strategy: sequential\n    tasks:\n{lines}\n")
    log = work / "git.log"
    log.touch()
    bin_dir = work / "bin"
    bin_dir.mkdir()
    with monkeypatch.context() as patch:
        patch.setenv("PATH", f"{_counting_git(bin_dir, log)}:{os.environ['PATH']}")
        code, status, err = run_cli(capsys, str(plan), "--repo", str(repo))
    assert code == 0, err
    assert status["status"] == "completed"
    return len(log.read_text().splitlines())


def test_git_processes_per_task_of_a_sequential_phase(tmp_path, capsys, monkeypatch):
    one = _git_processes(tmp_path, capsys, monkeypatch, 1)
    five = _git_processes(tmp_path, capsys, monkeypatch, 5)

    assert one > 0  # the counting git was used
    per_task = (five - one) / 4
    assert per_task <= GIT_PER_TASK, f"{per_task:.1f} git processes per task ({one} for 1 task, {five} for 5)"
