"""``--schedule dag`` and ``--schedule waves`` end to end: real git repositories, real Prefect
(the session's test server), real shell agents. Stack order, bases, resume from the cache,
failures, conflicts."""

from __future__ import annotations

import time

import pytest

from runs import git, make_repo, run_cli, write_plan

pytestmark = pytest.mark.usefixtures("prefect_api")

WAIT_FOR_MARK = ("for i in $(seq 150); do [ -f {mark} ] && break; sleep 0.1; done; "
                 "[ -f {mark} ] || {{ echo c never started >&2; exit 1; }}; echo b > b.txt")
"""Task b's command: finish only once task c has run (c creates the mark)."""


def plan_text(mark, calls) -> str:
    log = f'echo "$PLANFLOW_TASK_ID" >> {calls}; '
    return f"""\
        name: dag
        run_id: da9da9
        phases:
          - name: one
            strategy: parallel
            tasks:
              - {{id: a, title: first, files: [a.txt], run: '{log}echo a > a.txt'}}
              - {{id: b, title: slow, files: [b.txt], run: '{log}{WAIT_FOR_MARK.format(mark=mark)}'}}
          - name: two
            strategy: parallel
            tasks:
              - {{id: c, title: after-a, files: [c.txt], depends_on: [a],
                 run: '{log}touch {mark}; if [ -f b.txt ]; then echo saw-b; else echo no-b; fi > c.txt'}}
              - {{id: d, title: after-b-and-c, files: [d.txt], depends_on: [b, c], run: '{log}echo d > d.txt'}}
        """


def ui_task_runs(*flow_run_names: str, expected: int = 4) -> dict[str, dict[str, set[str]]]:
    """``{flow run name: {task run name: names of the task runs it waits for}}`` for the flow
    runs ``flow_run_names`` (polled until ``expected`` task runs with resolved edges arrived)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (FlowRunFilter, FlowRunFilterName, TaskRunFilter,
                                                TaskRunFilterFlowRunId)

    found: dict[str, dict[str, set[str]]] = {}
    with get_client(sync_client=True) as client:
        flow_runs = {run.id: run.name for run in client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=list(flow_run_names))))}
        assert len(flow_runs) == len(flow_run_names), flow_runs
        for _ in range(50):
            runs = client.read_task_runs(task_run_filter=TaskRunFilter(
                flow_run_id=TaskRunFilterFlowRunId(any_=list(flow_runs))))
            names = {run.id: run.name for run in runs}
            found = {name: {} for name in flow_runs.values()}
            for run in runs:
                found[flow_runs[run.flow_run_id]][run.name] = {
                    names.get(link.id, "?") for link in run.task_inputs.get("wait_for", [])}
            waits = [w for runs_of in found.values() for w in runs_of.values()]
            if len(runs) == expected and "?" not in set().union(*waits):
                break
            time.sleep(0.2)
    return found


def phase_parent(flow_run_name: str) -> str:
    """The name of the flow run whose subflow run ``flow_run_name`` is."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    with get_client(sync_client=True) as client:
        (run,) = client.read_flow_runs(flow_run_filter=FlowRunFilter(
            name=FlowRunFilterName(any_=[flow_run_name])))
        parent = client.read_task_run(run.parent_task_run_id)
        return client.read_flow_run(parent.flow_run_id).name


def test_dag_starts_a_task_when_its_dependencies_are_stacked_and_resumes_from_the_cache(tmp_path, capsys):
    repo = make_repo(tmp_path / "repo")
    head = git(repo, "rev-parse", "HEAD")
    calls = tmp_path / "calls.log"
    plan = write_plan(tmp_path / "plan.yaml", plan_text(tmp_path / "c-ran", calls))

    code, status, err = run_cli(capsys, str(plan), "--repo", str(repo), "--retries", "0")

    # c ran while b was still running (b waits for c's mark); the plan's dependencies are
    # explicit, so dag is the default
    assert code == 0, err
    assert status["stack"] == ["da9da9-task-a-first", "da9da9-task-b-slow",
                               "da9da9-task-c-after-a", "da9da9-task-d-after-b-and-c"]
    tips = [git(repo, "rev-parse", branch) for branch in status["stack"]]
    chain = git(repo, "rev-list", "--first-parent", "--max-count=5", tips[-1]).split()
    assert chain == list(reversed(tips)) + [head]
    # c started from the stack prefix ending at a (without b), d from the prefix ending at c
    c_work = git(repo, "rev-parse", "refs/planflow/da9da9/task-c")
    assert git(repo, "rev-parse", f"{c_work}^") == tips[0]
    assert git(repo, "show", f"{tips[2]}:c.txt") == "no-b"
    assert git(repo, "rev-parse", "refs/planflow/da9da9/task-d^") == tips[2]
    assert "Traceback" not in err
    # each phase its own subflow run holding its task runs; the edges cross the phases
    assert ui_task_runs("da9da9-phase-1", "da9da9-phase-2") == {
        "da9da9-phase-1": {"a first": set(), "b slow": set()},
        "da9da9-phase-2": {"c after-a": {"a first"}, "d after-b-and-c": {"b slow", "c after-a"}}}
    assert phase_parent("da9da9-phase-1") == phase_parent("da9da9-phase-2") == "da9da9-dag"

    again = run_cli(capsys, str(plan), "--repo", str(repo))

    assert again[0] == 0, again[2]
    assert sorted(calls.read_text().split()) == ["a", "b", "c", "d"]
    assert all(task["cached"] for task in again[1]["tasks"])
    assert [git(repo, "rev-parse", branch) for branch in again[1]["stack"]] == tips


def test_waves_schedule_waits_for_the_whole_wave(tmp_path, capsys):
    repo = make_repo(tmp_path / "repo")
    plan = write_plan(tmp_path / "plan.yaml", """\
        name: waves
        run_id: a0a0a0
        phases:
          - name: one
            strategy: parallel
            tasks:
              - {id: a, title: first, files: [a.txt], run: "echo a > a.txt"}
              - {id: b, title: second, files: [b.txt], run: "sleep 1; echo b > b.txt"}
          - name: two
            strategy: parallel
            tasks:
              - {id: c, title: third, files: [c.txt], depends_on: [a],
                 run: "if [ -f b.txt ]; then echo saw-b; else echo no-b; fi > c.txt"}
        """)

    code, status, err = run_cli(capsys, str(plan), "--repo", str(repo), "--schedule", "waves")

    assert code == 0, err
    assert status["stack"] == ["a0a0a0-task-a-first", "a0a0a0-task-b-second", "a0a0a0-task-c-third"]
    assert git(repo, "show", f"{status['stack'][2]}:c.txt") == "saw-b"


def test_a_failed_task_stops_its_dependants_and_not_the_others(tmp_path, capsys):
    repo = make_repo(tmp_path / "repo")
    plan = write_plan(tmp_path / "plan.yaml", """\
        name: failing
        phases:
          - name: one
            strategy: parallel
            tasks:
              - {id: a, title: bad, files: [a.txt], run: "echo half > a.txt; exit 3"}
              - {id: b, title: good, files: [b.txt], run: "sleep 1; echo b > b.txt"}
          - name: two
            strategy: parallel
            tasks:
              - {id: c, title: after-bad, files: [c.txt], depends_on: [a], run: "echo c > c.txt"}
              - {id: d, title: after-good, files: [d.txt], depends_on: [b], run: "echo d > d.txt"}
        """)

    code, status, err = run_cli(capsys, str(plan), "--repo", str(repo), "--retries", "0",
                                "--schedule", "dag")

    assert code == 1
    assert status["status"] == "failed"
    states = {t["id"]: t["state"] for t in status["tasks"]}
    assert states == {"a": "failed", "b": "done", "c": "skipped", "d": "done"}
    assert "depends on task a" in next(t for t in status["tasks"] if t["id"] == "c")["reason"]
    assert [branch.rsplit("-task-", 1)[1] for branch in status["stack"]] == ["b-good", "d-after-good"]
    assert "task(s) a failed" in status["output"]
    worktree = next((repo / ".worktrees").glob("*-task-a"))
    assert (worktree / "a.txt").read_text() == "half\n"


def test_conflict_stops_the_dag_with_a_report_and_loses_nothing(tmp_path, capsys):
    repo = make_repo(tmp_path / "repo")
    plan = write_plan(tmp_path / "plan.yaml", """\
        name: conflict
        phases:
          - name: one
            strategy: parallel
            tasks:
              - {id: "1", title: left, files: [shared.txt], run: "echo left > shared.txt"}
              - {id: "2", title: right, files: [shared.txt], run: "sleep 1; echo right > shared.txt"}
          - name: two
            tasks:
              - {id: "3", title: later, files: [c.txt], depends_on: ["2"], run: "echo c > c.txt"}
        """)

    code, status, err = run_cli(capsys, str(plan), "--repo", str(repo), "--allow-overlap")

    assert code == 1
    assert "1" in status["conflict"] and "2" in status["conflict"] and "shared.txt" in status["conflict"]
    assert "Traceback" not in err
    states = {t["id"]: t["state"] for t in status["tasks"]}
    assert states == {"1": "done", "2": "done", "3": "skipped"}
    branches = {t["id"]: t["branch"] for t in status["tasks"]}
    assert git(repo, "show", f"{branches['1']}:shared.txt") == "left"
    assert git(repo, "show", f"{branches['2']}:shared.txt") == "right"
    assert git(repo, "status", "--porcelain") == ""


def test_budget_stops_new_tasks_in_the_dag(tmp_path, capsys):
    from blocks.agent_config import AgentConfig
    from test_agent_runs import executable, result_event

    repo = make_repo(tmp_path / "repo")
    spend = executable(tmp_path / "spend", f"echo $RANDOM > out-$(basename $PWD).txt; echo '{result_event(0.6)}'\n")
    AgentConfig(kind="claude", executable=str(spend)).save("dag-spender", overwrite=True)
    plan = write_plan(tmp_path / "plan.yaml", """\
        name: budget
        phases:
          - name: one
            strategy: parallel
            tasks:
              - {id: "1", title: first}
              - {id: "2", title: second}
          - name: two
            tasks:
              - {id: "3", title: third, depends_on: ["1"]}
        """)

    code, status, err = run_cli(capsys, str(plan), "--repo", str(repo), "--agent-block", "dag-spender",
                                "--budget-usd", "1.0", "--max-parallel", "1", "--schedule", "dag")

    assert code == 1
    assert status["status"] == "stopped" and "passed the budget $1.0" in status["output"]
    assert [t["state"] for t in status["tasks"]] == ["done", "done", "skipped"]
    assert len(status["stack"]) == 2


def test_with_a_review_after_every_phase_the_dag_runs_inside_each_phase(tmp_path, capsys):
    repo = make_repo(tmp_path / "repo")
    calls, mark = tmp_path / "calls.log", tmp_path / "c-ran"
    log = f'echo "$PLANFLOW_TASK_ID" >> {calls}; '
    plan = write_plan(tmp_path / "plan.yaml", f"""\
        name: reviewed dag
        run_id: da9db0
        phases:
          - name: one
            strategy: parallel
            tasks:
              - {{id: a, title: first, files: [a.txt], run: '{log}echo a > a.txt'}}
              - {{id: b, title: slow, files: [b.txt], run: '{log}{WAIT_FOR_MARK.format(mark=mark)}'}}
              - {{id: c, title: after-a, files: [c.txt], depends_on: [a],
                 run: '{log}touch {mark}; echo c > c.txt'}}
          - name: two
            tasks:
              - {{id: d, title: after-c, files: [d.txt], depends_on: [c], run: '{log}echo d > d.txt'}}
        """)

    code, status, err = run_cli(capsys, str(plan), "--repo", str(repo), "--retries", "0",
                                "--schedule", "dag", "--reviewer", "command",
                                "--review-command", f"echo review >> {calls}")

    # inside phase one c started while b was still running (b waits for c's mark); phase two
    # started only after phase one's review, from its tip
    assert code == 0, err
    assert [branch.rsplit("-task-", 1)[1] for branch in status["stack"]] == [
        "a-first", "b-slow", "c-after-a", "d-after-c"]
    assert calls.read_text().split()[3:] == ["review", "d", "review"]
    tips = [git(repo, "rev-parse", branch) for branch in status["stack"]]
    assert git(repo, "rev-parse", "refs/planflow/da9db0/task-c^") == tips[0]
    assert git(repo, "rev-parse", "refs/planflow/da9db0/task-d^") == tips[2]
