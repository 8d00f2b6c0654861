"""Memory: peak RSS of a 200-task run, and of a 10-task run in the same benchmark run for
comparison. Prints a table; not a test.

Measured: the ``planflow run`` process together with all its descendants (Prefect's ephemeral
API server, the agents, git), as the largest sum of their RSS seen while sampling every 20 ms;
and the planflow process alone. Shared pages count once per process, so the sum overstates
the tree a little.

Usage: python bench/memory.py [--tasks N]
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from common import Row, bench_env, make_repo, noop_tasks, run_planflow, script_main, write_plan

SMALL = 10


def run(tasks: int = 200) -> list[Row]:
    """Memory rows: the peak RSS of the process tree and of planflow alone, ``tasks`` tasks vs
    ``SMALL`` tasks (4 parallel phases each)."""
    peaks = {}
    with tempfile.TemporaryDirectory(prefix="planflow-bench-") as tmp:
        work = Path(tmp)
        for size in (SMALL, tasks):
            repo = make_repo(work / f"repo-{size}")
            all_tasks = noop_tasks(size)
            quarter = max(1, size // 4)
            phases = [("parallel", all_tasks[i:i + quarter]) for i in range(0, size, quarter)]
            plan = write_plan(work / f"plan-{size}.yaml", phases)
            peaks[size] = run_planflow(["run", str(plan), "--repo", str(repo), "--max-parallel", "4"],
                                       bench_env(work), sample_memory=True)
    big, small = peaks[tasks], peaks[SMALL]
    return [
        Row("MEM", f"peak RSS, {tasks}-task run, planflow + children", f"{big.peak_rss_mb:.0f} MB",
            f"{SMALL} tasks {small.peak_rss_mb:.0f} MB", big.peak_rss_mb / small.peak_rss_mb),
        Row("MEM", f"peak RSS, {tasks}-task run, planflow process alone", f"{big.peak_main_mb:.0f} MB",
            f"{SMALL} tasks {small.peak_main_mb:.0f} MB", big.peak_main_mb / small.peak_main_mb),
    ]


if __name__ == "__main__":
    script_main(__doc__, run)
