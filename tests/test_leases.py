"""A run killed while its agent holds the only slot of the agent limit, on a temporary local
Prefect server (no ``PREFECT_API_URL``), does not block the next run: the dead run's lease is
on disk and expires, and the re-run gives its slot back (``tasks.leases``)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess

from crashkit import KillPoint, Scenario


def _active_slots(prefect_home) -> int:
    with sqlite3.connect(prefect_home / "prefect.db") as db:
        return db.execute("select active_slots from concurrency_limit_v2"
                          " where name = 'planflow-agents'").fetchone()[0]


def _run(scenario: Scenario, timeout_s: float) -> tuple[int | None, str]:
    """Run ``planflow run`` and wait for the process itself, not for its pipes: the temporary
    server of a killed run outlives it and holds them open until its session is killed."""
    proc = scenario.start()
    try:
        code: int | None = proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        code = None
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:  # nothing of the run left
        pass
    return code, proc.communicate()[1]


def test_a_killed_runs_slot_comes_back_on_a_local_server(tmp_path):
    home = tmp_path / "prefect-home"
    env = {name: value for name, value in os.environ.items()
           if name not in ("PREFECT_API_URL", "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE")}
    env |= {"PREFECT_HOME": str(home), "PLANFLOW_AGENT_LIMIT": "1"}
    scenario = Scenario(tmp_path / "run", env, [("sequential", ["1.1", "1.2"])])
    scenario.arm(KillPoint("agent", "agent", task="1.2"))

    killed, e1 = _run(scenario, 600)
    assert killed == -signal.SIGKILL, e1[-3000:]
    assert _active_slots(home) == 1  # the dead run's slot: the only one, still taken
    assert list((home / "concurrency_leases").glob("*-*.json"))

    code, err = _run(scenario, 240)

    assert code == 0, err
    assert scenario.status()["status"] == "completed"
    assert scenario.calls() == ["1.1", "1.2", "1.2"]
    assert _active_slots(home) == 0
