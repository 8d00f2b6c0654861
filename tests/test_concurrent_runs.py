"""Many agents and several runs at once on one repository: a parallel phase of 8 tasks with
``--max-parallel 8``, and two ``planflow run`` of different plans started together. No git
error, every run completes with its stack intact. Two starts of one run id: the second flow
run ends Cancelled (the run id's concurrency limit), and a first one killed with ``kill -9``
blocks nothing. The issue's sizes (32 tasks, three runs) are
``scripts/reliability.py`` (``make reliability``); the mechanism is ``tests/crashkit.py``."""

from __future__ import annotations

import os

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName
from prefect.settings import PREFECT_API_URL, temporary_settings

from crashkit import BLOCKING_AGENT, Scenario, concurrent_runs, kill_group, parallel_run
from planflow.run_result import EXIT_RUNNING


def test_a_wide_parallel_phase_stacks_every_task(prefect_api, tmp_path):
    figures = parallel_run(tmp_path, dict(os.environ, PREFECT_API_URL=prefect_api), 8)

    assert figures["exit"] == 0 and figures["completed"], figures
    assert figures["git_errors"] == 0 and figures["branches"] == 8, figures
    assert figures["all_files_on_tip"] and figures["stack_intact"], figures


def test_two_runs_at_once_on_one_repository(prefect_api, tmp_path):
    figures = concurrent_runs(tmp_path, dict(os.environ, PREFECT_API_URL=prefect_api), 2)

    assert figures["completed"] == 2 and figures["git_errors"] == 0, figures
    assert figures["stacks_intact"] == 2, figures


def test_second_start_of_a_run_id_ends_cancelled_and_a_killed_first_blocks_nothing(prefect_api, tmp_path):
    runs = Scenario(tmp_path, dict(os.environ, PREFECT_API_URL=prefect_api),
                    [("sequential", ["1.1"])], run_id="c1c1c1", agent=BLOCKING_AGENT)
    first = runs.start_working()
    assert runs.calls() == ["1.1"], runs.stderr(first)

    code, err = runs.run(timeout_s=240)
    with temporary_settings({PREFECT_API_URL: prefect_api}), get_client(sync_client=True) as client:
        runs_of_id = client.read_flow_runs(flow_run_filter=FlowRunFilter(
            name=FlowRunFilterName(like_="c1c1c1")))
        held = client.read_global_concurrency_limit_by_name("planflow-run-c1c1c1")
    cancelled = [run for run in runs_of_id if run.state.is_cancelled()]
    kill_group(first)  # kill -9 while it holds the run id
    first.wait()
    (runs.ctl / "go").touch()
    again, again_err = runs.run(timeout_s=240)
    with temporary_settings({PREFECT_API_URL: prefect_api}), get_client(sync_client=True) as client:
        after = client.read_global_concurrency_limit_by_name("planflow-run-c1c1c1")

    assert code == EXIT_RUNNING and f"run c1c1c1 is already executing (pid {first.pid})" in err
    assert (held.limit, held.active_slots) == (1, 1)
    [loser] = cancelled
    assert f"run c1c1c1 is already executing (pid {first.pid}) in flow run" in loser.state.message
    assert again == 0, again_err  # the dead holder's lease released at once, not after 60 s
    assert runs.status()["status"] == "completed"
    assert after.active_slots == 0
