"""Run every benchmark (P1 to P6, memory) and print one table. Not a test: the targets are
checked and printed, and the exit code is 0 either way (1 only when a benchmark crashed).

``--tiny`` runs each at a tiny size (to check the scripts work, not to measure; a few minutes
in all).
``--only P1,P4`` runs some of them. Each benchmark also runs alone: ``python bench/<name>.py``.

Usage: python bench/run.py [--tiny] [--only P1,P2,...]
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable
from datetime import datetime, timezone

import chain
import dry_run
import large_repo
import makespan
import memory
import overhead
import plan_scale
import rerun
import worktree_setup
from common import Row, load_average, print_rows, with_load

BENCHMARKS: dict[str, tuple[Callable[..., list[Row]], dict, dict]] = {
    # name: (run, full-size arguments, tiny arguments)
    "P1": (overhead.run, {"tasks": 50}, {"tasks": 3, "repeats": 1}),
    "P2": (makespan.run, {"tasks": 60}, {"tasks": 4, "repeats": 1}),
    "P3": (rerun.run, {"tasks": 50}, {"tasks": 3, "repeats": 1}),
    "P4": (lambda **kw: dry_run.run(**kw) + plan_scale.run(**kw), {"tasks": 1000}, {"tasks": 20}),
    "P4b": (chain.run, {"tasks": 5000, "wide": 2000}, {"tasks": 10, "wide": 10}),
    "P5": (large_repo.run, {"files": 20000, "kb": 12, "rounds": 3}, {"files": 40, "kb": 1, "rounds": 1}),
    "P6": (worktree_setup.run, {"files": 20000, "tasks": 4}, {"files": 50, "tasks": 1}),
    "MEM": (memory.run, {"tasks": 200}, {"tasks": 4, "repeats": 1}),
}


def main() -> int:
    """Run the chosen benchmarks in order, then print the table; 1 when one crashed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny sizes: check the scripts run")
    parser.add_argument("--only", help="comma-separated names: " + ",".join(BENCHMARKS))
    args = parser.parse_args()
    names = args.only.split(",") if args.only else list(BENCHMARKS)
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    rows: list[Row] = []
    crashed = False
    started = time.perf_counter()
    for name in names:
        function, full, tiny = BENCHMARKS[name]
        print(f"running {name} ...", file=sys.stderr, flush=True)
        try:
            arguments = tiny if args.tiny else full
            rows += with_load(name, lambda: function(**arguments))
        except Exception:
            crashed = True
            traceback.print_exc()
            rows.append(Row(name, "crashed (traceback above)", "-", met=False))
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"planflow benchmarks, {stamp}, {time.perf_counter() - started:.0f} s, load average"
          f" {load_average()}"
          + (" (tiny sizes: not measurements)" if args.tiny else ""))
    print_rows(rows)
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
