"""Two starts of the same plan at once: one runs, the other prints "run X is already
executing (pid N)" with the winner's pid and exits 4, printing no status; and ``planflow run``
never prints a status file its own run did not write and finish: a run that ends before it
(here on a disk with less free space than it needs) prints the error that ended it."""

from __future__ import annotations

import os
import time

from crashkit import BLOCKING_AGENT as BLOCKING, Scenario
from planflow.run_result import EXIT_DISK_FULL, EXIT_RUNNING


def scenario(tmp_path, prefect_api, **env) -> Scenario:
    return Scenario(tmp_path, dict(os.environ, PREFECT_API_URL=prefect_api, **env),
                    [("sequential", ["1.1"])], agent=BLOCKING)


def stdout(proc) -> str:
    return open(f"{proc.output}.out").read()


def test_the_second_start_is_refused_with_the_winners_pid(prefect_api, tmp_path):
    runs = scenario(tmp_path, prefect_api)
    first = runs.start_working()
    assert runs.calls() == ["1.1"], runs.stderr(first)

    code, err = runs.run(timeout_s=240)
    (runs.ctl / "go").touch()
    winner, winner_err = runs.finish(first)

    assert code == EXIT_RUNNING, err
    assert f"error: run c0ffee is already executing (pid {first.pid})" in err
    assert stdout_of_run(runs, 2) == ""  # not the winner's status
    assert winner == 0, winner_err
    assert runs.status()["status"] == "completed" and runs.calls() == ["1.1"]


def test_two_starts_at_the_same_moment_give_one_run(prefect_api, tmp_path):
    runs = scenario(tmp_path, prefect_api)
    procs = [runs.start(), runs.start()]
    deadline = time.monotonic() + 300
    while all(proc.poll() is None for proc in procs) and time.monotonic() < deadline:
        time.sleep(0.1)
    (runs.ctl / "go").touch()
    results = [runs.finish(proc) for proc in procs]

    codes = sorted(code for code, _ in results)
    assert codes == [0, EXIT_RUNNING], results
    loser = next(index for index, (code, _) in enumerate(results) if code == EXIT_RUNNING)
    winner = procs[1 - loser]
    assert f"run c0ffee is already executing (pid {winner.pid})" in results[loser][1]
    assert stdout(procs[loser]) == "" and '"status": "completed"' in stdout(winner)
    assert runs.calls() == ["1.1"]


def test_a_run_that_ends_before_its_status_prints_its_error_not_an_old_status(prefect_api, tmp_path):
    runs = scenario(tmp_path, prefect_api)
    (runs.ctl / "go").touch()
    code, err = runs.run(timeout_s=240)
    assert code == 0 and runs.status()["status"] == "completed", err

    runs.env["PLANFLOW_MIN_FREE_MB"] = str(10**12)  # more than any disk has
    code, err = runs.run(timeout_s=240)

    assert code == EXIT_DISK_FULL, err
    assert stdout_of_run(runs, 2) == ""  # the completed status of the first run is not this one's
    assert "error: the disk is full while starting the run" in err and "planflow needs at least" in err
    assert runs.status()["status"] == "completed"  # the old status, untouched


def stdout_of_run(runs: Scenario, number: int) -> str:
    """What the ``number``-th run of ``runs`` printed on stdout."""
    return (runs.ctl / f"run-{number}.out").read_text()
