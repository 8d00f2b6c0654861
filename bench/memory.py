"""Memory: peak memory of a 200-task run, and of a 10-task run in the same benchmark run for
comparison. Prints a table; not a test.

Measured: the ``planflow run`` process together with all its descendants (Prefect's ephemeral
API server, the agents, git), as the largest sum of their proportional set sizes (PSS: a page
shared by several processes counts as each one's share) seen while sampling every 20 ms; the
same sum for each kind of process (the Prefect server, git, the agents and the rest), to show
where a growth is; and the RSS of the planflow process alone. PSS rather than RSS for the
sums, since a child just forked from planflow shares all its pages until it execs and its RSS
would count them twice. The two sizes run interleaved, ``REPEATS`` times; each figure is the
median of the repeats, with their spread.

Usage: python bench/memory.py [--tasks N] [--repeats R]
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from common import REPEATS, ROLES, Row, Samples, bench_env, make_repo, noop_tasks, run_planflow, script_main, write_plan

SMALL = 10
TARGET = 1.2


def run(tasks: int = 200, repeats: int = REPEATS) -> list[Row]:
    """Memory rows: the peak PSS of the process tree (and of each kind of process in it) and the
    peak RSS of planflow alone, ``tasks`` tasks vs ``SMALL`` tasks (4 parallel phases each),
    medians of ``repeats``."""
    tree: dict[int, list[float]] = {SMALL: [], tasks: []}
    main: dict[int, list[float]] = {SMALL: [], tasks: []}
    roles: dict[str, dict[int, list[float]]] = {role: {SMALL: [], tasks: []} for role in ROLES}
    with tempfile.TemporaryDirectory(prefix="planflow-bench-") as tmp:
        work = Path(tmp)
        for repeat in range(repeats):
            for size in (SMALL, tasks):
                repo = make_repo(work / f"repo-{size}-{repeat}")
                all_tasks = noop_tasks(size)
                quarter = max(1, size // 4)
                phases = [("parallel", all_tasks[i:i + quarter]) for i in range(0, size, quarter)]
                plan = write_plan(work / f"plan-{size}.yaml", phases)
                done = run_planflow(["run", str(plan), "--repo", str(repo), "--max-parallel", "4"],
                                    bench_env(work), sample_memory=True)
                tree[size].append(done.peak_tree_mb)
                main[size].append(done.peak_main_mb)
                for role in ROLES:
                    roles[role][size].append(done.peak_role_mb.get(role, 0.0))
    rows = []
    for kind, what, peaks in (("PSS", "planflow + children", tree), ("RSS", "planflow process alone", main)):
        big, small = Samples(peaks[tasks]), Samples(peaks[SMALL])
        ratio = big.median / small.median
        rows.append(Row("MEM", f"peak {kind}, {tasks}-task run, {what}, median of {repeats}",
                        big.text(unit="MB", digits=0), f"{SMALL} tasks {small.text(unit='MB', digits=0)}",
                        ratio, f"<= {TARGET}x", ratio <= TARGET))
    for role in ROLES[1:]:  # where the tree's growth is (the planflow process is the row above)
        big, small = Samples(roles[role][tasks]), Samples(roles[role][SMALL])
        rows.append(Row("MEM", f"  peak PSS of the run's {role} processes, {tasks} tasks",
                        big.text(unit="MB", digits=0), f"{SMALL} tasks {small.text(unit='MB', digits=0)}",
                        big.median / small.median if small.median else None))
    return rows


if __name__ == "__main__":
    script_main(__doc__, run)
