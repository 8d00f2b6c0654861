"""Crash anywhere, resume cleanly: ``planflow run`` is SIGKILLed at a chosen point (an agent
run, a commit, a merge of the stacking) and a plain re-run completes without losing a
commit, repeating an agent call of a finished task or stumbling on a stale lock; orphaned
worktrees' uncommitted work ends in salvage refs and the agents they orphaned are killed; a keep
ref a re-run moves keeps its old commit; a task whose keep ref landed is not run again even
when Prefect's result of it was never persisted. The ten fixed points and 40 random kills
over the 12-task plan are ``scripts/reliability.py`` (``make reliability``); the mechanism is
``tests/crashkit.py``."""

from __future__ import annotations

import os

import pytest

from crashkit import KillPoint, crash_and_resume
from gitops.repo import open_repository
from gitrepo import TEST_IDENTITY, git, make_repo

PHASES = [("sequential", ["1.1", "1.2"]), ("parallel", ["2.1", "2.2", "2.3"])]
"""Five tasks: a sequential phase, then a parallel one."""


@pytest.mark.parametrize("point", [
    KillPoint("agent run, parallel phase", "agent", task="2.2"),
    KillPoint("commit, sequential phase (during)", "git", marker="commit -q", n=2, when="during"),
    KillPoint("stacking, merge-tree (during)", "git", marker="merge-tree", n=2, when="during"),
    KillPoint("keep ref landed, result not persisted", "git",
              marker="refs/planflow/c0ffee/task-2-2", when="after"),
], ids=lambda point: point.name.split(",")[0].replace(" ", "-"))
def test_a_run_killed_anywhere_resumes_with_nothing_lost(prefect_api, tmp_path, point):
    env = dict(os.environ, PREFECT_API_URL=prefect_api)

    figures = crash_and_resume(tmp_path, env, point, PHASES)

    assert figures["killed"], figures
    assert figures["resumed"], figures
    assert figures["lost_commits"] == 0 and figures["repeated_calls"] == 0, figures
    assert not figures["blocked"], figures
    assert figures["orphans_salvaged"] == figures["orphans"], figures
    assert figures["worktrees_left"] == 0 and figures["agents_left"] == 0, figures
    assert figures["agents_after_kill"] == 0, figures  # the agents died with planflow
    if point.kind == "agent":  # its agent wrote a partial file (salvaged)
        assert figures["orphans"] >= 1, figures
    if point.when == "after":  # the task's work landed: taken as done, not run again
        assert figures["landed"] >= 3, figures


def test_a_keep_ref_moved_by_a_rerun_saves_the_commit_it_held(tmp_path):
    """A task killed after its commit and keep ref, before its end, runs again: its new keep
    ref must not drop the first commit (the one the kill point "commit, parallel phase" lost)."""
    root = make_repo(tmp_path / "repo")
    repo = open_repository(root)
    base = repo.head_sha()
    first = git(root, *TEST_IDENTITY, "commit-tree", "-p", base, "-m", "first try", f"{base}^{{tree}}")
    again = git(root, *TEST_IDENTITY, "commit-tree", "-p", base, "-m", "second try", f"{base}^{{tree}}")
    repo.keep_ref("c0ffee/task-2-1", first)
    repo.keep_ref("c0ffee/task-2-1", again)
    repo.keep_ref("c0ffee/task-2-1", again)

    assert repo.resolve("refs/planflow/c0ffee/task-2-1") == again
    assert [repo.resolve(ref) for ref in repo.refs("refs/planflow/salvage/")] == [first]
