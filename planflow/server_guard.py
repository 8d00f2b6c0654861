"""No process a planflow command starts outlives it, even after a ``kill -9``.

Prefect's temporary server (``--ephemeral``: a uvicorn subprocess, about 200 MB) is stopped at
exit by Prefect, but a killed command never gets there. ``guard_children`` marks this process's
environment with a token (``PLANFLOW_GUARD``), inherited by everything it starts, and starts a
watcher (standard library only) that waits for this process to end (the end of a pipe only it
holds) and then stops every process still carrying the token: SIGTERM, SIGKILL after
``GRACE_S``. The local server (``planflow.server_local``) is started without the token: it is
the one process meant to stay. Linux only (``/proc``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

GUARD_VAR = "PLANFLOW_GUARD"
GRACE_S = 5.0

_WATCHER = r"""
import os, signal, sys, time
fd, token, grace = int(sys.argv[1]), sys.argv[2].encode(), float(sys.argv[3])
while os.read(fd, 4096):
    pass
mark = b"PLANFLOW_GUARD=" + token

def marked():
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                with open(f"/proc/{pid}/environ", "rb") as handle:
                    if mark in handle.read().split(b"\0"):
                        found.append(int(pid))
            except OSError:
                pass
    return found

for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, grace)):
    deadline = time.monotonic() + wait
    for pid in marked():
        try:
            os.kill(pid, sig)
        except OSError:
            pass
    while marked() and time.monotonic() < deadline:
        time.sleep(0.1)
"""

_guarded: list[int] = []


def guard_children() -> None:
    """Start this process's watcher (once per process; see the module docstring). Call it
    before starting anything (before Prefect starts its temporary server). Raises OSError when
    the watcher cannot be started."""
    if os.getpid() in _guarded:
        return
    token = uuid.uuid4().hex
    read_end, write_end = os.pipe()  # not inheritable: only this process holds the write end
    env = {key: value for key, value in os.environ.items() if key != GUARD_VAR}
    subprocess.Popen([sys.executable, "-I", "-S", "-c", _WATCHER, str(read_end), token, str(GRACE_S)],
                     pass_fds=(read_end,), env=env, stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    os.close(read_end)
    _guarded.append(os.getpid())
    _WRITE_ENDS.append(write_end)
    os.environ[GUARD_VAR] = token


_WRITE_ENDS: list[int] = []
"""The pipes' write ends, kept open for the life of this process."""
