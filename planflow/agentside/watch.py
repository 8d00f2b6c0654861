"""A started run seen from ``planflow mcp``: its status with how it was launched, and its
cancellation (through Prefect; a local process also by a signal to its process group).
Cancelling keeps the run's worktrees and branches, as any failure does."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from agents.process import read_tail
from gitops.repo import Repository
from gitops.runlock import RunInProgress, hold_run_lock
from planflow.agentside import prefect_api
from planflow.agentside.launch import Launch, exit_code, process_alive, read_launch, write_launch
from planflow.cli import status_report
from planning.status import StatusStore, TaskState, read_status, status_path

GRACE_S = 10.0
"""Seconds a cancelled local process gets after SIGTERM before SIGKILL."""

WORKER_WAIT_S = 60.0
"""Seconds ``cancel`` waits for a worker to stop a cancelled deployment run."""


class NotExecuting(ValueError):
    """A run to cancel is not executing, or was not started by ``planflow mcp``."""


def executing(launch: Launch) -> tuple[bool, str | None]:
    """(whether the launched run still executes, its flow run's state name when known)."""
    state = None
    if launch.flow_run_id:
        state, final = prefect_api.flow_run_state(launch.flow_run_id)
        if launch.mode == "deployment":
            return not final, state
    return process_alive(launch), state


def run_report(repo: Repository, run_id: str) -> dict:
    """The status JSON of ``planflow status --json`` plus, for a run this server started,
    ``launch``: ``mode``, ``flow_run_id``, ``ui_url``, ``pid``, ``executing``,
    ``flow_run_state``, ``exit_code``, ``log`` and, for an authoring run that ended, ``result``
    (the command's JSON). Before the run writes its status, ``status`` is ``starting``; a run
    whose process ended without finishing is ``failed``, with the end of its log in ``output``.
    Raises FileNotFoundError (the CLI's message) for a run with neither status nor launch."""
    launch = read_launch(repo.state_dir, run_id)
    if launch is None:
        return status_report(repo.root, run_id)
    running, state = executing(launch)
    path = status_path(repo.state_dir, run_id)
    if path.is_file() and path.stat().st_mtime >= launch.started_at - 1:
        report = status_report(repo.root, run_id)
    else:
        report = {"run_id": run_id, "status": "starting", "output": "the run is starting"}
    report["launch"] = {"kind": launch.kind, "mode": launch.mode, "flow_run_id": launch.flow_run_id,
                        "ui_url": launch.ui_url, "pid": launch.pid, "executing": running,
                        "flow_run_state": state, "exit_code": exit_code(launch),
                        "log": launch.log_path, "cancelled": launch.cancelled_at is not None}
    if not running and report["status"] in ("running", "starting"):
        tail = last_lines(Path(launch.log_path)) if launch.log_path else state
        report["status"] = "failed"
        report["output"] = f"the run's process ended before the run finished: {tail}"
    out = Path(launch.out_path) if launch.out_path else None
    if not running and launch.kind != "execute" and out and out.is_file():
        try:
            report["result"] = json.loads(out.read_text())
        except ValueError:
            pass
    return report


def last_lines(log: Path, count: int = 5) -> str:
    """The last ``count`` non-empty lines of ``log`` (an error's message ends a traceback)."""
    lines = [line for line in read_tail(log, 4000).splitlines() if line.strip()] if log.is_file() else []
    return "\n".join(lines[-count:])


def cancel(repo: Repository, run_id: str) -> dict:
    """Cancel the run this server started as ``run_id``: its flow run goes to ``Cancelling``
    (a worker stops a deployment run), a local process gets SIGTERM, then SIGKILL after
    ``GRACE_S``, to its process group; agents it left running in the run's worktrees are
    killed; the status says ``failed``, cancelled. Worktrees and branches are kept.

    Returns ``run_id``, ``cancelled`` (True, or ``"requested"`` when a worker had not stopped
    the run within ``WORKER_WAIT_S``), ``killed_agents``, ``branches``, ``worktrees``,
    ``ui_url``. Raises NotExecuting when the run is not executing or was not started here,
    FileNotFoundError for an unknown run."""
    launch = read_launch(repo.state_dir, run_id)
    if launch is None:
        status_report(repo.root, run_id)
        raise NotExecuting(f"run {run_id} was not started by planflow mcp: stop it where it runs"
                           " (Ctrl-C in its terminal, or Cancel on its flow run in the Prefect UI)")
    running, state = executing(launch)
    if not running:
        status = run_report(repo, run_id)["status"]
        raise NotExecuting(f"run {run_id} is not executing (status: {status}); nothing to cancel")
    message = "cancelled through planflow mcp (cancel_run); worktrees and branches are kept"
    if launch.flow_run_id:
        prefect_api.set_cancel_state(launch.flow_run_id, final=False, message=message)
    if launch.mode == "local":
        _stop_group(launch)
    stopped = _wait(lambda: not executing(launch)[0], WORKER_WAIT_S if launch.mode == "deployment" else 0)
    killed = _finish(repo, run_id, message) if stopped else None
    if stopped and launch.mode == "local" and launch.flow_run_id:
        prefect_api.set_cancel_state(launch.flow_run_id, final=True, message=message)
    launch.cancelled_at = time.time()
    write_launch(repo.state_dir, launch)
    return {"run_id": run_id, "cancelled": True if killed is not None else "requested",
            "killed_agents": sorted(killed or {}), "branches": repo.branches(f"{run_id}-*"),
            "worktrees": sorted(str(p) for p in (repo.root / ".worktrees").glob(f"{run_id}-*")),
            "ui_url": launch.ui_url, "output": message}


def _stop_group(launch: Launch) -> None:
    """SIGTERM to the launched process's group, SIGKILL after ``GRACE_S`` if it still runs."""
    for sig, wait in ((signal.SIGTERM, GRACE_S), (signal.SIGKILL, GRACE_S)):
        try:
            os.killpg(launch.pid, sig)
        except ProcessLookupError:
            return
        if _wait(lambda: not process_alive(launch), wait):
            return


def _wait(done, limit_s: float) -> bool:
    """Poll ``done()`` every 0.2 s for at most ``limit_s`` seconds; its last answer."""
    deadline = time.monotonic() + limit_s
    while not done():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)
    return True


def _finish(repo: Repository, run_id: str, message: str) -> dict[int, str] | None:
    """Holding the run lock (the run's process is gone): kill the agents left in its
    worktrees and mark its status failed with ``message``. Returns {pid: command} killed, or
    None when the lock is still held."""
    from tasks.audit import kill_dead_run_agents

    try:
        with hold_run_lock(repo.state_dir, run_id):
            killed = kill_dead_run_agents(repo, run_id)
            path = status_path(repo.state_dir, run_id)
            if path.is_file():
                store = StatusStore(path, read_status(path))
                for task in store.status.tasks:
                    if task.state == TaskState.running:
                        store.update_task(task.id, state=TaskState.failed, error=message)
                store.update(status="failed", finished_at=time.time(), output=message)
            return killed
    except RunInProgress:
        return None
