"""Engine overhead per task: planflow with a no-op shell agent vs the same git work in a
plain shell script, on a small repository. Prints a table; not a test.

planflow's time per task is (T(N tasks) - T(1 task)) / (N - 1), so Prefect's start-up and
the per-flow costs common to both runs cancel out. The shell script does what the engine does
to git for each task: worktree from the base on a new branch, write one file, commit, remove
the worktree; for a parallel phase it then stacks the branches with cherry-pick in a scratch
worktree.

Usage: python benchmarks/overhead.py [--tasks N]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def make_repo(path: Path) -> Path:
    path.mkdir(parents=True)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"],
                 ["-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "init"]):
        if args[0] == "add":
            for i in range(50):
                (path / f"src_{i}.py").write_text(f"value = {i}\n")
        subprocess.run(["git", *args], cwd=path, check=True)
    return path


def write_plan(path: Path, tasks: int, strategy: str) -> Path:
    lines = ["name: bench", "phases:", "  - name: only", f"    strategy: {strategy}",
             "    tasks:"]
    for i in range(1, tasks + 1):
        lines.append(f'      - {{id: "{i}", title: t{i}, files: [t-{i}.txt], '
                     f'run: "echo task {i} > t-{i}.txt"}}')
    path.write_text("\n".join(lines) + "\n")
    return path


def time_planflow(work: Path, tasks: int, strategy: str, tag: str) -> float:
    from planflow.cli import main

    repo = make_repo(work / f"pf-{tag}")
    plan = write_plan(work / f"plan-{tag}.yaml", tasks, strategy)
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = main(["run", str(plan), "--repo", str(repo), "--max-parallel", "4"])
    elapsed = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"planflow run failed for {tag}")
    return elapsed


def time_shell(work: Path, tasks: int, strategy: str, tag: str) -> float:
    repo = make_repo(work / f"sh-{tag}")
    started = time.perf_counter()
    subprocess.run(["bash", "-c", SHELL_WORK, "bench", str(repo), str(tasks), strategy], check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20)
    n = parser.parse_args().tasks
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "ERROR")
    with tempfile.TemporaryDirectory(prefix="planflow-bench-") as tmp:
        work = Path(tmp)
        os.environ["PLANFLOW_RESULTS_DIR"] = str(work / "results")
        time_planflow(work, 1, "sequential", "warm-up")  # Prefect's ephemeral server starts here
        print(f"{'phase':<11} {'tasks':>5} {'planflow s/task':>16} {'shell s/task':>13} {'ratio':>6}")
        for strategy in ("sequential", "parallel"):
            one = time_planflow(work, 1, strategy, f"{strategy}-1")
            many = time_planflow(work, n, strategy, f"{strategy}-{n}")
            engine = (many - one) / (n - 1)
            shell = time_shell(work, n, strategy, strategy) / n
            print(f"{strategy:<11} {n:>5} {engine:>16.3f} {shell:>13.3f} {engine / shell:>6.1f}")
        print(f"fixed cost of a 1-task run (flow + one phase subflow): {one:.2f} s")


if __name__ == "__main__":
    sys.exit(main())
