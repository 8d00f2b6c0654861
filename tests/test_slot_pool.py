"""Agent slots (``tasks.limits.agent_slot`` through ``tasks.slot_pool.SlotPool``) with Prefect's
temporary local server, in child processes: a slot is kept between one agent and the next,
goes back to the limit at the end of the run (``agent_limit``), slots taken ahead of a wave
(``reserve_agent_slots``) stop at the limit without waiting and are the ones the agents get, and
the exit leaves no server behind; and (on the session's server) a limit another run created a
moment ago is kept."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

TWO_AGENTS = """
from prefect.client.orchestration import get_client
from tasks.limits import AGENT_LIMIT, agent_limit, agent_slot

def taken():
    with get_client(sync_client=True) as client:
        return client.read_global_concurrency_limit_by_name(AGENT_LIMIT).active_slots

with agent_limit():
    with agent_slot():
        pass
    with agent_slot():
        pass
    print(taken())
print(taken())
"""

RESERVED = """
from prefect.client.orchestration import get_client
from tasks.limits import AGENT_LIMIT, agent_limit, agent_slot, reserve_agent_slots

def taken():
    with get_client(sync_client=True) as client:
        return client.read_global_concurrency_limit_by_name(AGENT_LIMIT).active_slots

with agent_limit():
    print(reserve_agent_slots(5), taken())
    print(reserve_agent_slots(2), taken())
    with agent_slot(), agent_slot(), agent_slot():
        print(taken())
print(taken())
"""


def _python(script: str, env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip()


def _servers_of(home: Path) -> list[int]:
    """Live processes whose environment has ``PREFECT_HOME=home``."""
    needle = f"PREFECT_HOME={home}".encode()
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_a_slot_is_kept_for_the_next_agent_and_given_back_at_the_end_of_the_run(tmp_path):
    home = tmp_path / "prefect"
    env = {name: value for name, value in os.environ.items() if name != "PREFECT_API_URL"}
    env |= {"PREFECT_HOME": str(home), "PYTHONPATH": str(ROOT), "PLANFLOW_AGENT_LIMIT": "3"}
    # both agents used one slot, still held for a next agent inside the run, given back after it
    assert _python(TWO_AGENTS, env).split() == ["1", "0"]
    # and the exit left no temporary server behind
    assert _servers_of(home) == []


def test_slots_reserved_ahead_of_a_wave_stop_at_the_limit_and_are_lent_to_its_agents(tmp_path):
    env = {name: value for name, value in os.environ.items() if name != "PREFECT_API_URL"}
    env |= {"PREFECT_HOME": str(tmp_path / "prefect"), "PYTHONPATH": str(ROOT),
            "PLANFLOW_AGENT_LIMIT": "3"}
    lines = _python(RESERVED, env).splitlines()
    # 5 asked, 3 taken (the limit is full: no wait); 2 asked while 3 are kept: none taken
    assert lines[:2] == ["3 3", "0 3"]
    # three agents at once hold the reserved slots (a fourth request would have waited forever)
    assert lines[2:] == ["3", "0"]


def test_an_agent_limit_created_by_a_run_starting_at_the_same_moment_is_kept(prefect_api, monkeypatch):
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.exceptions import ObjectNotFound

    from tasks.limits import ensure_agent_limit

    ensure_agent_limit()  # the other run's: the limit exists now

    def not_yet(self, name):  # what this run read a moment before the other run created it
        raise ObjectNotFound(None)

    monkeypatch.setattr(SyncPrefectClient, "read_global_concurrency_limit_by_name", not_yet)
    ensure_agent_limit()  # its create meets the existing limit: no ObjectAlreadyExists
