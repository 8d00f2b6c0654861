"""Crash kit: run ``planflow run`` in a subprocess and SIGKILL it at a chosen point, then count
what a plain re-run recovers; and run many tasks or several runs at once on one repository
(``parallel_run``, ``concurrent_runs``). Used by ``tests/test_crash_resume.py`` (a few points,
small sizes) and ``scripts/reliability.py`` (the issue's ten points, 32 tasks, three runs).

Kill points are hit deterministically, without sleeps:

- ``agent``: the shell agent of a named task, once, writes a partial file, asks the kit to
  kill planflow (``ctl/kill-now``: an agent runs in a PID namespace of its own and cannot
  signal planflow itself) and runs on; a control file in ``ctl/`` arms it, so the agent
  command (part of the cache key) is the same in the killed run and the re-run;
- ``git``: planflow's git calls go through a wrapper (first on ``PATH``) that
  counts calls whose arguments contain a marker (``worktree add``, ``commit``,
  ``cherry-pick``...) and at the n-th one SIGKILLs planflow ``before`` running git,
  ``during`` it (git and planflow killed together right after git started, which can leave
  ``index.lock`` files behind) or ``after`` it (git finished: a ref it wrote has landed);
- ``random``: ``random_crash_and_resume`` SIGKILLs planflow's process group at a random time.

The kill is always of planflow's process group (planflow and the git it runs); the agents it
started are in their own sessions and must die with planflow (``agents.contain``). Processes
the kit's agents start carry the scenario's control folder in their command line, so those
that outlive a run are found (``Scenario.strays``).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from runs import APPEND_TO_FILES

ROOT = Path(__file__).resolve().parents[1]

GIT_WRAPPER = """#!/bin/bash
# planflow crash kit: count matching git calls, SIGKILL the caller at the chosen one.
ctl="{ctl}"
[ -n "$PLANFLOW_GIT_TRACE" ] && echo "$*" >> "$ctl/git-trace.log"
if [ -e "$ctl/kill-git" ]; then
  read -r n when marker < "$ctl/kill-git"
  case " $* " in
    *" $marker "*|*" $marker")
      exec 9>>"$ctl/git-count.lock"; flock 9
      count=$(( $(cat "$ctl/git-count" 2>/dev/null || echo 0) + 1 ))
      echo "$count" > "$ctl/git-count"
      flock -u 9
      if [ "$count" -eq "$n" ]; then
        rm -f "$ctl/kill-git"
        if [ "$when" = before ]; then kill -9 "$PPID"; exit 137; fi
        if [ "$when" = after ]; then "{git}" "$@"; kill -9 "$PPID"; exit 137; fi
        "{git}" "$@" & child=$!
        kill -9 "$PPID" "$child"; exit 137
      fi;;
  esac
fi
exec "{git}" "$@"
"""

AGENT = (
    'echo "$PLANFLOW_TASK_ID" >> {ctl}/calls.log; ' + APPEND_TO_FILES + '; '
    'if [ -e {ctl}/kill-agent-"$PLANFLOW_TASK_ID" ]; then rm {ctl}/kill-agent-"$PLANFLOW_TASK_ID"; '
    'echo partial > partial-"$PLANFLOW_TASK_ID".txt; touch {ctl}/kill-now; exec bash -c "sleep 60" orphan-{ctl}; fi'
)
"""The shell agent: logs its call, appends to the task's files; when armed, it has planflow
killed and goes on running (``orphan-<ctl>`` in its command line), as a real agent CLI would."""

BLOCKING_AGENT = ('echo "$PLANFLOW_TASK_ID" >> {ctl}/calls.log; ' + APPEND_TO_FILES + '; '
                  'for i in $(seq 6000); do [ -e {ctl}/go ] && break; sleep 0.05; done')
"""An agent that works, then waits (at most 300 s) until ``ctl/go`` exists."""

RANDOM_AGENT = (
    'echo "$PLANFLOW_TASK_ID" >> {ctl}/calls.log; ' + APPEND_TO_FILES + '; '
    '(setsid env -i bash -c "sleep 300" daemon-{ctl} > /dev/null 2>&1 &); '
    'sleep 0.$((RANDOM % 10))'
)
"""The agent of the random kills: logs its call, appends to the task's files, leaves a daemon
that quits its process group and clears its environment (``daemon-<ctl>``), and takes up to
a second."""


@dataclass(frozen=True)
class KillPoint:
    """Where to kill: ``kind`` ``agent`` (``task``'s agent) or ``git`` (the ``n``-th git call
    whose arguments hold the words ``marker``, ``when`` ``before`` or ``during`` it)."""

    name: str
    kind: str
    task: str = ""
    marker: str = ""
    n: int = 1
    when: str = "before"


def plan_yaml(phases: list[tuple[str, list[str]]], run_id: str) -> str:
    """A native plan: ``phases`` as (strategy, [task ids]); each task writes ``t<id>.txt``;
    tasks of a sequential phase depend on the previous one."""
    lines = [f"name: crash\nrun_id: {run_id}\nphases:"]
    for number, (strategy, ids) in enumerate(phases, start=1):
        lines.append(f"  - name: phase {number}\n    strategy: {strategy}\n    tasks:")
        for index, task_id in enumerate(ids):
            after = f", depends_on: [\"{ids[index - 1]}\"]" if strategy == "sequential" and index else ""
            lines.append(f'      - {{id: "{task_id}", title: task {task_id}, files: [t{task_id}.txt]{after}}}')
    return "\n".join(lines) + "\n"


TWELVE_TASKS = [("sequential", ["1.1", "1.2"]), ("parallel", [f"2.{i}" for i in range(1, 7)]),
                ("sequential", ["3.1", "3.2"]), ("parallel", ["4.1", "4.2"])]
"""The issue's 12-task plan: sequential, parallel (6), sequential, parallel (2)."""


class Scenario:
    """One repository, plan and control folder under ``folder``; ``env`` is the environment of
    the planflow subprocesses (a shared Prefect API, results dir)."""

    def __init__(self, folder: Path, env: dict[str, str], phases: list[tuple[str, list[str]]] = TWELVE_TASKS,
                 run_id: str = "c0ffee", max_parallel: int = 6, agent: str = AGENT,
                 options: tuple[str, ...] = ()) -> None:
        self.folder, self.run_id, self.max_parallel = folder, run_id, max_parallel
        self.agent, self.options, self.runs, self.phases = agent, options, 0, phases
        self.repo, self.ctl = folder / "repo", folder / "ctl"
        self.ctl.mkdir(parents=True)
        _git(folder, "init", "-q", "-b", "main", str(self.repo))
        (self.repo / "README.md").write_text("hello\n")
        _git(self.repo, "add", "-A")
        _git(self.repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "init")
        self.plan = folder / "plan.yaml"
        self.plan.write_text(plan_yaml(phases, run_id))
        wrapper = self.ctl / "git"
        wrapper.write_text(GIT_WRAPPER.format(ctl=self.ctl, git=shutil.which("git")))
        wrapper.chmod(0o755)
        self.env = env | {"PATH": f"{self.ctl}{os.pathsep}{env.get('PATH', os.defpath)}"}

    def start(self, plan: Path | None = None) -> subprocess.Popen:
        """Start ``planflow run`` of ``plan`` (default: the scenario's) in a subprocess, in its
        own session; its stdout and stderr go to files in ``ctl/`` (``Scenario.stderr``)."""
        command = [sys.executable, "-m", "planflow.cli", "run", str(plan or self.plan), "--repo",
                   str(self.repo), "--agent-command", self.agent.format(ctl=self.ctl), "--retry-delay", "0",
                   "--max-parallel", str(self.max_parallel), *self.options]
        self.runs += 1
        out = self.ctl / f"run-{self.runs}"
        with open(f"{out}.out", "w") as stdout, open(f"{out}.err", "w") as stderr:
            proc = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=stdout, stderr=stderr,
                                    text=True, start_new_session=True)
        proc.output = out  # type: ignore[attr-defined]
        return proc

    def start_working(self, timeout_s: float = 240.0) -> subprocess.Popen:
        """``start`` a run and wait until its first agent has been called (asserted)."""
        proc = self.start()
        deadline = time.monotonic() + timeout_s
        while not self.calls() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert self.calls(), self.stderr(proc)
        return proc

    def wait(self, proc: subprocess.Popen, timeout_s: float = 300.0) -> int | None:
        """Wait for ``proc`` (None after ``timeout_s`` seconds), killing its process group when
        an agent asks (``ctl/kill-now``); then kill whatever it left in its session."""
        deadline = time.monotonic() + timeout_s
        code: int | None = None
        while time.monotonic() < deadline:
            try:
                code = proc.wait(timeout=0.05)
                break
            except subprocess.TimeoutExpired:
                if (self.ctl / "kill-now").exists():
                    (self.ctl / "kill-now").unlink()
                    kill_group(proc)
        kill_group(proc)
        proc.wait()
        return code

    @staticmethod
    def stderr(proc: subprocess.Popen) -> str:
        """What the run ``proc`` printed on stderr."""
        return Path(f"{proc.output}.err").read_text(errors="replace")  # type: ignore[attr-defined]

    def finish(self, proc: subprocess.Popen, timeout_s: float = 300.0) -> tuple[int | None, str]:
        """``wait`` for ``proc``. Returns (exit code, None on timeout; stderr)."""
        code = self.wait(proc, timeout_s)
        return code, self.stderr(proc) if code is not None else "timed out\n" + self.stderr(proc)

    def run(self, plan: Path | None = None, timeout_s: float = 300.0) -> tuple[int | None, str]:
        """``start`` then ``finish``."""
        return self.finish(self.start(plan), timeout_s)

    def arm(self, point: KillPoint) -> None:
        """Make the next run die at ``point``."""
        if point.kind == "agent":
            (self.ctl / f"kill-agent-{point.task}").touch()
        else:
            (self.ctl / "git-count").unlink(missing_ok=True)
            (self.ctl / "kill-git").write_text(f"{point.n} {point.when} {point.marker}\n")

    def strays(self) -> list[str]:
        """Command lines of live processes that this scenario's agents started (they carry
        the control folder): agents, their children and daemons."""
        needle = str(self.ctl).encode()
        found = []
        for proc in Path("/proc").glob("[0-9]*"):
            try:
                cmdline = (proc / "cmdline").read_bytes()
                if needle in cmdline and _alive(proc):
                    found.append(cmdline.replace(b"\0", b" ").decode(errors="replace"))
            except OSError:
                continue
        return found

    def landed(self) -> set[str]:
        """Task ids whose keep ref exists (their work landed)."""
        refs = _git(self.repo, "for-each-ref", "--format=%(refname)", f"refs/planflow/{self.run_id}/")
        ids = {task_id for _, ids in self.phases for task_id in ids}
        by_ref = {f"refs/planflow/{self.run_id}/task-{task_id.replace('.', '-')}": task_id for task_id in ids}
        return {by_ref[ref] for ref in refs.split() if ref in by_ref}

    def calls(self) -> list[str]:
        """Task ids of every agent call so far, in order."""
        log = self.ctl / "calls.log"
        return log.read_text().split() if log.exists() else []

    def status(self, run_id: str | None = None) -> dict:
        """Run ``run_id``'s (default: the scenario's) status.json (``{}`` when there is none)."""
        path = self.repo / ".git" / "planflow" / "runs" / (run_id or self.run_id) / "status.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def git(self, *args: str) -> str:
        """The stripped output of ``git ARGS`` in the scenario's repository (real git, no kill)."""
        return _git(self.repo, *args)

    def stack_intact(self, run_id: str | None = None) -> bool:
        """Whether run ``run_id``'s (default: the scenario's) stacked branches exist and form
        one first-parent chain, in the order of its status."""
        branches = self.status(run_id).get("stack", [])
        if not branches:
            return False
        tips = [self.git("rev-parse", branch) for branch in branches]
        chain = self.git("rev-list", "--first-parent", f"--max-count={len(tips)}", tips[-1]).split()
        return chain[::-1] == tips

    def reachable(self) -> set[str]:
        """Every commit reachable from any ref."""
        return set(_git(self.repo, "rev-list", "--all").split())

    def dirty_worktrees(self) -> dict[str, str]:
        """{worktree folder name: its ``git status --porcelain``} for worktrees with changes."""
        dirty = {}
        for path in sorted((self.repo / ".worktrees").glob("*")):
            try:
                changes = _git(path, "status", "--porcelain", "--untracked-files=all")
            except subprocess.CalledProcessError:
                changes = "unreadable"
            if changes:
                dirty[path.name] = changes
        return dirty


def crash_and_resume(folder: Path, env: dict[str, str], point: KillPoint,
                     phases: list[tuple[str, list[str]]] = TWELVE_TASKS) -> dict:
    """Run the plan of ``phases``, killed at ``point``, then re-run it plainly. Returns the
    figures of ``resume_figures``, with ``point``."""
    scenario = Scenario(folder, env, phases)
    scenario.arm(point)
    started = time.monotonic()
    first, _ = scenario.run()
    return {"point": point.name} | resume_figures(scenario, first, started)


def random_crash_and_resume(folder: Path, env: dict[str, str], schedule: str, within_s: float,
                            seed: int, phases: list[tuple[str, list[str]]] = TWELVE_TASKS) -> dict:
    """Run the plan of ``phases`` with ``--schedule schedule`` and the agent ``RANDOM_AGENT``,
    SIGKILL planflow's process group at a random time in the first ``within_s`` seconds
    (``random.Random(seed)``), then re-run it plainly. Returns the figures of
    ``resume_figures``, with ``schedule`` and ``kill_at_s`` (seconds after the start)."""
    scenario = Scenario(folder, env, phases, agent=RANDOM_AGENT, options=("--schedule", schedule))
    delay = round(random.Random(seed).uniform(0, within_s), 2)
    started = time.monotonic()
    proc = scenario.start()
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        kill_group(proc)
    first = scenario.wait(proc)
    return {"schedule": schedule, "kill_at_s": delay} | resume_figures(scenario, first, started)


def resume_figures(scenario: Scenario, first: int | None, started: float) -> dict:
    """Re-run ``scenario`` plainly after its first run ended with ``first`` (its exit code) and
    count. Returns: ``killed`` (the first run died by SIGKILL), ``resumed`` (the re-run exited
    0, status completed), ``blocked`` (the re-run timed out or found a stale lock),
    ``lost_commits`` (commits reachable after the kill and no longer after the re-run) and
    ``lost`` (their ``sha subject``), ``landed`` (tasks done or with a keep ref at the kill),
    ``repeated_calls`` (agent calls in the re-run of those tasks), ``orphans`` /
    ``orphans_salvaged`` (worktrees with uncommitted work at the kill / those whose work is in a
    salvage ref after the re-run), ``worktrees_left``, ``agents_after_kill`` (processes the
    scenario's agents started still running 10 s after the kill) and ``agents_left`` (still
    running after the re-run), ``seconds``, ``error`` (the re-run's stderr when it failed)."""
    finished = {t["id"] for t in scenario.status().get("tasks", []) if t["state"] == "done"}
    finished |= scenario.landed()
    before, dirty = scenario.reachable(), scenario.dirty_worktrees()
    after_kill = _settled(scenario.strays)
    calls_before = len(scenario.calls())
    second, err = scenario.run()
    again = scenario.calls()[calls_before:]
    salvage = _git(scenario.repo, "for-each-ref", "--format=%(refname)", "refs/planflow/salvage/")
    lost = before - scenario.reachable()
    return {
        "killed": first == -signal.SIGKILL,
        "resumed": second == 0 and scenario.status().get("status") == "completed",
        "blocked": second is None or "already executing" in err or "lock" in err.lower(),
        "lost_commits": len(lost),
        "lost": [scenario.git("log", "-1", "--format=%h %s", sha) for sha in sorted(lost)],
        "landed": len(finished),
        "repeated_calls": sum(1 for task_id in again if task_id in finished),
        "orphans": len(dirty),
        "orphans_salvaged": sum(1 for name in dirty if f"refs/planflow/salvage/{name}/" in salvage),
        "worktrees_left": len(list((scenario.repo / ".worktrees").glob("*"))),
        "agents_after_kill": len(after_kill),
        "agents_left": len(_settled(scenario.strays)),
        "seconds": round(time.monotonic() - started, 1),
        "error": "" if second == 0 else err[-2000:],
    }


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the process group of ``proc`` (planflow and the git it runs), if it is there."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _settled(strays, within_s: float = 10.0) -> list[str]:
    """``strays()`` once it is empty, or what it still lists after ``within_s`` seconds (the
    kernel ends a dead run's agents within milliseconds, but the machine may be busy)."""
    deadline = time.monotonic() + within_s
    while (found := strays()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return found


def parallel_run(folder: Path, env: dict[str, str], tasks: int, run_id: str = "a11a11") -> dict:
    """One parallel phase of ``tasks`` tasks run with ``--max-parallel tasks``. Returns the
    figures: ``exit``, ``completed``, ``git_errors`` (``GitError`` in stderr or a task failed by
    a git command), ``branches`` stacked, ``all_files_on_tip`` (every task's file on the
    stack's tip), ``stack_intact``, ``seconds``, ``error`` (stderr's end when it failed)."""
    ids = [f"1.{i}" for i in range(1, tasks + 1)]
    started = time.monotonic()
    scenario = Scenario(folder, env, [("parallel", ids)], run_id=run_id, max_parallel=tasks)
    code, err = scenario.run(timeout_s=900)
    status = scenario.status()
    tip = (status.get("stack") or [""])[-1]
    files = set(scenario.git("ls-tree", "-r", "--name-only", tip).split()) if tip else set()
    return {"tasks": tasks, "exit": code, "completed": status.get("status") == "completed",
            "git_errors": err.count("GitError") + _git_failures(status),
            "branches": len(status.get("stack", [])),
            "all_files_on_tip": {f"t{i}.txt" for i in ids} <= files,
            "stack_intact": scenario.stack_intact(), "seconds": round(time.monotonic() - started, 1),
            "error": "" if code == 0 else err[-2000:]}


def concurrent_runs(folder: Path, env: dict[str, str], runs: int) -> dict:
    """``runs`` ``planflow run`` of different plans (run ids ``bad001``...; a parallel phase,
    then for the others a sequential and a parallel one) started at once on one repository.
    Returns the figures: ``completed`` (exit 0 and status completed), ``git_errors``,
    ``stacks_intact`` (``Scenario.stack_intact``), ``seconds``."""
    started = time.monotonic()
    scenario = Scenario(folder, env, [("parallel", ["1.1", "1.2"])], run_id="bad001")
    plans = {"bad001": scenario.plan}
    for number in range(2, runs + 1):
        run_id = f"bad{number:03d}"
        plans[run_id] = scenario.folder / f"plan-{run_id}.yaml"
        plans[run_id].write_text(plan_yaml([("sequential", ["1.1"]), ("parallel", ["2.1", "2.2", "2.3"])],
                                           run_id))
    procs = {run_id: scenario.start(plan) for run_id, plan in plans.items()}
    results = {run_id: scenario.finish(proc, 600) for run_id, proc in procs.items()}
    figures = {"runs": runs, "completed": 0, "git_errors": 0, "stacks_intact": 0, "errors": {}}
    for run_id, (code, err) in results.items():
        status = scenario.status(run_id)
        figures["git_errors"] += err.count("GitError") + _git_failures(status)
        ok = code == 0 and status.get("status") == "completed"
        figures["completed"] += int(ok)
        figures["stacks_intact"] += int(scenario.stack_intact(run_id))
        if not ok:
            figures["errors"][run_id] = err[-2000:]
    figures["seconds"] = round(time.monotonic() - started, 1)
    return figures


def _alive(proc: Path) -> bool:
    """Whether process ``/proc/<pid>`` still runs (a zombie does not)."""
    try:
        return (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _git_failures(status: dict) -> int:
    """Tasks of ``status`` that failed on a git command."""
    return sum(1 for task in status.get("tasks", []) if "failed: `git" in (task.get("error") or ""))


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()
