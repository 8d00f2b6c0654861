"""What every benchmark under ``bench/`` shares: a result row, a small repository, a native plan
writer, ``planflow`` started as a subprocess (timed, with the peak memory of its process tree),
and the environment the runs use.

Every benchmark compares two things measured in the same process run, interleaved where they
can be, because the machines these run on are noisy.
"""

from __future__ import annotations

import argparse
import atexit
import inspect
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

IDENTITY = ["-c", "user.name=bench", "-c", "user.email=bench@localhost"]

REPEATS = 3
"""Interleaved repeats of every comparison (each figure is their median, with their spread)."""

PREFECT_START_S = 600
"""Seconds a benchmarked run may wait for Prefect's temporary server to start (Prefect's
default, 20 s, is not enough on a machine with load 10 on 2 cores)."""

RUN_LIMIT_S = 3600
"""Seconds one benchmarked ``planflow`` process may take before it is stopped (an error)."""


@dataclass
class Row:
    """One line of the summary table: ``bench`` (P1...), ``what`` was measured, ``value`` and
    ``baseline`` (what it is compared to, text with units), ``ratio`` (a number or None),
    ``target`` (text) and ``met`` (True, False, or None when there is no target)."""

    bench: str
    what: str
    value: str
    baseline: str = ""
    ratio: float | None = None
    target: str = ""
    met: bool | None = None


def print_rows(rows: list[Row]) -> None:
    """Print ``rows`` as one fixed-width table on stdout."""
    head = ("bench", "what", "value", "compared to", "ratio", "target", "met")
    lines = [(r.bench, r.what, r.value, r.baseline, "" if r.ratio is None else f"{r.ratio:.2f}",
              r.target, {True: "yes", False: "NO", None: ""}[r.met]) for r in rows]
    widths = [max(len(str(cell)) for cell in column) for column in zip(head, *lines)]
    for line in (head, *lines):
        print("  ".join(str(cell).ljust(width) for cell, width in zip(line, widths)).rstrip())


def script_main(doc: str, run: Callable[..., list[Row]]) -> None:
    """The command line of one benchmark script: an option ``--name N`` for each integer
    parameter of ``run`` (with its default), then ``run(**options)`` printed as a table, with
    the load average at its start and end (``with_load``). ``doc``: the script's docstring
    (its first line is the help text)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    for name, parameter in inspect.signature(run).parameters.items():
        parser.add_argument(f"--{name}", type=int, default=parameter.default)
    print_rows(with_load(None, lambda: run(**vars(parser.parse_args()))))


def load_average() -> str:
    """The machine's load average over 1, 5 and 15 minutes, as text (``os.getloadavg``)."""
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def with_load(bench: str | None, run: Callable[[], list[Row]]) -> list[Row]:
    """``run()``'s rows between two rows of ``bench`` (default: the first row's) giving the
    load average at its start and at its end (also printed on stderr as it happens, so a crash
    still shows the first)."""
    start = load_average()
    print(f"load average at start {start}", file=sys.stderr, flush=True)
    rows = run()
    end = load_average()
    print(f"load average at end {end}", file=sys.stderr, flush=True)
    bench = bench or (rows[0].bench if rows else "-")
    return [Row(bench, "load average (1, 5, 15 min) at start", start), *rows,
            Row(bench, "load average (1, 5, 15 min) at end", end)]


@dataclass
class Samples:
    """Repeated measurements of one figure (seconds or a ratio): ``values`` in run order."""

    values: list[float]

    @property
    def median(self) -> float:
        """The median of ``values``."""
        return statistics.median(self.values)

    @property
    def spread(self) -> float:
        """Largest minus smallest of ``values`` (0 for one value)."""
        return max(self.values) - min(self.values)

    def text(self, scale: float = 1.0, unit: str = "s", digits: int = 3) -> str:
        """``median unit (spread x)`` with values multiplied by ``scale`` (1000 for ms)."""
        return (f"{self.median * scale:.{digits}f} {unit}"
                f" (spread {self.spread * scale:.{digits}f})")


def cache_dir() -> Path:
    """Where generated inputs that are slow to make are kept between runs:
    ``$PLANFLOW_BENCH_CACHE``, else ``<temp dir>/planflow-bench-cache`` (outside the repository)."""
    path = Path(os.environ.get("PLANFLOW_BENCH_CACHE") or Path(tempfile.gettempdir()) / "planflow-bench-cache")
    path.mkdir(parents=True, exist_ok=True)
    return path


def git(cwd: Path, *args: str) -> str:
    """``git args`` in ``cwd``; its stdout. Raises CalledProcessError when git fails."""
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def make_repo(path: Path, files: int = 50) -> Path:
    """A new repository at ``path`` with ``files`` small Python files in one commit on ``main``."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    for i in range(files):
        (path / f"src_{i}.py").write_text(f"value = {i}\n")
    git(path, "add", "-A")
    git(path, *IDENTITY, "commit", "-qm", "init")
    return path


def write_plan(path: Path, phases: list[tuple[str, list[dict]]]) -> Path:
    """Write a native plan (``plan.yaml``) to ``path``. ``phases``: (strategy, tasks) pairs;
    each task a dict with ``id``, ``run`` (shell command), optional ``deps`` (ids) and
    ``hours``. Every task declares the file ``t-{id}.txt``. Returns ``path``."""
    lines = ["name: bench", "phases:"]
    for number, (strategy, tasks) in enumerate(phases, start=1):
        lines += [f"  - name: part {number}", f"    strategy: {strategy}", "    tasks:"]
        for task in tasks:
            deps = ", ".join(f'"{dep}"' for dep in task.get("deps", []))
            lines += [f'      - id: "{task["id"]}"', f"        title: t{task['id']}",
                      f"        files: [t-{task['id']}.txt]", f"        depends_on: [{deps}]",
                      f"        hours: {task.get('hours', 1)}", f"        run: {json.dumps(task['run'])}"]
    path.write_text("\n".join(lines) + "\n")
    return path


def noop_tasks(count: int, counter: Path | None = None) -> list[dict]:
    """``count`` tasks whose agent writes one file (``t-{i}.txt``); with ``counter``, each agent
    call also appends a line to that file (outside the repository), so calls can be counted."""
    extra = f" && echo call >> {counter}" if counter else ""
    return [{"id": str(i), "run": f"echo task {i} > t-{i}.txt{extra}"} for i in range(1, count + 1)]


def bench_env(work: Path) -> dict[str, str]:
    """The environment of a benchmarked ``planflow run``: results under ``work``, quiet logs,
    4 agent slots, and Prefect's temporary local server (``PLANFLOW_EPHEMERAL``, not planflow's
    local server) with this benchmark process's own Prefect home (``prefect_home``); or, when
    ``PREFECT_API_URL`` is set in the environment, that server (the tiny-size test does this;
    its slots are shared with all its users)."""
    env = dict(os.environ)
    if not env.get("PREFECT_API_URL"):
        env.update(PREFECT_HOME=str(prefect_home()), PLANFLOW_EPHEMERAL="1")
    env.update(PLANFLOW_RESULTS_DIR=str(work / "results"), PREFECT_LOGGING_LEVEL="ERROR",
               PREFECT_SERVER_ANALYTICS_ENABLED="false", PLANFLOW_AGENT_LIMIT="4")
    env.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", str(PREFECT_START_S))
    return env


_HOME: list[Path] = []

_MIGRATE = """
from prefect.client.orchestration import get_client
with get_client(sync_client=True) as client:
    client.api_healthcheck()
"""


def prefect_home() -> Path:
    """A Prefect home for this benchmark process alone (removed at exit): a copy of a template
    whose database is migrated once into the cache dir. Not shared, because other processes
    (tests, another benchmark) would hold slots of the same ``planflow-agents`` limit, and a run
    killed mid-task leaves its slots taken (an ephemeral server never expires them)."""
    if not _HOME:
        template = cache_dir() / "prefect-template"
        if not (template / "prefect.db").exists():
            env = os.environ | {"PREFECT_HOME": str(template),
                                "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": str(PREFECT_START_S)}
            done = subprocess.run([sys.executable, "-c", _MIGRATE], env=env, capture_output=True,
                                  text=True, timeout=PREFECT_START_S + 60)
            if done.returncode != 0:
                shutil.rmtree(template, ignore_errors=True)
                raise RuntimeError(f"Prefect's temporary server did not start in {template}"
                                   f" (exit {done.returncode}):\n{done.stderr[-3000:]}")
        home = Path(tempfile.mkdtemp(prefix="planflow-bench-prefect-"))
        shutil.copytree(template, home, dirs_exist_ok=True)
        atexit.register(shutil.rmtree, home, True)
        _HOME.append(home)
    return _HOME[0]


@dataclass
class RunResult:
    """A finished ``planflow`` process: ``seconds`` of wall time, exit ``code``, ``stdout``,
    ``peak_tree_mb`` (largest sum of the proportional set sizes of the process and its
    descendants seen, MiB), ``peak_main_mb`` (the RSS of the planflow process alone, MiB) and
    ``peak_role_mb``: for each kind of process in the tree (``ROLES``), the largest sum of the
    proportional set sizes of the processes of that kind seen at one time (MiB)."""

    seconds: float
    code: int
    stdout: str
    stderr: str
    peak_tree_mb: float = 0.0
    peak_main_mb: float = 0.0
    peak_role_mb: dict[str, float] = field(default_factory=dict)

    def status(self) -> dict:
        """The status JSON ``planflow run`` printed. Raises ValueError when there is none."""
        return json.loads(self.stdout)


def run_span(repo: Path) -> float:
    """Seconds from the start to the end of the (one) run in ``repo``, read from its status
    file (``finished_at - started_at``): the interpreter's and Prefect's start-up are out of
    it. Raises RuntimeError when the run did not complete."""
    (path,) = (repo / ".git" / "planflow" / "runs").glob("*/status.json")
    status = json.loads(path.read_text())
    if status["status"] != "completed":
        raise RuntimeError(f"the run did not complete: {status['output']}")
    return status["finished_at"] - status["started_at"]


def run_planflow(args: list[str], env: dict[str, str], check: bool = True,
                 sample_memory: bool = False) -> RunResult:
    """Run ``planflow args`` (``python -m planflow.cli``) and time it. With ``sample_memory``
    the process tree's memory is sampled every 20 ms (``_sample_tree``). Raises RuntimeError (with its stderr) when
    ``check`` and the exit code is not 0, or when it runs longer than ``RUN_LIMIT_S`` (stopped)."""
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "planflow.cli", *args], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peaks = [0.0, 0.0]
    roles: dict[str, float] = {}
    sampler = None
    if sample_memory:
        sampler = threading.Thread(target=_sample_tree, args=(process, peaks, roles), daemon=True)
        sampler.start()
    try:
        stdout, stderr = process.communicate(timeout=RUN_LIMIT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
        raise RuntimeError(f"planflow {' '.join(args)} still ran after {RUN_LIMIT_S} s:"
                           f"\n{stderr[-3000:]}") from None
    seconds = time.perf_counter() - started
    if sampler:
        sampler.join()
    if check and process.returncode != 0:
        raise RuntimeError(f"planflow {' '.join(args)} exited {process.returncode}:\n{stderr[-3000:]}")
    return RunResult(seconds, process.returncode, stdout, stderr, peaks[0], peaks[1], roles)


ROLES = ("planflow", "Prefect server", "git", "agents and other")
"""The kinds of process ``run_planflow`` tells apart in a run's tree: the planflow process
itself, Prefect's temporary API server (uvicorn, started by the ephemeral mode), git, and
everything else (the agents, their shells and planflow's agent reaper)."""


def _cmdline(pid: int) -> bytes | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None


def _role(cmdline: bytes) -> str:
    """Which of ``ROLES`` (but the first) a process below planflow is, from its command line."""
    argv = cmdline.split(b"\0")
    if b"uvicorn" in argv:
        return ROLES[1]
    if os.path.basename(argv[0]) == b"git":
        return ROLES[2]
    return ROLES[3]


def _child_mb(pid: int, root_cmdline: bytes | None, rss_mb: float) -> tuple[str, float] | None:
    """(role, PSS in MiB) of process ``pid`` below planflow, or None while it is a fork of
    planflow that has not exec'd yet (its command line is planflow's, or changes while it is
    read): such a child (``vfork``) shares planflow's memory, which would count twice; None too
    when it has no command line (a process exiting, whose memory is gone; its RSS in ``stat``
    is stale)."""
    before = _cmdline(pid)
    mb = _pss_mb(pid, rss_mb)
    after = _cmdline(pid)
    if not before or before != after or before == root_cmdline:
        return None
    return _role(before), mb


def _pss_mb(pid: int, rss_mb: float) -> float:
    """The proportional set size of process ``pid`` (MiB: each page shared with other processes
    counted as its share, from ``/proc/PID/smaps_rollup``), ``rss_mb`` when it cannot be read."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as rollup:
            for line in rollup:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return rss_mb


def _sample_tree(process: subprocess.Popen, peaks: list[float], roles: dict[str, float]) -> None:
    """Until ``process`` ends, record in ``peaks`` the largest PSS sum of its tree and the
    largest RSS of itself, and in ``roles`` the largest PSS sum of each kind of process
    (``ROLES``) in it (MiB). PSS, not RSS, for the sums, and a child of planflow is counted
    only once it has exec'd (``_child_mb``): until then it shares planflow's pages."""
    page_mb = os.sysconf("SC_PAGE_SIZE") / 2**20
    while process.poll() is None:
        children: dict[int, list[int]] = {}
        rss: dict[int, int] = {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                fields = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
            rss[int(entry.name)] = int(fields[21])
        tree, todo = [], [process.pid]
        while todo:
            pid = todo.pop()
            tree.append(pid)
            todo += children.get(pid, [])
        now = dict.fromkeys(ROLES, 0.0)
        now[ROLES[0]] = _pss_mb(process.pid, rss.get(process.pid, 0) * page_mb)
        root_cmdline = _cmdline(process.pid)
        for pid in tree[1:]:  # the command line is read each time: a forked child execs later
            if (child := _child_mb(pid, root_cmdline, rss.get(pid, 0) * page_mb)) is not None:
                now[child[0]] += child[1]
        peaks[0] = max(peaks[0], sum(now.values()))
        peaks[1] = max(peaks[1], rss.get(process.pid, 0) * page_mb)
        for role, mb in now.items():
            roles[role] = max(roles.get(role, 0.0), mb)
        time.sleep(0.02)
