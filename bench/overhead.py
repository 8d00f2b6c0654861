"""P1, engine overhead per task: planflow with a no-op shell agent vs the same git work in a
plain shell script, on a small repository. Prints a table; not a test.

planflow's time per task is (T(N tasks) - T(1 task)) / (N - 1), so interpreter and Prefect
start-up and the per-flow costs common to both runs cancel out. The shell script does what the
engine does to git for each task: worktree from the base on a new branch, write one file,
commit, remove the worktree; for a parallel phase it then stacks the branches with cherry-pick
in a scratch worktree. planflow and shell runs alternate.

Usage: python bench/overhead.py [--tasks N]
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

from common import Row, bench_env, make_repo, noop_tasks, run_planflow, script_main, write_plan

TARGET = 1.5

SHELL_WORK = r"""
set -euo pipefail
cd "$1"; n=$2; mode=$3; base=$(git rev-parse HEAD); prev=$base
for i in $(seq 1 "$n"); do
  start=$([ "$mode" = sequential ] && echo "$prev" || echo "$base")
  git worktree add -q -b "sh-task-$i" ".worktrees/sh-$i" "$start"
  echo "task $i" > ".worktrees/sh-$i/t-$i.txt"
  git -C ".worktrees/sh-$i" add -A
  git -C ".worktrees/sh-$i" -c user.name=b -c user.email=b@b commit -qm "task $i"
  prev=$(git rev-parse "sh-task-$i")
  git worktree remove ".worktrees/sh-$i"
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


def time_planflow(work: Path, tasks: int, strategy: str, tag: str) -> float:
    """Seconds of one ``planflow run`` of ``tasks`` no-op tasks in one phase, on a new repository."""
    repo = make_repo(work / f"pf-{tag}")
    plan = write_plan(work / f"plan-{tag}.yaml", [(strategy, noop_tasks(tasks))])
    return run_planflow(["run", str(plan), "--repo", str(repo), "--max-parallel", "4"],
                        bench_env(work)).seconds


def time_shell(work: Path, tasks: int, strategy: str, tag: str) -> float:
    """Seconds the shell script takes for ``tasks`` tasks on a new repository."""
    repo = make_repo(work / f"sh-{tag}")
    started = time.perf_counter()
    subprocess.run(["bash", "-c", SHELL_WORK, "bench", str(repo), str(tasks), strategy], check=True)
    return time.perf_counter() - started


def run(tasks: int = 50) -> list[Row]:
    """P1 rows, one per phase strategy: planflow's seconds per task vs the shell script's."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="planflow-bench-") as tmp:
        work = Path(tmp)
        for strategy in ("sequential", "parallel"):
            one = time_planflow(work, 1, strategy, f"{strategy}-1")
            shell = time_shell(work, tasks, strategy, strategy) / tasks
            many = time_planflow(work, tasks, strategy, f"{strategy}-{tasks}")
            engine = (many - one) / (tasks - 1)
            rows.append(Row("P1", f"overhead/task, {tasks} no-op tasks, {strategy} phase",
                            f"{engine:.3f} s", f"shell {shell:.3f} s", engine / shell,
                            f"<= {TARGET}x", engine / shell <= TARGET))
        rows.append(Row("P1", "fixed cost of a 1-task run (start-up, flow, subflow)", f"{one:.2f} s"))
    return rows


if __name__ == "__main__":
    script_main(__doc__, run)
