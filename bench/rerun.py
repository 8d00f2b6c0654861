"""P3, re-running a finished plan: agent calls (must be 0) and seconds per task beyond
start-up. Prints a table; not a test.

A plan of N no-op tasks and one of 1 task run to the end; then each is run again, alternately.
Every agent call appends a line to a counter file outside the repository. Time per task beyond
start-up = (T(rerun of N) - T(rerun of 1)) / (N - 1).

Usage: python bench/rerun.py [--tasks N]
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from common import Row, bench_env, make_repo, noop_tasks, run_planflow, script_main, write_plan

TARGET_S = 0.050


def run(tasks: int = 50) -> list[Row]:
    """P3 rows: agent calls of the re-run and its seconds per task beyond start-up."""
    with tempfile.TemporaryDirectory(prefix="planflow-bench-") as tmp:
        work = Path(tmp)
        env = bench_env(work)
        commands, counters = {}, {}
        for size in (1, tasks):
            counters[size] = work / f"calls-{size}.txt"
            repo = make_repo(work / f"repo-{size}")
            plan = write_plan(work / f"plan-{size}.yaml",
                              [("parallel", noop_tasks(size, counters[size]))])
            commands[size] = ["run", str(plan), "--repo", str(repo), "--max-parallel", "4"]
            run_planflow(commands[size], env)
            counters[size].write_text("")
        seconds = {size: run_planflow(commands[size], env).seconds for size in (1, tasks)}
        calls = sum(len(counter.read_text().splitlines()) for counter in counters.values())
    per_task = (seconds[tasks] - seconds[1]) / (tasks - 1)
    return [
        Row("P3", f"rerun of a finished {tasks}-task plan: agent calls", str(calls),
            target="0", met=calls == 0),
        Row("P3", "rerun: time/task beyond start-up", f"{per_task * 1000:.0f} ms",
            f"1-task rerun {seconds[1]:.2f} s", None, f"< {TARGET_S * 1000:.0f} ms",
            per_task < TARGET_S),
    ]


if __name__ == "__main__":
    script_main(__doc__, run)
