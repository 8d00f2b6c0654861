"""P3, re-running a finished plan: agent calls (must be 0) and seconds per task beyond
the run's fixed cost. Prints a table; not a test.

A plan of N no-op tasks and one of 1 task run to the end; then each is run again, alternately,
``REPEATS`` times. Every agent call appends a line to a counter file outside the repository.
Time per task = (S(rerun of N) - S(rerun of 1)) / (N - 1), where S is the re-run's own span in
its status file (``finished_at - started_at``, so the interpreter's and Prefect's start-up are
out of it); the figure is the median of the repeats, with their spread.

Usage: python bench/rerun.py [--tasks N] [--repeats R]
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from common import (REPEATS, Row, Samples, bench_env, make_repo, noop_tasks, run_planflow, run_span,
                    script_main, write_plan)

TARGET_S = 0.050


def run(tasks: int = 50, repeats: int = REPEATS) -> list[Row]:
    """P3 rows: agent calls of the re-runs and their seconds per task beyond the fixed cost."""
    with tempfile.TemporaryDirectory(prefix="planflow-bench-") as tmp:
        work = Path(tmp)
        env = bench_env(work)
        commands, counters, repos = {}, {}, {}
        for size in (1, tasks):
            counters[size] = work / f"calls-{size}.txt"
            repos[size] = make_repo(work / f"repo-{size}")
            plan = write_plan(work / f"plan-{size}.yaml",
                              [("parallel", noop_tasks(size, counters[size]))])
            commands[size] = ["run", str(plan), "--repo", str(repos[size]), "--max-parallel", "4"]
            run_planflow(commands[size], env)
            counters[size].write_text("")
        spans: dict[int, list[float]] = {1: [], tasks: []}
        for _ in range(repeats):
            for size in (1, tasks):
                run_planflow(commands[size], env)
                spans[size].append(run_span(repos[size]))
        calls = sum(len(counter.read_text().splitlines()) for counter in counters.values())
    per_task = Samples([(many - one) / (tasks - 1) for one, many in zip(spans[1], spans[tasks])])
    return [
        Row("P3", f"rerun of a finished {tasks}-task plan: agent calls ({repeats} re-runs)", str(calls),
            target="0", met=calls == 0),
        Row("P3", f"rerun: time/task beyond the fixed cost, median of {repeats}",
            per_task.text(1000, "ms", 0), f"1-task rerun span {Samples(spans[1]).text(digits=2)}",
            None, f"< {TARGET_S * 1000:.0f} ms", per_task.median < TARGET_S),
    ]


if __name__ == "__main__":
    script_main(__doc__, run)
