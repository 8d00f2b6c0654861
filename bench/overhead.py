"""P1, engine overhead per task: planflow with a no-op shell agent vs the same git work in a
plain shell script, on a small repository. Prints a table; not a test.

planflow's time per task is (S(N tasks) - S(1 task)) / (N - 1), where S is the run's own span
in its status file (``finished_at - started_at``): the interpreter's and Prefect's start-up are
out of it, and the per-run costs common to both runs (the phase subflow, the artifacts) cancel
out. The shell script does what the engine does to git for each task: worktree from the base
on a new branch, write one file, commit, remove the worktree; in a parallel phase 4 tasks at a
time (as planflow runs them, ``--max-parallel 4``; worktrees are added and removed one at a
time, as planflow's repository lock does, since concurrent ``git worktree`` commands race),
then it stacks the branches with cherry-pick in a scratch worktree. Each comparison runs ``REPEATS`` times, planflow and shell
runs of both phase types interleaved; the figures are medians with their spread (largest minus
smallest), the ratio is the median of the repeats' ratios.

Usage: python bench/overhead.py [--tasks N] [--repeats R]
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

from common import (REPEATS, Row, Samples, bench_env, make_repo, noop_tasks, run_planflow, run_span,
                    script_main, write_plan)

TARGET = 1.5
PARALLEL = 4

SHELL_WORK = r"""
set -euo pipefail
cd "$1"; n=$2; mode=$3; parallel=$4; base=$(git rev-parse HEAD); prev=$base
task() {  # task number, start commit; worktree add/remove one at a time, as planflow's repo lock does
  flock .git/bench.lock git worktree add -q -b "sh-task-$1" ".worktrees/sh-$1" "$2"
  echo "task $1" > ".worktrees/sh-$1/t-$1.txt"
  git -C ".worktrees/sh-$1" add -A
  git -C ".worktrees/sh-$1" -c user.name=b -c user.email=b@b commit -qm "task $1"
  flock .git/bench.lock git worktree remove ".worktrees/sh-$1"
}
pids=()
for i in $(seq 1 "$n"); do
  if [ "$mode" = sequential ]; then
    task "$i" "$prev"; prev=$(git rev-parse "sh-task-$i")
  else
    task "$i" "$base" & pids+=($!)
    if [ ${#pids[@]} -eq "$parallel" ] || [ "$i" -eq "$n" ]; then
      for pid in "${pids[@]}"; do wait "$pid"; done
      pids=()
    fi
  fi
done
if [ "$mode" = parallel ]; then
  git worktree add -q --detach .worktrees/sh-stack "$base"
  for i in $(seq 1 "$n"); do
    git -C .worktrees/sh-stack -c user.name=b -c user.email=b@b cherry-pick "sh-task-$i" >/dev/null
    git branch -f "sh-task-$i" "$(git -C .worktrees/sh-stack rev-parse HEAD)"
  done
  git worktree remove .worktrees/sh-stack
fi
"""


def span_planflow(work: Path, tasks: int, strategy: str, tag: str) -> tuple[float, float]:
    """(span, wall) seconds of one ``planflow run`` of ``tasks`` no-op tasks in one phase, on a
    new repository: the run's span from its status file, and the process's wall time."""
    repo = make_repo(work / f"pf-{tag}")
    plan = write_plan(work / f"plan-{tag}.yaml", [(strategy, noop_tasks(tasks))])
    done = run_planflow(["run", str(plan), "--repo", str(repo), "--max-parallel", str(PARALLEL)],
                        bench_env(work))
    return run_span(repo), done.seconds


def time_shell(work: Path, tasks: int, strategy: str, tag: str) -> float:
    """Seconds the shell script takes for ``tasks`` tasks on a new repository."""
    repo = make_repo(work / f"sh-{tag}")
    started = time.perf_counter()
    subprocess.run(["bash", "-c", SHELL_WORK, "bench", str(repo), str(tasks), strategy, str(PARALLEL)],
                   check=True)
    return time.perf_counter() - started


def run(tasks: int = 50, repeats: int = REPEATS) -> list[Row]:
    """P1 rows, one per phase strategy: planflow's seconds per task vs the shell script's
    (medians of ``repeats`` interleaved repeats, with spreads), and the fixed cost of a 1-task run."""
    strategies = ("sequential", "parallel")
    engine = {strategy: [] for strategy in strategies}
    shell = {strategy: [] for strategy in strategies}
    fixed, wall = [], []
    with tempfile.TemporaryDirectory(prefix="planflow-bench-") as tmp:
        work = Path(tmp)
        for repeat in range(repeats):
            for strategy in strategies:
                tag = f"{strategy}-{repeat}"
                one, one_wall = span_planflow(work, 1, strategy, f"{tag}-1")
                shell[strategy].append(time_shell(work, tasks, strategy, tag) / tasks)
                many, _ = span_planflow(work, tasks, strategy, f"{tag}-{tasks}")
                engine[strategy].append((many - one) / (tasks - 1))
                fixed.append(one)
                wall.append(one_wall)
    rows = []
    for strategy in strategies:
        ours, theirs = Samples(engine[strategy]), Samples(shell[strategy])
        ratio = Samples([a / b for a, b in zip(ours.values, theirs.values)])
        rows.append(Row("P1", f"overhead/task, {tasks} no-op tasks, {strategy} phase, median of"
                              f" {repeats}", ours.text(), f"shell {theirs.text()}", ratio.median,
                        f"<= {TARGET}x", ratio.median <= TARGET))
        rows.append(Row("P1", f"  ratio of each repeat, {strategy}",
                        ", ".join(f"{value:.2f}" for value in ratio.values)))
    rows.append(Row("P1", "span of a 1-task run (flow, subflow, one task)", Samples(fixed).text(digits=2)))
    rows.append(Row("P1", "wall time of a 1-task run (with start-up)", Samples(wall).text(digits=2)))
    return rows


if __name__ == "__main__":
    script_main(__doc__, run)
