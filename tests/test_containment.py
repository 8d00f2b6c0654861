"""Everything a process started by ``run_process`` starts dies with it, even a daemon that
leaves the process group and clears its environment (``setsid env -i ...``): in a PID
namespace of its own where the system allows it (as root, or in a user namespace as an
ordinary user), else under the reaper as child subreaper; what was left is reported. When
planflow itself is killed, its agents and their daemons die with it. Processes are found by a
unique word in their command line (their pids are their namespace's)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from agents.contain import CONTAINMENT_VAR, containment
from agents.process import base_env, run_process

ROOT = Path(__file__).resolve().parents[1]

ESCAPES = {
    "setsid env -i": "(setsid env -i sleep {word} > /dev/null 2>&1 &)",
    "double fork and nohup": "( (nohup sleep {word} > /dev/null 2>&1 &) & )",
    "setsid -f, signals ignored": "setsid -f bash -c 'trap \"\" TERM HUP INT; sleep {word}; :' > /dev/null 2>&1",
}


def word() -> str:
    """A ``sleep`` argument no other process has: ``300.<random digits>``."""
    return f"300.{uuid.uuid4().int % 10**12}"


def running(word: str) -> list[int]:
    """Pids (this namespace's) of live processes whose command line holds ``word``."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if word.encode() in (proc / "cmdline").read_bytes():
                if (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                    found.append(int(proc.name))
        except (OSError, IndexError):
            continue
    return found


def gone(word: str, within_s: float = 10.0) -> bool:
    deadline = time.monotonic() + within_s
    while running(word):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.fixture(params=["namespace", "reaper"])
def mode(request, monkeypatch):
    """Each test once in a PID namespace (skipped where none can be made) and once under the
    reaper alone."""
    monkeypatch.setenv(CONTAINMENT_VAR, request.param)
    if request.param == "namespace":
        monkeypatch.setenv(CONTAINMENT_VAR, "auto")
        if containment()[0] != "namespace":
            pytest.skip(containment()[1])
    return request.param


def run(tmp_path: Path, script: str, timeout_s: float = 30.0):
    return run_process(["bash", "-c", script], tmp_path, base_env({}), timeout_s, tmp_path / "run.log",
                       grace_s=1.0)


@pytest.mark.parametrize("escape", sorted(ESCAPES))
def test_a_daemon_that_escaped_the_group_dies_with_the_agent_and_is_reported(tmp_path, mode, escape):
    name = word()
    outcome = run(tmp_path, ESCAPES[escape].format(word=name) + f"; sleep 0.3; echo {name} started")

    assert outcome.exit_code == 0 and f"{name} started" in outcome.output_tail
    assert gone(name), f"{escape} survived: {running(name)}"
    assert any(name in command for command in outcome.leftovers.values()), outcome.leftovers


def test_a_timed_out_agents_daemon_dies_too(tmp_path, mode):
    name = word()
    outcome = run(tmp_path, ESCAPES["setsid env -i"].format(word=name) + "; sleep 300", timeout_s=1.0)

    assert outcome.timed_out
    assert gone(name), running(name)


def test_killing_planflow_kills_its_agents_and_their_daemons(tmp_path, mode):
    """``kill -9`` of the process that ran the agent (planflow), and of its process group: the
    agent is in its own session, yet it and its escaped daemon end."""
    name, ready = word(), tmp_path / "ready"
    agent = word()
    script = ESCAPES["setsid env -i"].format(word=name) + f"; touch {ready}; sleep {agent}"
    parent = (f"from pathlib import Path; from agents.process import base_env, run_process; "
              f"run_process(['bash', '-c', {script!r}], Path({str(tmp_path)!r}), base_env({{}}), 300,"
              f" Path({str(tmp_path / 'agent.log')!r}))")
    planflow = subprocess.Popen([sys.executable, "-c", parent], cwd=ROOT, start_new_session=True,
                                env=dict(os.environ))
    try:
        deadline = time.monotonic() + 120
        while not ready.exists() and time.monotonic() < deadline and planflow.poll() is None:
            time.sleep(0.05)
        assert ready.exists(), (tmp_path / "agent.log").read_text() if (tmp_path / "agent.log").exists() else ""
        assert running(agent) and running(name)
        os.killpg(planflow.pid, signal.SIGKILL)
        planflow.wait()
        assert gone(name), running(name)
        assert gone(agent), running(agent)
    finally:
        if planflow.poll() is None:
            os.killpg(planflow.pid, signal.SIGKILL)
            planflow.wait()


def test_in_a_namespace_the_agent_sees_only_its_own_processes(tmp_path, monkeypatch):
    monkeypatch.setenv(CONTAINMENT_VAR, "auto")
    if containment()[0] != "namespace":
        pytest.skip(containment()[1])
    outcome = run(tmp_path, f"ls /proc | grep -c '^[0-9]'; cat /proc/{os.getpid()}/environ > /dev/null"
                            " 2>&1; echo environ-$?; kill -9 1; echo still-here")

    count, environ, after_kill = outcome.output_tail.split()[:3]
    assert int(count) <= 4  # the reaper, bash, ls, grep
    assert environ != "environ-0"  # planflow's pid means nothing there
    assert after_kill == "still-here" and outcome.exit_code == 0  # its first process holds


def test_as_an_ordinary_user_the_agent_is_contained_too(tmp_path):
    """Run as ``nobody``: a user namespace holds the PID namespace where the kernel allows one,
    else the reaper catches the daemon."""
    if os.geteuid() != 0:
        pytest.skip("needs root to become another user")
    nobody = _interpreter_for_nobody()
    closed = [folder for folder in (ROOT, *ROOT.parents) if not folder.stat().st_mode & 0o001]
    if closed:  # e.g. a checkout cloned into a `mktemp -d` folder (mode 700)
        pytest.skip(f"nobody cannot reach this checkout to import planflow: {closed[-1]} is closed to others")
    name = word()
    for folder in (tmp_path, *tmp_path.parents):  # up to pytest-of-USER (one more with xdist)
        folder.chmod(folder.stat().st_mode | 0o755)
        if folder.name.startswith("pytest-of-"):
            break
    tmp_path.chmod(0o777)
    script = ESCAPES["setsid env -i"].format(word=name) + "; sleep 0.3"
    code = (f"from pathlib import Path; from agents.contain import containment;"
            f" from agents.process import base_env, run_process; print(containment()[0]);"
            f" o = run_process(['bash', '-c', {script!r}], Path({str(tmp_path)!r}), base_env({{}}), 60,"
            f" Path({str(tmp_path / 'nobody.log')!r})); print(len(o.leftovers))")
    result = subprocess.run([*nobody, code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env=dict(os.environ, HOME=str(tmp_path),
                                      PYTHONPATH=os.pathsep.join(p for p in sys.path if p)))

    assert result.returncode == 0, result.stderr
    mode, leftovers = result.stdout.split()
    assert mode in ("namespace", "reaper") and leftovers == "1"
    assert gone(name), running(name)


def _interpreter_for_nobody() -> list[str]:
    """``setpriv`` as ``nobody`` and a Python of this one's version that ``nobody`` can start
    from its own processes (this one may live where only root can reach it); skips when there
    is none."""
    as_nobody = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"]
    nested = "import subprocess, sys; subprocess.run([sys.executable, '-c', 'pass'], check=True)"
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for python in (sys.executable, shutil.which(version), f"/usr/bin/{version}"):
        if python and subprocess.run([*as_nobody, python, "-c", nested], capture_output=True,
                                     timeout=120).returncode == 0:
            return [*as_nobody, python, "-c"]
    pytest.skip(f"no {version} that nobody can start from a process of its own")
