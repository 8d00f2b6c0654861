"""Overlapping tasks of a parallel wave (the same declared file) run in one lane, one after the
other, and stack without a conflict: real runs of ``planflow run`` on real repositories."""

from __future__ import annotations

import pytest

from runs import git, make_repo, run_cli, write_plan

pytestmark = pytest.mark.usefixtures("prefect_api")

PLAN = """\
    name: lanes
    phases:
      - name: one
        strategy: parallel
        tasks:
          - {id: "1.1", title: left, files: [shared.txt], run: "echo left >> shared.txt"}
          - {id: "1.2", title: other, files: [other.txt], run: "echo other > other.txt"}
          - {id: "1.3", title: right, files: [shared.txt],
             run: "grep -qx left shared.txt && echo right >> shared.txt"}
    """


@pytest.mark.parametrize("schedule", ["phases", "dag"])
def test_overlapping_tasks_run_in_one_lane_and_stack_without_conflict(tmp_path, capsys, schedule):
    repo = make_repo(tmp_path / "repo")
    plan = write_plan(tmp_path / "plan.yaml", PLAN)

    code, status, err = run_cli(capsys, str(plan), "--repo", str(repo), "--schedule", schedule)

    assert code == 0, err
    assert status["status"] == "completed" and status.get("conflict") is None
    assert "one lane, one after the other (same files): phase 1: 1.1 → 1.3 (shared.txt)" in err
    branch = {task["id"]: task["branch"] for task in status["tasks"]}
    # 1.3 started from 1.1's work (its agent checks the line), so its branch sits on 1.1's
    assert git(repo, "merge-base", "--is-ancestor", branch["1.1"], branch["1.3"]) == ""
    tip = git(repo, "rev-parse", status["stack"][-1])
    assert git(repo, "show", f"{tip}:shared.txt") == "left\nright"
    assert git(repo, "show", f"{tip}:other.txt") == "other"


def test_allow_overlap_keeps_them_side_by_side(tmp_path, capsys):
    repo = make_repo(tmp_path / "repo")
    plan = write_plan(tmp_path / "plan.yaml", PLAN)

    code, status, err = run_cli(capsys, str(plan), "--repo", str(repo), "--allow-overlap",
                                "--retries", "0")

    assert code == 1 and "one after the other (same files)" not in err
    assert "warning: tasks 1.1 and 1.3 may run at the same time" in err
    failed = {task["id"] for task in status["failed_tasks"]}
    assert failed == {"1.3"}  # it ran beside 1.1, without 1.1's line
