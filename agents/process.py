"""The one function that runs every subprocess of the engine: ``run_process``.

Guarantees, whatever runs (an agent CLI, a shell command, a quality gate):

* stdin is ``/dev/null``, so a program waiting for input ends instead of hanging;
* stdout and stderr are merged and written to the log file as they are produced, so a
  timed-out or crashed run keeps its partial output;
* the environment is exactly the one given (build it with ``base_env``), never merged with
  ``os.environ``;
* the process runs in a new session, under the reaper and where the system allows it in a PID
  namespace of its own (``agents.contain``); on timeout its whole process group gets SIGTERM,
  then SIGKILL after a grace period, and once the main process has ended every process it
  left (``sleep 9999 &``, and a daemon that left the group: ``setsid env -i ...``) is killed
  and reported (``ProcessOutcome.leftovers``), so a run leaves nothing behind;
* the log and the output tail are redacted (``planning.redaction``) once the process ended;
* a program that cannot be started (missing executable, missing cwd) is reported as an
  outcome with exit code 127 (126 for other OS errors), not raised, so callers classify it
  like any other failure.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import time
from pathlib import Path

from pydantic import BaseModel, Field

from agents.contain import contained_argv
from agents.logcap import cap_log
from planning.redaction import redact, redact_file

TAIL_CHARS = 4000
"""How many characters of the end of the log ``ProcessOutcome.output_tail`` holds."""

ENV_ALLOWLIST = (
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TMPDIR",
    "TERM",
    "USER",
    "LOGNAME",
    "SHELL",
    "TZ",
    "VIRTUAL_ENV",
)
"""Variables of ``os.environ`` that ``base_env`` passes on to subprocesses."""


class ProcessOutcome(BaseModel):
    """How one subprocess run ended.

    Fields: ``argv`` as run; ``exit_code`` (negative: killed by that signal; 127: executable or cwd
    not found, 126: could not be started for another OS error; None: it timed out and was
    killed); ``timed_out``; ``duration_s`` (wall-clock
    seconds); ``log_path`` (the merged stdout+stderr); ``output_tail`` (the last
    ``TAIL_CHARS`` characters of the log); ``leftovers``: processes still running when the
    main process had ended, killed ({pid: command line}; pids of its PID namespace when it had
    one; ``"more"`` stands for those past the first 50).
    """

    argv: list[str]
    exit_code: int | None
    timed_out: bool
    duration_s: float
    log_path: Path
    output_tail: str
    leftovers: dict[int, str] = Field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when the process exited 0 without timing out."""
        return self.exit_code == 0 and not self.timed_out


def base_env(extra: dict[str, str]) -> dict[str, str]:
    """An allow-listed copy of ``os.environ`` (``ENV_ALLOWLIST``) updated with ``extra``.

    Args:
        extra: variables to add or override.

    Returns:
        A new dict suitable as ``run_process``'s ``env``.
    """
    env = {name: os.environ[name] for name in ENV_ALLOWLIST if name in os.environ}
    env.update(extra)
    return env


def run_process(
    argv: list[str],
    cwd: Path,
    env: dict[str, str],
    timeout_s: float | None,
    log_path: Path,
    grace_s: float = 5.0,
    contain: bool = True,
) -> ProcessOutcome:
    """Run ``argv`` in ``cwd`` to completion or timeout, logging its output to ``log_path``.

    Args:
        argv: program and arguments; the program is looked up on ``env["PATH"]``.
        cwd: working directory of the process.
        env: the complete environment of the process, used as given.
        timeout_s: seconds before the process group is terminated; None waits forever.
        log_path: file receiving merged stdout+stderr; truncated, parent dirs created.
        grace_s: seconds between SIGTERM and SIGKILL on timeout.
        contain: run it under the reaper (``agents.contain``); off only for the probe that
            finds out whether a PID namespace can be made.

    Returns:
        The ``ProcessOutcome``; failures to start are outcomes too (exit code 127 or 126).

    Raises:
        ContainmentError: ``$PLANFLOW_CONTAINMENT`` asks for a namespace this system cannot make.
    """
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    timed_out = False
    report_r, report_w = os.pipe() if contain else (-1, -1)
    report: dict = {}
    try:
        run_argv = contained_argv(argv, report_w, grace_s) if contain else argv
        with log_path.open("wb") as log:
            try:
                proc = subprocess.Popen(
                    run_argv,
                    cwd=cwd,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    pass_fds=(report_w,) if contain else (),
                )
            except OSError as exc:
                log.write(f"planflow: cannot start {argv[0]!r}: {exc}\n".encode())
                exit_code: int | None = 127 if isinstance(exc, FileNotFoundError) else 126
            else:
                if contain:
                    os.close(report_w)
                    report_w = -1
                try:
                    timed_out = not _wait_exited(proc.pid, timeout_s)
                    if timed_out:
                        _signal_group(proc.pid, signal.SIGTERM)
                        # the reaper kills what is left at grace_s and reports: give it time
                        _wait_exited(proc.pid, grace_s + (REAPER_MARGIN_S if contain else 0))
                finally:
                    # The leader is still an unreaped zombie here, so its pid cannot be reused
                    # and the group id still names only this run's processes.
                    _signal_group(proc.pid, signal.SIGKILL)
                    returncode = proc.wait()
                if contain:
                    report = _read_report(report_r)
                exit_code = None if timed_out else report.get("exit", returncode)
    finally:
        for fd in (report_r, report_w):
            if fd >= 0:
                os.close(fd)
    cap_log(log_path)  # before redaction, which reads the whole file
    redact_file(log_path)
    leftovers = {int(pid): command for pid, command in report.get("leftovers", [])}
    if report.get("more"):
        leftovers[0] = f"and {report['more']} more"
    return ProcessOutcome(
        argv=list(argv),
        exit_code=exit_code,
        timed_out=timed_out,
        duration_s=time.monotonic() - started,
        log_path=log_path,
        output_tail=redact(read_tail(log_path)),
        leftovers=leftovers,
    )


REAPER_MARGIN_S = 5.0
"""Seconds ``run_process`` waits past the grace period for the reaper to report."""


def _read_report(fd: int, timeout_s: float = 5.0) -> dict:
    """The reaper's JSON report from pipe ``fd`` (``{}`` when it wrote none: it was killed, or
    the program never started)."""
    data = b""
    deadline = time.monotonic() + timeout_s
    while select.select([fd], [], [], max(0.0, deadline - time.monotonic()))[0]:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        data += chunk
    try:
        return json.loads(data) if data else {}
    except ValueError:
        return {}


def read_tail(path: Path, chars: int = TAIL_CHARS) -> str:
    """The last ``chars`` characters of the UTF-8 text file ``path`` (bad bytes replaced)."""
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        handle.seek(max(0, handle.tell() - 4 * chars))
        return handle.read().decode("utf-8", errors="replace")[-chars:]


def _wait_exited(pid: int, timeout_s: float | None) -> bool:
    """Wait up to ``timeout_s`` seconds (None: forever) for child ``pid`` to exit, without
    reaping it; True when it has exited. Woken by the exit itself (a pidfd), not by polling."""
    if timeout_s is None:
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
        return True
    pidfd = os.pidfd_open(pid)
    try:
        deadline = time.monotonic() + timeout_s
        while os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT | os.WNOHANG) is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            select.select([pidfd], [], [], remaining)
        return True
    finally:
        os.close(pidfd)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    """Send ``sig`` to process group ``pgid``; a group that is already gone is fine."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
