"""Many agents and several runs at once on one repository: a parallel phase of 8 tasks with
``--max-parallel 8``, and two ``planflow run`` of different plans started together. No git
error, every run completes with its stack intact. The issue's sizes (32 tasks, three runs) are
``scripts/reliability.py`` (``make reliability``); the mechanism is ``tests/crashkit.py``."""

from __future__ import annotations

import os

from crashkit import concurrent_runs, parallel_run


def test_a_wide_parallel_phase_stacks_every_task(prefect_api, tmp_path):
    figures = parallel_run(tmp_path, dict(os.environ, PREFECT_API_URL=prefect_api), 8)

    assert figures["exit"] == 0 and figures["completed"], figures
    assert figures["git_errors"] == 0 and figures["branches"] == 8, figures
    assert figures["all_files_on_tip"] and figures["stack_intact"], figures


def test_two_runs_at_once_on_one_repository(prefect_api, tmp_path):
    figures = concurrent_runs(tmp_path, dict(os.environ, PREFECT_API_URL=prefect_api), 2)

    assert figures["completed"] == 2 and figures["git_errors"] == 0, figures
    assert figures["stacks_intact"] == 2, figures
