"""Starting a run from ``planflow mcp`` so that the tool call returns at once and the run
outlives the MCP session.

A run goes to its deployment (``execute-plan``, ``write-spec``, ``write-plan``) when the
Prefect server has it and a worker of the ``planflow`` pool is online; otherwise it is a
``planflow run|spec|plan`` process started detached (its own session, stdin ``/dev/null``,
output to files in the run's state folder), against the same server when there is one (the
flow run is created here first, so its UI URL is known at once: ``prefect_env.FLOW_RUN_VAR``),
else the process picks its server itself (``prefect_env.prepare_prefect``: planflow's local
server, started when none runs) and its UI URL is not known here. Which server:
``prefect_api.server_url``.

The launch record ``<state dir>/runs/{run_id}/launch.json`` says how the run went (``Launch``);
``watch`` reads it. A run that is executing (its run lock held, or a launched process or flow
run not finished) is not started twice: ``RunInProgress``.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from gitops.runlock import RunInProgress, hold_run_lock
from planflow.agentside import prefect_api
from planflow.prefect_env import FLOW_RUN_VAR

CHILDREN: dict[int, subprocess.Popen] = {}
"""The processes this server started, by pid, so that their exit codes can be read."""


class Launch(BaseModel):
    """How run ``run_id`` was started: ``kind`` (which command), ``mode`` (``deployment``: a
    worker runs flow run ``flow_run_id``; ``local``: process ``pid``, whose start time in clock
    ticks since boot is ``proc_start``), the flow run's ``ui_url`` (None when unknown), the
    process's ``log_path`` (stderr) and ``out_path`` (stdout: the command's JSON), ``started_at``
    (UNIX seconds) and ``cancelled_at``."""

    run_id: str
    kind: Literal["execute", "spec", "plan"]
    mode: Literal["deployment", "local"]
    flow_run_id: str | None = None
    ui_url: str | None = None
    pid: int | None = None
    proc_start: int | None = None
    log_path: str | None = None
    out_path: str | None = None
    started_at: float
    cancelled_at: float | None = None


@dataclass
class Job:
    """A run to start: ``kind``, ``run_id``, the ``planflow`` command-line arguments of the
    local process (``argv``), the ``deployment`` (``flow/deployment``), the flow's parameters
    model ``params`` and ``flow``, a function returning the flow object (imports Prefect)."""

    kind: Literal["execute", "spec", "plan"]
    run_id: str
    argv: list[str]
    deployment: str
    params: BaseModel
    flow: Callable[[], Any]


def run_dir(state_dir: Path, run_id: str) -> Path:
    """The run's state folder."""
    return state_dir / "runs" / run_id


def read_launch(state_dir: Path, run_id: str) -> Launch | None:
    """The launch record of ``run_id``, or None when ``planflow mcp`` did not start it."""
    path = run_dir(state_dir, run_id) / "launch.json"
    return Launch.model_validate_json(path.read_text()) if path.is_file() else None


def write_launch(state_dir: Path, launch: Launch) -> None:
    """Write (atomically) the launch record of ``launch.run_id``."""
    path = run_dir(state_dir, launch.run_id) / "launch.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_suffix(".tmp")
    scratch.write_text(launch.model_dump_json(indent=2))
    scratch.replace(path)


def start(job: Job, root: Path, state_dir: Path) -> Launch:
    """Start ``job`` on the repository at ``root`` (see the module docstring); returns the
    launch record, written. Raises RunInProgress when the run is executing,
    ``prefect_api.PrefectUnreachable`` when the configured server does not answer, OSError when
    the process cannot be started."""
    with _launching(state_dir, job.run_id):
        busy = executing_message(state_dir, job.run_id)
        if busy:
            raise RunInProgress(busy)
        url = prefect_api.server_url()
        parameters = job.params.model_dump(mode="json")
        deployment = prefect_api.ready_deployment(job.deployment) if url else None
        if deployment is not None:
            flow_run = prefect_api.run_deployment_now(deployment, parameters)
            launch = Launch(run_id=job.run_id, kind=job.kind, mode="deployment",
                            flow_run_id=str(flow_run.id), ui_url=prefect_api.ui_url(str(flow_run.id)),
                            started_at=time.time())
        else:
            env = dict(os.environ)
            flow_run_id = None
            if url:
                flow_run_id = str(prefect_api.create_flow_run(job.flow(), parameters).id)
                env[FLOW_RUN_VAR] = flow_run_id
            folder = run_dir(state_dir, job.run_id)
            log, out = folder / "launch.log", folder / "launch.out.json"
            pid = spawn_detached([sys.executable, "-m", "planflow.cli", *job.argv], root, env, log, out)
            launch = Launch(run_id=job.run_id, kind=job.kind, mode="local", flow_run_id=flow_run_id,
                            ui_url=prefect_api.ui_url(flow_run_id) if flow_run_id else None,
                            pid=pid, proc_start=process_start(pid), log_path=str(log),
                            out_path=str(out), started_at=time.time())
        write_launch(state_dir, launch)
    return launch


def spawn_detached(argv: list[str], cwd: Path, env: dict[str, str], log: Path, out: Path) -> int:
    """Start ``argv`` in ``cwd`` in a new session (signals to this server's process group do
    not reach it, and it goes on when this server exits), stdin ``/dev/null``, stdout to ``out``
    and stderr to ``log`` (both truncated); returns its pid. Raises OSError when it cannot start."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as err_file, out.open("wb") as out_file:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out_file,
                                stderr=err_file, start_new_session=True)
    CHILDREN[proc.pid] = proc
    return proc.pid


def process_start(pid: int) -> int | None:
    """The start time of process ``pid`` (clock ticks since boot, ``/proc/PID/stat`` field 22),
    or None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def process_alive(launch: Launch) -> bool:
    """Whether the launched process still runs: for a child of this server, until it has
    been reaped (its exit code is then known); for another's, until it is a zombie or its pid
    names a newer process."""
    if launch.pid is None:
        return False
    child = CHILDREN.get(launch.pid)
    if child is not None:
        return child.poll() is None
    try:
        state = Path(f"/proc/{launch.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z" and process_start(launch.pid) == launch.proc_start


def exit_code(launch: Launch) -> int | None:
    """The launched process's exit code when this server started it and it has ended."""
    child = CHILDREN.get(launch.pid) if launch.pid else None
    return child.poll() if child is not None else None


def executing_message(state_dir: Path, run_id: str) -> str | None:
    """Why run ``run_id`` counts as executing (its run lock is held; or its launched process
    runs, or its flow run has not finished), or None when it is not."""
    try:
        with hold_run_lock(state_dir, run_id):
            pass
    except RunInProgress as exc:
        return str(exc)
    launch = read_launch(state_dir, run_id)
    if launch is None:
        return None
    if launch.mode == "local" and process_alive(launch):
        return (f"run {run_id} is already executing (pid {launch.pid}); wait for it or stop it"
                " first (cancel_run)")
    if launch.mode == "deployment":
        state, final = prefect_api.flow_run_state(launch.flow_run_id)
        if not final:
            return (f"run {run_id} is already executing (flow run {launch.flow_run_id}, {state});"
                    " wait for it or stop it first (cancel_run)")
    return None


class _launching:
    """Holds ``runs/{run_id}/launch.lock`` (an flock) so two tool calls cannot start one run
    between the check and the start."""

    def __init__(self, state_dir: Path, run_id: str) -> None:
        self.path = run_dir(state_dir, run_id) / "launch.lock"

    def __enter__(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)
