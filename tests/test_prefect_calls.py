"""Prefect calls that buy nothing are not made: the ``agent:*`` tag (and with it the lease-based
tag slot Prefect takes over the API for each tag of a task run) only when a tag limit exists for
it, the task built once per agent kind, and the context artifact written per phase and at the
end of the run, not after every task of a sequential phase."""

from __future__ import annotations

from pathlib import Path

import pytest
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
