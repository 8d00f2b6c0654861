"""End-to-end runs of ``planflow run`` in-process against real git repositories and a real
Prefect test server: stacking, resume from cache, failures, conflicts, timeouts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from planflow.cli import main
from runs import APPEND_TO_FILES, copy_repo, git, make_repo, run_cli, write_plan

pytestmark = pytest.mark.usefixtures("prefect_api")

ROOT = Path(__file__).resolve().parents[1]


def first_parent_chain(repo: Path, tip: str, count: int) -> list[str]:
    return git(repo, "rev-list", "--first-parent", f"--max-count={count}", tip).split()


def test_demo_plan_builds_a_tested_stack(tmp_path, capsys):
    repo = copy_repo(ROOT / "examples" / "sample-repo", tmp_path / "repo")
    head, user_status = git(repo, "rev-parse", "HEAD"), git(repo, "status", "--porcelain")

    code, status, err = run_cli(capsys, str(ROOT / "examples/textkit/plan.md"), "--repo", str(repo))

    assert code == 0, err
    assert status["status"] == "completed"
    assert [t["id"] for t in status["completed_tasks"]] == ["1.1", "2.1", "2.2", "2.3", "3.1"]
    assert status["stack"] == [
        "7e3a1c-task-1-1-tokenizer",
        "7e3a1c-task-2-1-word-counts",
        "7e3a1c-task-2-2-reading-time",
        "7e3a1c-task-2-3-sentence-statistics",
        "7e3a1c-task-3-1-report-command",
    ]
    tips = [git(repo, "rev-parse", branch) for branch in status["stack"]]
    assert first_parent_chain(repo, tips[-1], 6) == list(reversed(tips)) + [head]
    # each branch holds only its own task's files
    assert git(repo, "diff", "--name-only", tips[1], tips[2]).split() == [
        "tests/test_reading.py", "textkit/reading.py"]
    # the user's checkout, HEAD and branch are untouched; finished worktrees are gone
    assert git(repo, "rev-parse", "HEAD") == head
    assert git(repo, "status", "--porcelain") == user_status
    assert git(repo, "branch", "--show-current") == "main"
    assert not any((repo / ".worktrees").iterdir())
    assert "Phase 2: 2.1" in err and "completed: 5 branches stacked" in err


def test_second_run_calls_no_agent(tmp_path, capsys):
    repo = make_repo(tmp_path / "repo")
    calls = tmp_path / "calls.log"
    plan = write_plan(tmp_path / "plan.yaml", """\
        name: resume
        phases:
          - name: one
            strategy: parallel
            tasks:
              - {id: "1.1", title: first, files: [a.txt]}
              - {id: "1.2", title: second, files: [b.txt]}
          - name: two
            tasks:
              - {id: "2.1", title: third, files: [c.txt], depends_on: ["1.1"]}
        """)
    command = f'echo "$PLANFLOW_TASK_ID" >> {calls}; {APPEND_TO_FILES}'

    first = run_cli(capsys, str(plan), "--repo", str(repo), "--agent-command", command)
    second = run_cli(capsys, str(plan), "--repo", str(repo), "--agent-command", command)

    assert first[0] == 0 and second[0] == 0, first[2] + second[2]
    assert sorted(calls.read_text().split()) == ["1.1", "1.2", "2.1"]
    assert all(task["cached"] for task in second[1]["tasks"])
    assert second[1]["stack"] == first[1]["stack"]
    assert [git(repo, "rev-parse", b) for b in second[1]["stack"]] == [
        t["commit"] for t in first[1]["tasks"]]


def test_changed_task_reruns_alone(tmp_path, capsys):
    repo = make_repo(tmp_path / "repo")
    calls = tmp_path / "calls.log"
    text = """\
        name: change
        phases:
          - name: one
            strategy: parallel
            tasks:
              - {id: "1", title: first, files: [a.txt]}
              - {id: "2", title: second, files: [TITLE.txt]}
        """
    plan = write_plan(tmp_path / "plan.yaml", text)
    command = f'echo "$PLANFLOW_TASK_ID" >> {calls}; {APPEND_TO_FILES}'
    assert run_cli(capsys, str(plan), "--repo", str(repo), "--agent-command", command)[0] == 0

    write_plan(plan, text.replace("TITLE.txt", "b.txt"))
    code, status, err = run_cli(capsys, str(plan), "--repo", str(repo), "--agent-command", command)

    assert code == 0, err
    assert sorted(calls.read_text().split()) == ["1", "2", "2"]
    assert [t["cached"] for t in status["tasks"]] == [True, False]


def test_failed_task_stops_the_run_and_keeps_its_worktree(tmp_path, capsys):
    repo = make_repo(tmp_path / "repo")
    plan = write_plan(tmp_path / "plan.yaml", """\
        name: failing
        phases:
          - name: one
            strategy: parallel
            tasks:
              - {id: "1.1", title: good, files: [a.txt], run: "echo ok > a.txt"}
              - {id: "1.2", title: bad, files: [b.txt], run: "echo half > b.txt; echo boom >&2; exit 3"}
          - name: two
            tasks:
              - {id: "2.1", title: later, files: [c.txt], run: "echo c > c.txt"}
        """)

    code, status, err = run_cli(capsys, str(plan), "--repo", str(repo), "--retries", "1")

    assert code == 1
    assert status["status"] == "failed"
    assert [t["id"] for t in status["failed_tasks"]] == ["1.2"]
    assert "agent exited 3" in status["failed_tasks"][0]["error"]
    assert "boom" in status["failed_tasks"][0]["error"]
    states = {t["id"]: t["state"] for t in status["tasks"]}
    assert states == {"1.1": "done", "1.2": "failed", "2.1": "skipped"}
    worktree = next((repo / ".worktrees").glob("*-task-1-2"))
    assert (worktree / "b.txt").read_text() == "half\n"
    attempts = sorted(p.name for p in (repo / ".git/planflow/runs").glob("*/logs/task-1-2.attempt-*.log"))
    assert attempts == ["task-1-2.attempt-1.log", "task-1-2.attempt-2.log"]
    assert "planflow status" in err


def test_agent_timeout_kills_it_and_fails_the_task(tmp_path, capsys):
    repo = make_repo(tmp_path / "repo")
    plan = write_plan(tmp_path / "plan.yaml", """\
        name: slow
        phases:
          - name: one
            tasks:
              - {id: "1", title: slow, files: [a.txt], run: "echo started; sleep 60"}
        """)

    code, status, _ = run_cli(capsys, str(plan), "--repo", str(repo), "--timeout", "1",
                              "--retries", "0")

    assert code == 1
    error = status["failed_tasks"][0]["error"]
    assert "agent timed out" in error and "started" in error


def test_parallel_conflict_stops_with_a_report_and_loses_nothing(tmp_path, capsys):
    repo = make_repo(tmp_path / "repo")
    plan = write_plan(tmp_path / "plan.yaml", """\
        name: conflict
        phases:
          - name: one
            strategy: parallel
            tasks:
              - {id: "1.1", title: left, files: [shared.txt], run: "echo left > shared.txt"}
              - {id: "1.2", title: right, files: [shared.txt], run: "echo right > shared.txt"}
        """)

    code, status, err = run_cli(capsys, str(plan), "--repo", str(repo), "--allow-overlap")

    assert code == 1
    assert "1.1" in status["conflict"] and "1.2" in status["conflict"]
    assert "shared.txt" in status["conflict"]
    assert "Traceback" not in err
    branches = {t["id"]: t["branch"] for t in status["tasks"]}
    assert git(repo, "show", f"{branches['1.1']}:shared.txt") == "left"
    assert git(repo, "show", f"{branches['1.2']}:shared.txt") == "right"
    assert git(repo, "status", "--porcelain") == ""


def test_cached_commit_that_is_gone_is_recomputed(tmp_path, capsys):
    repo = make_repo(tmp_path / "repo")
    calls = tmp_path / "calls.log"
    plan = write_plan(tmp_path / "plan.yaml", """\
        name: gone
        phases:
          - name: one
            tasks:
              - {id: "1", title: only, files: [a.txt]}
        """)
    command = f'echo "$PLANFLOW_TASK_ID" >> {calls}; {APPEND_TO_FILES}'
    code, status, _ = run_cli(capsys, str(plan), "--repo", str(repo), "--agent-command", command)
    assert code == 0
    for ref in git(repo, "for-each-ref", "--format=%(refname)", "refs/heads/", "refs/planflow/").split():
        if ref != "refs/heads/main":
            git(repo, "update-ref", "-d", ref)
    git(repo, "reflog", "expire", "--expire=now", "--all")
    git(repo, "gc", "-q", "--prune=now")

    code, status, err = run_cli(capsys, str(plan), "--repo", str(repo), "--agent-command", command)

    assert code == 0, err
    assert calls.read_text().split() == ["1", "1"]
    assert git(repo, "show", f"{status['stack'][0]}:a.txt") == "task 1"


def test_status_command_prints_the_run(tmp_path, capsys):
    repo = make_repo(tmp_path / "repo")
    plan = write_plan(tmp_path / "plan.yaml", """\
        name: status
        run_id: abc123
        phases:
          - name: one
            tasks:
              - {id: "1", title: only, files: [a.txt], run: "echo a > a.txt"}
        """)
    assert run_cli(capsys, str(plan), "--repo", str(repo))[0] == 0

    assert main(["status", "abc123", "--repo", str(repo), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["run_id"] == "abc123" and status["status"] == "completed"
    assert status["completed_tasks"] == [
        {"id": "1", "name": "only", "branch": "abc123-task-1-only"}]
    assert main(["status", "abc123", "--repo", str(repo)]) == 0
    assert "abc123-task-1-only" in capsys.readouterr().err
    assert main(["status", "ffffff", "--repo", str(repo)]) == 2


def test_dry_run_and_validate_do_not_import_prefect(tmp_path):
    script = (
        "import sys; from planflow.cli import main; "
        f"code = main(['run', {str(ROOT / 'examples/textkit/plan.md')!r}, '--dry-run']); "
        "assert 'prefect' not in sys.modules, 'prefect imported'; sys.exit(code)"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "2.1" in done.stdout and "Phase 2" in done.stdout


def test_invalid_plan_is_rejected_before_anything_runs(tmp_path, capsys):
    repo = make_repo(tmp_path / "repo")
    plan = write_plan(tmp_path / "plan.yaml", """\
        name: cycle
        phases:
          - name: one
            tasks:
              - {id: "1", title: a, files: [a.txt], depends_on: ["2"], run: "true"}
              - {id: "2", title: b, files: [b.txt], depends_on: ["1"], run: "true"}
        """)

    code, status, err = run_cli(capsys, str(plan), "--repo", str(repo))

    assert code == 2 and status is None
    assert "plan.yaml:" in err and "1 -> 2 -> 1" in err
    assert not (repo / ".worktrees").exists()


def test_task_without_changes_fails_unless_allowed(tmp_path, capsys):
    repo = make_repo(tmp_path / "repo")
    plan = write_plan(tmp_path / "plan.yaml", """\
        name: empty
        phases:
          - name: one
            tasks:
              - {id: "1", title: allowed, files: [a.txt], run: "true", allow_empty: true}
              - {id: "2", title: idle, files: [b.txt], run: "true"}
        """)

    code, status, _ = run_cli(capsys, str(plan), "--repo", str(repo), "--retries", "0")

    assert code == 1
    assert [t["id"] for t in status["completed_tasks"]] == ["1"]
    assert "the agent changed no file" in status["failed_tasks"][0]["error"]


def test_console_script_against_a_prefect_server(tmp_path, prefect_api):
    """With PREFECT_API_URL set, `planflow run` runs on that server: the flow run, its phase
    subflow and the artifacts are there."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort, FlowRunSort

    repo = make_repo(tmp_path / "repo")
    plan = write_plan(tmp_path / "plan.yaml", """\
        name: served
        run_id: 5e7e1d
        phases:
          - name: one
            tasks:
              - {id: "1", title: only, files: [a.txt], run: "echo a > a.txt"}
        """)
    env = dict(os.environ, PREFECT_API_URL=prefect_api)
    done = subprocess.run([str(Path(sys.executable).parent / "planflow"), "run", str(plan),
                           "--repo", str(repo)], env=env, capture_output=True, text=True)

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "completed"
    with get_client(sync_client=True) as client:
        names = {run.name for run in client.read_flow_runs(
            limit=200, sort=FlowRunSort.START_TIME_DESC)}
        keys = {a.key for a in client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(like_="planflow-5e7e1d")),
            limit=20, sort=ArtifactSort.CREATED_DESC)}
    assert "5e7e1d-phase-1" in names
    assert keys == {"planflow-5e7e1d-plan", "planflow-5e7e1d-tasks", "planflow-5e7e1d-context",
                    "planflow-5e7e1d-progress"}


def test_deployment_entrypoint_loads_the_flow():
    import yaml
    from prefect.flows import load_flow_from_entrypoint

    config = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    entrypoint = config["deployments"][0]["entrypoint"]
    flow = load_flow_from_entrypoint(str(ROOT / entrypoint))
    assert flow.name == "execute-plan"
    assert {"plan_path", "repo", "agent", "schedule", "reviewer"} <= set(flow.parameters.properties)
    assert flow.parameters.required == ["plan_path"]


def test_repo_that_is_not_git_is_a_clear_error(tmp_path, capsys):
    plan = write_plan(tmp_path / "plan.yaml", """\
        name: nowhere
        phases:
          - name: one
            tasks:
              - {id: "1", title: only, files: [a.txt], run: "true"}
        """)
    (tmp_path / "plain").mkdir()

    code, status, err = run_cli(capsys, str(plan), "--repo", str(tmp_path / "plain"))

    assert code == 2 and status is None
    assert "is not inside a git repository" in err
