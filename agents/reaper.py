"""The reaper: the small init every contained process runs under (``agents.contain``).

Run as ``python -I -S reaper.py REPORT_FD GRACE_S PARENT -- PROGRAM ARGS...`` (standard library only,
so no ``PYTHON*`` variable or package of the agent's environment changes it). It starts the
program with the environment it was given, in its own process group, and then:

* reaps every process that is re-parented to it: the first process of a PID namespace
  (``unshare --pid``) is their parent by the kernel's rule; outside one it makes itself a
  child subreaper (``PR_SET_CHILD_SUBREAPER``), so a daemon that leaves the process group and
  clears its environment (``setsid env -i ...``) still ends up its child;
* on SIGTERM, SIGINT or SIGHUP (planflow's timeout, or planflow's death outside a namespace:
  ``PR_SET_PDEATHSIG``) sends SIGTERM to every process below it, then SIGKILL after
  ``GRACE_S`` seconds;
* once the program has ended, every process still below it is a leftover: it is listed
  (pid, command line), killed with SIGKILL (again while new ones appear) and reported;
* writes the report, one JSON object ``{"exit": N, "leftovers": [[pid, command line], ...],
  "more": M}``, to the inherited descriptor ``REPORT_FD`` (the program does not inherit it),
  where ``exit`` is the program's exit code, negative when a signal killed it, 127 when it
  could not be found and 126 when it could not be started, and ``more`` counts the leftovers
  past the first ``MAX_LISTED``; then exits with that code (128 + N for a signal).

``PARENT`` is the pid of the process that started it outside a PID namespace (0 inside one):
when that process is already gone once the death signal is armed, the program is stopped
at once.

It marks itself not dumpable (``PR_SET_DUMPABLE`` 0), so a process of the same user cannot
read its descriptors or trace it to forge the report. Linux only.

It starts once per agent run, so it imports little: ``_signal`` rather than ``signal`` (which
imports ``enum``), and it writes its JSON without ``json`` (which imports ``re``); those two
were most of its start-up.
"""

from __future__ import annotations

import ctypes
import os
import _signal as signal  # the module under ``signal``, without its enums (``enum`` is slow to import)
import select
import sys
import time

PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_CHILD_SUBREAPER = 1, 4, 36
MAX_LISTED = 50
"""Leftovers listed in the report at most (the others are killed and counted)."""


def _prctl(option: int, value: int) -> None:
    ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)


def descendants(root: int) -> dict[int, str]:
    """Live processes below ``root`` (its children, theirs...): {pid: command line}."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != b"Z":
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = {}, list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found[pid] = _cmdline(pid)
        todo += children.get(pid, [])
    return found


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace").strip()[:300]
    except OSError:
        return "?"


def _given_environment() -> dict[bytes, bytes]:
    """The environment this process was started with, as given: ``os.environ`` may hold
    what Python added itself (``LC_CTYPE`` by its locale coercion)."""
    with open("/proc/self/environ", "rb") as handle:
        pairs = [item.partition(b"=") for item in handle.read().split(b"\0") if item]
    return {name: value for name, _, value in pairs}


def _signal_all(sig: int) -> dict[int, str]:
    found = descendants(os.getpid())
    for pid in found:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    return found


class Reaper:
    """One program run under the reaper (see the module docstring)."""

    def __init__(self, argv: list[str], grace_s: float, environment: dict[bytes, bytes]) -> None:
        self.argv, self.grace_s, self.environment = argv, grace_s, environment
        self.exit: int | None = None
        self.kill_at: float | None = None
        self.wake_r, wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self.terminate)

    def terminate(self, *_: object) -> None:
        """SIGTERM every process below; SIGKILL them once the grace period has passed."""
        if self.kill_at is None:
            self.kill_at = time.monotonic() + self.grace_s
            _signal_all(signal.SIGTERM)

    def run(self) -> dict:
        """Run the program to its end, kill what it left; returns the report."""
        try:  # descriptors are not inheritable (PEP 446) but 0, 1 and 2
            program = os.posix_spawnp(self.argv[0], self.argv, self.environment,
                                      setsigdef=(signal.SIGPIPE, signal.SIGXFSZ, signal.SIGCHLD))
        except OSError as exc:
            print(f"planflow: cannot start {self.argv[0]!r}: {exc}", flush=True)
            return {"exit": 127 if isinstance(exc, FileNotFoundError) else 126, "leftovers": [],
                    "more": 0}
        while self.exit is None:
            self._reap(program)
            if self.exit is not None:
                break
            timeout = None
            if self.kill_at is not None:
                timeout = self.kill_at - time.monotonic()
                if timeout <= 0:
                    _signal_all(signal.SIGKILL)
                    timeout = 0.05
            select.select([self.wake_r], [], [], timeout)
            try:
                os.read(self.wake_r, 512)
            except BlockingIOError:
                pass
        killed = self._kill_leftovers()
        return {"exit": self.exit, "leftovers": sorted(killed.items())[:MAX_LISTED],
                "more": max(0, len(killed) - MAX_LISTED)}

    def _reap(self, program: int) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == program:
                self.exit = os.waitstatus_to_exitcode(status)

    def _kill_leftovers(self) -> dict[int, str]:
        killed: dict[int, str] = {}
        for _ in range(20):
            found = _signal_all(signal.SIGKILL)
            if not found:
                break
            killed |= found
            deadline = time.monotonic() + 1.0
            while descendants(os.getpid()).keys() & found.keys() and time.monotonic() < deadline:
                self._reap(-1)
                time.sleep(0.01)
            self._reap(-1)
        return killed


def report_json(report: dict) -> str:
    """``report`` (ints, strings, lists and dicts of them) as JSON text."""
    if isinstance(report, dict):
        return "{" + ", ".join(f"{report_json(str(k))}: {report_json(v)}" for k, v in report.items()) + "}"
    if isinstance(report, (list, tuple)):
        return "[" + ", ".join(report_json(item) for item in report) + "]"
    if isinstance(report, int):
        return str(report)
    return '"' + "".join(c if c >= " " and c not in '"\\' else f"\\u{ord(c):04x}" for c in str(report)) + '"'


def main(args: list[str]) -> int:
    """Entry point: ``REPORT_FD GRACE_S PARENT -- PROGRAM ARGS...``; returns the exit status."""
    report_fd, grace_s, parent, argv = int(args[0]), float(args[1]), int(args[2]), args[4:]
    os.set_inheritable(report_fd, False)
    environment = _given_environment()  # before PR_SET_DUMPABLE: it makes /proc/self root's
    _prctl(PR_SET_DUMPABLE, 0)
    reaper = Reaper(argv, grace_s, environment)
    if parent:
        _prctl(PR_SET_CHILD_SUBREAPER, 1)
        _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # it died before the death signal was armed
            reaper.terminate()
    report = reaper.run()
    with os.fdopen(report_fd, "w", encoding="utf-8") as out:
        out.write(report_json(report))
    code = report["exit"]
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
