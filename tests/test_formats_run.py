"""Every plan format runs end to end with the shell agent on a scratch repository: one branch
per task that runs, each stacked after the tasks it depends on; done and blocked tasks (and
what depends on a blocked one) are skipped with their reason. spectacular and native plans run in
test_corpus_runs.py and test_execute.py."""

from __future__ import annotations

import pytest

from plan_fixtures import BY_FORMAT
from planning.loader import load_plan
from planning.schedule import runnable
from runs import APPEND_TO_FILES, assert_stacked_after_dependencies, git, make_repo, run_cli

pytestmark = pytest.mark.usefixtures("prefect_api")


@pytest.mark.parametrize("name", [name for name in BY_FORMAT if name not in ("spectacular", "native")])
def test_format_runs_into_a_stack(name, tmp_path, capsys):
    file_name, text = BY_FORMAT[name]
    plan_path = tmp_path / file_name
    plan_path.write_text(text)
    plan = load_plan(plan_path)
    ran, skipped = runnable(plan)
    repo = make_repo(tmp_path / "repo")
    head = git(repo, "rev-parse", "HEAD")

    code, status, err = run_cli(capsys, str(plan_path), "--repo", str(repo), "--no-gates",
                                "--agent-command", APPEND_TO_FILES)

    assert code == 0, err
    assert status["status"] == "completed"
    by_id = {task["id"]: task for task in status["tasks"]}
    assert_stacked_after_dependencies(plan, status, ran, skipped)
    assert {task_id: (by_id[task_id]["state"], by_id[task_id]["reason"]) for task_id in skipped} == {
        task_id: ("skipped", reason) for task_id, reason in skipped.items()}
    tip = status["stack"][-1]
    for task in plan.tasks():
        for path in task.files:
            content = git(repo, "show", f"{tip}:{path}") if task.id in ran else ""
            assert (f"task {task.id}" in content.splitlines()) == (task.id in ran), (task.id, path)
    assert git(repo, "rev-parse", "HEAD") == head
