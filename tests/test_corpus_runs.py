"""Every real spectacular plan of the shared corpus, run end to end against a scratch
repository with a shell agent that appends a line naming the task to each declared file."""

from __future__ import annotations

import pytest

from corpus import CORPUS, REAL_PLANS
from planning.loader import load_plan
from runs import APPEND_TO_FILES, assert_stacked_after_dependencies, git, make_repo, run_cli

pytestmark = [
    pytest.mark.usefixtures("prefect_api"),
    pytest.mark.skipif(CORPUS is None, reason="shared corpus not present"),
]


@pytest.mark.parametrize("name", [entry[0] for entry in REAL_PLANS])
def test_real_plan_runs_into_a_stack(name, tmp_path, capsys):
    plan_path = CORPUS / name
    plan = load_plan(plan_path)
    repo = make_repo(tmp_path / "repo")
    head = git(repo, "rev-parse", "HEAD")

    code, status, err = run_cli(capsys, str(plan_path), "--repo", str(repo), "--no-gates",
                                "--agent-command", APPEND_TO_FILES, "--max-parallel", "4")

    assert code == 0, err
    assert status["status"] == "completed"
    # one branch per task, each after those it depends on, each on the one before
    assert_stacked_after_dependencies(plan, status, [task.id for task in plan.tasks()])
    parent = head
    for branch in status["stack"]:
        assert git(repo, "rev-parse", f"{branch}^") == parent, branch
        parent = git(repo, "rev-parse", branch)
    tip = status["stack"][-1]
    for task in plan.tasks():
        for path in task.files:
            assert f"task {task.id}" in git(repo, "show", f"{tip}:{path}").splitlines()
    assert git(repo, "rev-parse", "HEAD") == head
    assert git(repo, "status", "--porcelain") == ""
