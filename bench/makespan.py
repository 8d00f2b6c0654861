"""P2, makespan: a generated plan with explicit dependencies whose agents sleep 0.5 to 3 s
(seeded), 4 agent slots, run with ``--schedule dag``, ``phases`` and ``waves``, against the
lower bound max(critical path, total work / 4). Prints a table; not a test.

The makespan is the run's own span in its status file (``finished_at - started_at``): from the
plan's start to the last stacked branch, so Prefect's and the interpreter's start-up are out of
it, and every cost planflow adds per task is in it. The three modes run on copies of one
repository, one after the other.

Usage: python bench/makespan.py [--tasks N] [--seed S]
"""

from __future__ import annotations

import json
import random
import tempfile
from pathlib import Path

from common import Row, bench_env, git, make_repo, run_planflow, script_main, write_plan

SLOTS = 4
TARGET = 0.9
MODES = ("dag", "phases", "waves")


def generate(tasks: int, seed: int) -> list[tuple[str, list[dict]]]:
    """Parallel phases of 10 tasks (fewer when ``tasks`` < 20); a task outside the first phase
    depends on 1 to 2 random earlier tasks, and sleeps a seeded 0.5 to 3 s before writing its
    file."""
    rng = random.Random(seed)
    per_phase = 10 if tasks >= 20 else max(1, tasks // 2)
    phases, done = [], []
    for start in range(0, tasks, per_phase):
        phase = []
        for i in range(start + 1, min(tasks, start + per_phase) + 1):
            seconds = round(rng.uniform(0.5, 3.0), 2)
            earlier = done if done else []
            deps = rng.sample(earlier, k=min(len(earlier), rng.randint(1, 2))) if earlier else []
            phase.append({"id": str(i), "deps": deps, "seconds": seconds,
                          "run": f"sleep {seconds} && echo {i} > t-{i}.txt"})
        done += [task["id"] for task in phase]
        phases.append(("parallel", phase))
    return phases


def lower_bound(phases: list[tuple[str, list[dict]]], slots: int) -> tuple[float, float, float]:
    """(bound, critical path, total work / slots) in seconds."""
    finish: dict[str, float] = {}
    total = 0.0
    for _, tasks in phases:
        for task in tasks:
            finish[task["id"]] = task["seconds"] + max((finish[d] for d in task["deps"]), default=0.0)
            total += task["seconds"]
    critical = max(finish.values())
    return max(critical, total / slots), critical, total / slots


def makespan(result_repo: Path) -> float:
    """Seconds from the run's start to its end, read from its status file."""
    (path,) = (result_repo / ".git" / "planflow" / "runs").glob("*/status.json")
    status = json.loads(path.read_text())
    if status["status"] != "completed":
        raise RuntimeError(f"the run did not complete: {status['output']}")
    return status["finished_at"] - status["started_at"]


def run(tasks: int = 60, seed: int = 3) -> list[Row]:
    """P2 rows: the makespan of each mode against the lower bound."""
    phases = generate(tasks, seed)
    bound, critical, spread = lower_bound(phases, SLOTS)
    spans = {}
    with tempfile.TemporaryDirectory(prefix="planflow-bench-") as tmp:
        work = Path(tmp)
        origin = make_repo(work / "origin")
        plan = write_plan(work / "plan.yaml", phases)
        for mode in MODES:
            repo = work / mode
            git(work, "clone", "-q", str(origin), str(repo))
            run_planflow(["run", str(plan), "--repo", str(repo), "--max-parallel", str(SLOTS),
                          "--schedule", mode], bench_env(work / f"results-{mode}"))
            spans[mode] = makespan(repo)
    rows = [Row("P2", f"lower bound, {tasks} tasks: max(critical path {critical:.1f} s,"
                      f" work/{SLOTS} {spread:.1f} s)", f"{bound:.1f} s")]
    for mode in MODES:
        efficiency = bound / spans[mode]
        rows.append(Row("P2", f"makespan --schedule {mode} (bound / makespan)", f"{spans[mode]:.1f} s",
                        f"bound {bound:.1f} s", efficiency,
                        f">= {TARGET}" if mode == "dag" else "", efficiency >= TARGET if mode == "dag" else None))
    faster = spans["dag"] < min(spans["phases"], spans["waves"])
    rows.append(Row("P2", "dag faster than phase and wave barriers", "yes" if faster else "no",
                    f"phases {spans['phases']:.1f} s, waves {spans['waves']:.1f} s",
                    spans["dag"] / min(spans["phases"], spans["waves"]), "faster", faster))
    return rows


if __name__ == "__main__":
    script_main(__doc__, run)
