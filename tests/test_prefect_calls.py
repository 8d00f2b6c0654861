"""Prefect calls that buy nothing are not made: the ``agent:*`` tag (and with it the lease-based
tag slot Prefect takes over the API for each tag of a task run) only when a tag limit exists for
it, the task built once per agent kind, and the context artifact written per phase and at the
end of the run, not after every task of a sequential phase."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from prefect import Task
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.exceptions import ObjectNotFound

from flows.context import ExecuteParams, RunContext
from flows.phase import plan_task_runner
from runs import make_repo, run_cli, write_plan

pytestmark = pytest.mark.usefixtures("prefect_api")


def _context(tmp_path: Path) -> RunContext:
    return RunContext(params=ExecuteParams(plan_path="plan.yaml", retries=2), run_id="c0ffee",
                      repo=tmp_path, plan_name="calls", plan_path=None, spec_path=None,
                      status_path=tmp_path / "status.json")


def test_agent_tag_only_with_a_tag_limit_and_the_task_built_once(tmp_path):
    runner = plan_task_runner(_context(tmp_path))
    untagged = runner.for_agent("calls-untagged")
    assert untagged.tags == set()
    assert untagged.retries == 2
    assert runner.for_agent("calls-untagged") is untagged  # built once per agent kind

    with get_client(sync_client=True) as client:
        client.create_concurrency_limit(tag="agent:calls-limited", concurrency_limit=2)
        try:
            limited = plan_task_runner(_context(tmp_path)).for_agent("calls-limited")
        finally:
            client.delete_concurrency_limit_by_tag("agent:calls-limited")
        with pytest.raises(ObjectNotFound):
            client.read_concurrency_limit_by_tag("agent:calls-limited")
    assert limited.tags == {"agent:calls-limited"}
    assert limited.retries == 2


def test_context_artifact_per_phase_and_at_the_end_not_per_task(tmp_path, capsys):
    repo = make_repo(tmp_path / "repo")
    tasks = "\n".join(f'              - {{id: "{n}", title: t{n}, files: [f{n}.txt], run: "echo {n} > f{n}.txt"}}'
                      for n in range(1, 5))
    plan = write_plan(tmp_path / "plan.yaml", f"""\
        name: artifacts
        run_id: 0a7e5c
        phases:
          - name: one
            strategy: sequential
            tasks:
{tasks}
        """)

    code, status, err = run_cli(capsys, str(plan), "--repo", str(repo))

    assert code == 0, err
    assert status["status"] == "completed"
    with get_client(sync_client=True) as client:
        versions = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["planflow-0a7e5c-context"])),
            limit=50)
    # one version when the phase's last task is recorded, one at the end of the run; 4 tasks
    # (4 waves of a sequential phase) would have made 4 or more
    assert len(versions) == 2, [v.created for v in versions]
    assert all("Phase 1 (tasks 1, 2, 3, 4)" in version.data for version in versions)


@pytest.mark.parametrize("schedule", ["phases", "dag"])
def test_rerun_of_a_finished_plan_creates_no_task_run(tmp_path, capsys, monkeypatch, caplog, schedule):
    repo = make_repo(tmp_path / "repo")
    plan = write_plan(tmp_path / "plan.yaml", f"""\
        name: again
        run_id: a6a1{"0d" if schedule == "dag" else "0f"}
        phases:
          - name: one
            strategy: parallel
            tasks:
              - {{id: "1.1", title: left, files: [a.txt], run: "echo a > a.txt"}}
              - {{id: "1.2", title: right, files: [b.txt], run: "echo b > b.txt"}}
          - name: two
            tasks:
              - {{id: "2.1", title: after, files: [c.txt], depends_on: ["1.1"], run: "echo c > c.txt"}}
        """)
    submitted = []
    submit = Task.submit

    def counted(self, *args, **kwargs):
        submitted.append(self.name)
        return submit(self, *args, **kwargs)

    monkeypatch.setattr(Task, "submit", counted)
    args = (str(plan), "--repo", str(repo), "--schedule", schedule)
    first = run_cli(capsys, *args)
    assert first[0] == 0, first[2]
    assert submitted == ["run-plan-task"] * 3

    caplog.set_level(logging.INFO, logger="prefect.flow_runs")
    second = run_cli(capsys, *args)

    assert second[0] == 0, second[2]
    assert submitted == ["run-plan-task"] * 3  # the re-run created no task run
    assert all(task["cached"] for task in second[1]["tasks"])
    assert second[1]["stack"] == first[1]["stack"]
    assert [t["commit"] for t in second[1]["tasks"]] == [t["commit"] for t in first[1]["tasks"]]
    taken = [r.getMessage() for r in caplog.records if "done in an earlier run" in r.getMessage()]
    expected = ["task(s) 1.1, 1.2 done in an earlier run", "task(s) 2.1 done in an earlier run"]
    if schedule == "dag":  # one subflow for the whole plan
        expected = ["task(s) 1.1, 1.2, 2.1 done in an earlier run"]
    assert [line.split(":")[0] for line in taken] == expected, taken
