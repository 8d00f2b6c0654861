"""S1, S2: how fast ``planflow run`` starts with planflow's local Prefect server, and whether
``make demo`` passes on a busy machine. Prints a table; not a test.

S1: a 1-task plan run three times in a new server folder on a free port: the first run starts
the local server, the second and third reuse it; then once with ``--ephemeral`` (today's
temporary server). Time to first task = from starting the command to the task's agent writing
the clock (``date +%s.%N``) to a file. Target: the second run's at most 3 s on an idle machine.

S2: ``make demo`` while two CPU-bound processes keep both cores busy, with a new server folder
(so it includes the server's first start). With ``--clone 1`` it runs in a new clone of
this repository's HEAD, so it includes creating the environment (about 3 minutes).

Usage: python bench/startup.py [--clone 0|1]
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import Row, git, make_repo, run_planflow, script_main, write_plan

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 3.0
DEMO_LIMIT_S = 3600.0


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_env(work: Path) -> dict[str, str]:
    """The environment of a command using a local server of its own in ``work``."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("PREFECT_API_URL", "PLANFLOW_EPHEMERAL")}
    env.update(PLANFLOW_SERVER_HOME=str(work / "server"), PLANFLOW_SERVER_PORT=str(free_port()),
               PLANFLOW_RESULTS_DIR=str(work / "results"), PREFECT_LOGGING_LEVEL="ERROR")
    return env


def first_task_s(work: Path, env: dict[str, str], name: str, *options: str) -> float:
    """Seconds from starting ``planflow run`` of a new 1-task plan to its task's start."""
    stamp = work / f"{name}.stamp"
    repo = make_repo(work / name, files=1)
    plan = write_plan(work / f"{name}.yaml", [("parallel", [
        {"id": "1", "run": f"date +%s.%N > {stamp} && echo 1 > t-1.txt"}])])
    started = time.time()
    run_planflow(["run", str(plan), "--repo", str(repo), *options], env)
    return float(stamp.read_text()) - started


def demo_seconds(work: Path, env: dict[str, str], fresh_clone: bool) -> tuple[float, int]:
    """(seconds, exit code) of ``make demo`` with two CPU-bound processes running."""
    checkout = ROOT
    if fresh_clone:
        checkout = work / "clone"
        git(work, "clone", "-q", str(ROOT), str(checkout))
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        started = time.perf_counter()
        done = subprocess.run(["make", "demo"], cwd=checkout, env=env, capture_output=True,
                              text=True, timeout=DEMO_LIMIT_S)
        seconds = time.perf_counter() - started
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
    if done.returncode != 0:
        print(done.stderr[-3000:], file=sys.stderr)
    return seconds, done.returncode


def stop_server(env: dict[str, str]) -> None:
    """Stop the local server of ``env``."""
    run_planflow(["server", "stop"], env, check=False)


def run(clone: int = 0) -> list[Row]:
    """S1 and S2 rows (and the load average they ran at)."""
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="planflow-bench-") as tmp:
        work = Path(tmp)
        env = server_env(work / "s1")
        try:
            cold = first_task_s(work, env, "cold")
            second = first_task_s(work, env, "second")
            third = first_task_s(work, env, "third")
        finally:
            stop_server(env)
        ephemeral = first_task_s(work, env, "ephemeral", "--ephemeral")
        demo_env = server_env(work / "s2")
        try:
            demo, code = demo_seconds(work, demo_env, bool(clone))
        finally:
            stop_server(demo_env)
    where = "a fresh clone (with install)" if clone else "this checkout"
    return [
        Row("S1", "load average (1 min) at the start", f"{load:.1f}", target="idle: < 1"),
        Row("S1", "2nd planflow run, command to first task", f"{second:.1f} s",
            f"--ephemeral {ephemeral:.1f} s", second / ephemeral, f"<= {TARGET_S:g} s",
            second <= TARGET_S),
        Row("S1", "3rd planflow run, command to first task", f"{third:.1f} s"),
        Row("S1", "1st planflow run (starts the server)", f"{cold:.1f} s"),
        Row("S2", f"make demo in {where}, 2 cores busy", f"{demo:.0f} s",
            target="exit 0", met=code == 0),
    ]


if __name__ == "__main__":
    script_main(__doc__, run)
