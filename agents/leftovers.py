"""Processes an agent left running, found by a marker in their environment.

``run_process`` kills the agent's whole process group, but a daemon can leave the group
(``setsid``, double fork). Every agent process gets ``PLANFLOW_AGENT_MARKER=<token>`` (a fresh
token per run, ``AgentRequest.marker``); the environment is inherited by everything it starts,
so after the agent ends, any process whose ``/proc/<pid>/environ`` still holds the token is a
leftover. Linux only (elsewhere nothing is found). A process that clears its own environment
escapes this check; the reaper and the agent's PID namespace catch it (``agents.contain``),
this is the second line.

The token starts with a key of the agent's worktree (``worktree_key``), so the agents of a run
that was killed itself (``kill -9`` of planflow: the agents live in their own sessions and go
on) are found and killed by the next run of the same run id before it touches their worktrees
(``kill_worktree_agents``).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import signal
from pathlib import Path

MARKER_VAR = "PLANFLOW_AGENT_MARKER"
"""The environment variable carrying an agent run's marker token."""


def worktree_key(worktree: Path) -> str:
    """16 hex characters naming ``worktree`` (its absolute path) in the markers of its agents."""
    return hashlib.sha256(str(Path(worktree).resolve()).encode()).hexdigest()[:16]


def new_marker(worktree: Path) -> str:
    """A fresh, unguessable marker token for an agent run in ``worktree``:
    ``<worktree_key>-<32 hex>``."""
    return f"{worktree_key(worktree)}-{secrets.token_hex(16)}"


def find_marked(token: str, proc: Path = Path("/proc"), prefix: bool = False) -> dict[int, str]:
    """Live processes whose environment holds ``MARKER_VAR=token`` (with ``prefix``: a marker
    starting with ``token``): {pid: command line}."""
    needle = f"{MARKER_VAR}={token}".encode()
    found = {}
    for entry in proc.glob("[0-9]*"):
        try:
            variables = (entry / "environ").read_bytes().split(b"\0")
            if any(value == needle or (prefix and value.startswith(needle)) for value in variables):
                found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(
                    errors="replace").strip()
        except OSError:  # gone meanwhile, or not ours to read
            continue
    found.pop(os.getpid(), None)
    return found


def kill_marked(token: str, rounds: int = 5, prefix: bool = False) -> dict[int, str]:
    """SIGKILL every process marked with ``token`` (``prefix``: as in ``find_marked``), again
    while new ones appear (a leftover that forks while it is being killed), at most ``rounds``
    times. Returns {pid: command line} of the processes killed."""
    killed: dict[int, str] = {}
    for _ in range(rounds):
        found = {pid: cmd for pid, cmd in find_marked(token, prefix=prefix).items() if pid not in killed}
        if not found:
            break
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
        killed |= found
    return killed


def kill_worktree_agents(worktrees: list[Path]) -> dict[int, str]:
    """Kill every process an agent started in one of ``worktrees`` (call it holding the run lock
    of the run that owns them: they are a dead run's). Returns {pid: command line} killed."""
    killed: dict[int, str] = {}
    for worktree in worktrees:
        killed |= kill_marked(f"{worktree_key(worktree)}-", prefix=True)
    return killed
