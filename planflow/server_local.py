"""The local Prefect server planflow starts once and reuses, the way a Gradle daemon or
``prefect server start --background`` works.

Without ``PREFECT_API_URL``, ``planflow run|spec|plan|ship`` use the server recorded in
``<home>/server.json`` when its process still runs, runs this Prefect version and answers; else
they start ``prefect server start`` on ``127.0.0.1:PORT`` in a session of its own (it outlives
the command; ``planflow server stop`` ends it), with its own ``PREFECT_HOME`` (``<home>/prefect``)
and output in ``<home>/server.log``, and wait for its health check. An flock on
``<home>/server.lock`` makes two commands starting at once share one server. A port that answers
while no recorded server runs belongs to another program: reported (``ServerError``), never
taken over.

``<home>``: ``$PLANFLOW_SERVER_HOME``, else ``$XDG_STATE_HOME/planflow/server``, else
``~/.local/state/planflow/server``. Port: ``$PLANFLOW_SERVER_PORT`` (default 4200, Prefect's).
Wait limit: ``$PLANFLOW_SERVER_TIMEOUT`` seconds (default 600, which holds at load 10 on 2 cores).
Imports no Prefect (only its version, from the package metadata).
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path

from planflow.agentside.launch import process_start

DEFAULT_PORT = 4200
DEFAULT_TIMEOUT_S = 600.0
STOP_GRACE_S = 10.0
"""Seconds ``stop`` gives the server after SIGTERM before SIGKILL."""


class ServerError(RuntimeError):
    """The local server cannot be started or reached; the message says what failed and what
    to do."""


@dataclass
class ServerRecord:
    """A server planflow started: ``pid`` (its session leader, ``prefect server start``) and
    ``proc_start`` (that process's start time, clock ticks since boot), ``port``, ``prefect``
    (the Prefect version it runs), ``started_at`` (UNIX seconds)."""

    pid: int
    proc_start: int | None
    port: int
    prefect: str
    started_at: float

    @property
    def ui_url(self) -> str:
        """The Prefect UI, ``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """The value of ``PREFECT_API_URL`` for this server."""
        return f"{self.ui_url}/api"


def home() -> Path:
    """The local server's folder (see the module docstring), created."""
    explicit = os.environ.get("PLANFLOW_SERVER_HOME")
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    path = Path(explicit) if explicit else Path(state) / "planflow" / "server"
    path.mkdir(parents=True, exist_ok=True)
    return path


def port() -> int:
    """``$PLANFLOW_SERVER_PORT`` or 4200. Raises ServerError when it is no port number."""
    text = os.environ.get("PLANFLOW_SERVER_PORT") or str(DEFAULT_PORT)
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ServerError(f"PLANFLOW_SERVER_PORT={text} is no port number (fix: a number 1-65535)")
    return int(text)


def timeout_s() -> float:
    """``$PLANFLOW_SERVER_TIMEOUT`` (seconds) or 600. Raises ServerError when it is no number."""
    text = os.environ.get("PLANFLOW_SERVER_TIMEOUT") or str(DEFAULT_TIMEOUT_S)
    try:
        return float(text)
    except ValueError:
        raise ServerError(f"PLANFLOW_SERVER_TIMEOUT={text} is no number of seconds") from None


def log_path() -> Path:
    """The running (or last) server's stdout and stderr."""
    return home() / "server.log"


def read_record() -> ServerRecord | None:
    """The recorded server, or None when none was recorded (or the record is unreadable)."""
    try:
        return ServerRecord(**json.loads((home() / "server.json").read_text()))
    except (OSError, ValueError, TypeError):
        return None


def running() -> ServerRecord | None:
    """The recorded server when its process still runs (not whether it answers), else None."""
    record = read_record()
    return record if record is not None and _alive(record) else None


def answers(port_number: int, timeout: float = 2.0) -> bool:
    """Whether a Prefect server answers its health check on ``127.0.0.1:port_number``."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port_number}/api/health",
                                    timeout=timeout) as response:
            return response.status == 200 and response.read().strip() == b"true"
    except (OSError, ValueError):
        return False


def ensure(say: Callable[[str], object]) -> ServerRecord:
    """The local server, reused or started (module docstring); ``say`` gets the line that
    tells the user a server starts. Raises ServerError when the port is another program's, or
    the server exits or does not answer within ``timeout_s()`` (the process is then stopped)."""
    wanted, limit = port(), timeout_s()
    with _locked():
        record = running()
        if record is not None and record.prefect != version("prefect"):
            say(f"planflow: replacing the local Prefect server (Prefect {record.prefect}, this is"
                f" {version('prefect')})")
            _stop(record)
            record = None
        if record is not None:
            if _wait_healthy(record, limit):
                return record
            _give_up(record, limit)
        if _port_taken(wanted):
            raise ServerError(_port_message(wanted))
        record = _start(wanted)
        say(f"planflow: starting a local Prefect server in the background: UI {record.ui_url}"
            f" (log {log_path()}; `planflow server stop` stops it)")
        if not _wait_healthy(record, limit):
            _give_up(record, limit)
        return record


def stop() -> ServerRecord | None:
    """Stop the recorded server (SIGTERM to its session, SIGKILL after ``STOP_GRACE_S``) and
    forget it; returns it, or None when none ran."""
    with _locked():
        record = running()
        if record is not None:
            _stop(record)
        (home() / "server.json").unlink(missing_ok=True)
        return record


def _start(port_number: int) -> ServerRecord:
    env = {key: value for key, value in os.environ.items()
           if key not in ("PREFECT_API_URL", "PREFECT_HOME", "PLANFLOW_GUARD")}
    env.update(PREFECT_HOME=str(home() / "prefect"), PREFECT_SERVER_ANALYTICS_ENABLED="false",
               # leases on disk: a restarted server's repossessor still frees killed runs' slots
               PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE="prefect.server.concurrency.lease_storage.filesystem")
    with log_path().open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
             "--port", str(port_number)],
            env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            cwd=home())
    record = ServerRecord(pid=process.pid, proc_start=process_start(process.pid), port=port_number,
                          prefect=version("prefect"), started_at=time.time())
    scratch = home() / "server.json.tmp"
    scratch.write_text(json.dumps(asdict(record)))
    scratch.replace(home() / "server.json")
    return record


def _wait_healthy(record: ServerRecord, limit: float) -> bool:
    deadline = time.monotonic() + limit
    while _alive(record):
        if answers(record.port):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.25)
    return False


def _give_up(record: ServerRecord, limit: float) -> None:
    """Stop ``record``'s server, which did not answer, and raise the ServerError saying why."""
    message = _not_answering(record, limit)
    _stop(record)
    raise ServerError(message)


def _not_answering(record: ServerRecord, limit: float) -> str:
    if not _alive(record):
        lines = log_path().read_text(errors="replace").strip().splitlines() if log_path().exists() else []
        last = f": {lines[-1].strip()}" if lines else ""
        return (f"the local Prefect server on port {record.port} exited while starting{last}"
                f" (fix: see {log_path()}, or run with --ephemeral)")
    return (f"the local Prefect server on port {record.port} did not answer within {limit:g} s"
            f" (fix: set PLANFLOW_SERVER_TIMEOUT to more seconds on a loaded machine, see"
            f" {log_path()}, or run with --ephemeral)")


def _port_taken(port_number: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port_number), timeout=2):
            return True
    except OSError:
        return False


def _port_message(port_number: int) -> str:
    if answers(port_number):
        return (f"port {port_number} has a Prefect server planflow did not start (fix: use it with"
                f" PREFECT_API_URL=http://127.0.0.1:{port_number}/api, or set PLANFLOW_SERVER_PORT"
                " to a free port)")
    return (f"port {port_number} is in use by another program, so planflow cannot start its"
            " local Prefect server there (fix: set PLANFLOW_SERVER_PORT to a free port, or stop"
            " that program)")


def _alive(record: ServerRecord) -> bool:
    try:
        state = Path(f"/proc/{record.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z" and process_start(record.pid) == record.proc_start


def _stop(record: ServerRecord) -> None:
    for sig, wait in ((signal.SIGTERM, STOP_GRACE_S), (signal.SIGKILL, STOP_GRACE_S)):
        try:
            os.killpg(record.pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        deadline = time.monotonic() + wait
        while _alive(record) and time.monotonic() < deadline:
            _reap(record.pid)
            time.sleep(0.1)
        if not _alive(record):
            return


def _reap(pid: int) -> None:
    """Collect ``pid``'s exit status when it is this process's child (else nothing)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


@contextmanager
def _locked() -> Iterator[None]:
    fd = os.open(home() / "server.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
