"""Reliability figures (``make reliability``): crash anywhere and resume; concurrency.

1. The 12-task plan (sequential, parallel 6, sequential, parallel 2; shell agent) killed with
   SIGKILL at 11 points, each followed by a plain re-run: commits lost, agent calls repeated
   for finished tasks, runs blocked by a stale lock, orphaned worktrees salvaged, orphaned
   agents killed.
2. 32 tasks in one parallel phase with ``--max-parallel 32`` (the global agent limit set to
   1000 slots, so that it does not cap them).
3. Three ``planflow run`` of different plans at once on the same repository.
4. Random kills (``--kills``, default 40, half with ``--schedule dag``, half with ``phases``):
   the 12-task plan, whose agents each leave a daemon that quits its process group and clears
   its environment, is SIGKILLed with its process group at a random time within the length of
   an unkilled run, then re-run: lost commits, repeated agent calls for tasks whose work
   landed (done, or keep ref written), blocked re-runs, orphaned processes (the agents' and
   their daemons, 10 s after the kill or after the re-run).

Everything runs against one Prefect test server started here, in a temporary folder. Prints one
line per scenario and the totals; exit code 1 when a figure is not the promised one.
Mechanism: ``tests/crashkit.py``. ``--only random`` runs part 4 alone. Parts 1-3 take about 5
minutes on 2 cores, part 4 about 40 minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from crashkit import (RANDOM_AGENT, TWELVE_TASKS, KillPoint, Scenario, concurrent_runs,  # noqa: E402
                      crash_and_resume, parallel_run, random_crash_and_resume)

POINTS = [
    KillPoint("agent run, sequential phase (task 1.2)", "agent", task="1.2"),
    KillPoint("agent run, parallel phase (task 2.3)", "agent", task="2.3"),
    KillPoint("worktree creation, first task (before)", "git", marker="worktree add -B", n=1),
    KillPoint("worktree creation, parallel phase (during)", "git", marker="worktree add -B", n=5, when="during"),
    KillPoint("commit, sequential phase (during)", "git", marker="commit -q", n=2, when="during"),
    KillPoint("commit, parallel phase (during)", "git", marker="commit -q", n=5, when="during"),
    KillPoint("stacking, merge-tree (during)", "git", marker="merge-tree", n=2, when="during"),
    KillPoint("stacking, moving branch 2.3 (before)", "git",
              marker="refs/heads/c0ffee-task-2-3-task-2-3", n=1),
    KillPoint("between phases 2 and 3 (before phase 3's first git write)", "git",
              marker="worktree add -B", n=9),
    KillPoint("after a commit, before its keep ref (task 3.1)", "git",
              marker="refs/planflow/c0ffee/task-3-1", n=1),
    KillPoint("after its keep ref, before Prefect's result (task 2.4)", "git",
              marker="refs/planflow/c0ffee/task-2-4", when="after"),
]


def crash_figures(work: Path, env: dict[str, str]) -> dict:
    """Run every kill point; print a line each; return the totals."""
    totals = {"points": 0, "killed": 0, "resumed": 0, "lost_commits": 0, "repeated_calls": 0,
              "blocked": 0, "orphans": 0, "orphans_salvaged": 0, "worktrees_left": 0,
              "agents_after_kill": 0, "agents_left": 0}
    for index, point in enumerate(POINTS):
        figures = crash_and_resume(work / f"crash-{index}", env, point, TWELVE_TASKS)
        print(json.dumps(figures), flush=True)
        totals["points"] += 1
        for key in totals:
            if key != "points":
                totals[key] += int(figures[key])
    return totals


def random_figures(work: Path, env: dict[str, str], kills: int,
                   schedules: tuple[str, ...] = ("dag", "phases")) -> dict:
    """``kills`` random kills, shared evenly by ``schedules``, each within the length
    of an unkilled run of that schedule; a run that finished before its kill does not count and
    is drawn again (at most ``kills`` times). Prints a line each; returns the totals."""
    totals = {"kills": 0, "resumed": 0, "lost_commits": 0, "landed": 0, "repeated_calls": 0,
              "blocked": 0, "orphaned_processes": 0, "orphans_salvaged": 0, "orphans": 0}
    for number, schedule in enumerate(schedules):
        plain = Scenario(work / f"plain-{schedule}", env, TWELVE_TASKS, agent=RANDOM_AGENT,
                         options=("--schedule", schedule))
        started = time.monotonic()
        code, err = plain.run()
        length = time.monotonic() - started
        print(f"unkilled run, --schedule {schedule}: exit {code}, {length:.1f} s", flush=True)
        wanted = kills // len(schedules) + (kills % len(schedules) if number == len(schedules) - 1 else 0)
        seed = 1000 * number
        done = 0
        while done < wanted and seed < 1000 * number + 2 * wanted:
            figures = random_crash_and_resume(work / f"random-{schedule}-{seed}", env, schedule,
                                              length, seed)
            seed += 1
            print(json.dumps(figures), flush=True)
            if not figures["killed"]:
                continue
            done += 1
            totals["kills"] += 1
            totals["orphaned_processes"] += figures["agents_after_kill"] + figures["agents_left"]
            for key in ("resumed", "lost_commits", "landed", "repeated_calls", "blocked",
                        "orphans_salvaged", "orphans"):
                totals[key] += int(figures[key])
    return totals


def main() -> int:
    """Start a Prefect test server, print the figures, return 0 when all are as promised."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=40, help="random kills (default: 40)")
    parser.add_argument("--only", choices=["random"], help="run only the random kills")
    parser.add_argument("--schedules", default="dag,phases",
                        help="schedules of the random kills, comma-separated (default: dag,phases)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="planflow-reliability-"))
    os.environ.update(PREFECT_HOME=str(work / "prefect"), PLANFLOW_RESULTS_DIR=str(work / "results"),
                      PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_LOGGING_LEVEL="WARNING",
                      PLANFLOW_AGENT_LIMIT="1000")
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=300):
        env = dict(os.environ, PREFECT_API_URL=PREFECT_API_URL.value())
        print(f"# planflow reliability figures ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores)")
        if args.only != "random":
            parallel = parallel_run(work / "parallel-32", env, 32)
            print("parallel-32:", json.dumps(parallel), flush=True)
            concurrent = concurrent_runs(work / "three-runs", env, 3)
            print("three-runs:", json.dumps(concurrent), flush=True)
            crash = crash_figures(work, env)
            print("crash totals:", json.dumps(crash), flush=True)
        randomly = random_figures(work, env, args.kills, tuple(args.schedules.split(",")))
        print("random kill totals:", json.dumps(randomly), flush=True)
    print(f"{randomly['kills']} random kills: lost commits {randomly['lost_commits']}, repeated agent"
          f" calls {randomly['repeated_calls']}, blocked re-runs {randomly['blocked']}, orphaned"
          f" processes {randomly['orphaned_processes']}")
    ok = (randomly["kills"] >= args.kills and randomly["resumed"] == randomly["kills"]
          and randomly["lost_commits"] == randomly["repeated_calls"] == randomly["blocked"] == 0
          and randomly["orphaned_processes"] == 0 and randomly["orphans_salvaged"] == randomly["orphans"])
    if args.only != "random":
        ok = ok and _fixed_ok(crash, parallel, concurrent)
    print("all figures as promised" if ok else "SOME FIGURE IS NOT AS PROMISED")
    return 0 if ok else 1


def _fixed_ok(crash: dict, parallel: dict, concurrent: dict) -> bool:
    """Whether parts 1-3 gave the promised figures."""
    return (crash["killed"] == crash["resumed"] == crash["points"] and crash["lost_commits"] == 0
          and crash["repeated_calls"] == 0 and crash["blocked"] == 0
          and crash["orphans_salvaged"] == crash["orphans"] and crash["worktrees_left"] == 0
          and crash["agents_left"] == crash["agents_after_kill"] == 0
          and parallel["completed"] and parallel["git_errors"] == 0 and parallel["all_files_on_tip"]
          and parallel["stack_intact"]
          and concurrent["completed"] == 3 and concurrent["git_errors"] == 0
          and concurrent["stacks_intact"] == 3)


if __name__ == "__main__":
    sys.exit(main())
