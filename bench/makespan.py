"""P2, makespan: a generated plan with explicit dependencies whose agents sleep 0.5 to 3 s
(seeded), 4 agent slots, run with ``--schedule dag``, ``phases`` and ``waves``, against the
lower bound max(critical path, total work / 4). Prints a table; not a test.

The makespan is the run's own span in its status file (``finished_at - started_at``): from the
plan's start to the last stacked branch, so Prefect's and the interpreter's start-up are out of
it, and every cost planflow adds per task is in it. The three modes run on copies of one
repository, interleaved, ``REPEATS`` times; each figure is the median of the repeats, with
their spread (largest minus smallest). ``dag`` is ahead when its median beats the other two
modes' by more than the larger spread of the two compared.

Usage: python bench/makespan.py [--tasks N] [--seed S] [--repeats R]
"""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

from common import (REPEATS, Row, Samples, bench_env, git, make_repo, run_planflow, run_span,
                    script_main, write_plan)

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


def run(tasks: int = 60, seed: int = 3, repeats: int = REPEATS) -> list[Row]:
    """P2 rows: the makespan of each mode against the lower bound (medians of ``repeats``)."""
    phases = generate(tasks, seed)
    bound, critical, spread = lower_bound(phases, SLOTS)
    spans: dict[str, list[float]] = {mode: [] for mode in MODES}
    with tempfile.TemporaryDirectory(prefix="planflow-bench-") as tmp:
        work = Path(tmp)
        origin = make_repo(work / "origin")
        plan = write_plan(work / "plan.yaml", phases)
        for repeat in range(repeats):
            for mode in MODES:
                repo = work / f"{mode}-{repeat}"
                git(work, "clone", "-q", str(origin), str(repo))
                run_planflow(["run", str(plan), "--repo", str(repo), "--max-parallel", str(SLOTS),
                              "--schedule", mode], bench_env(work / f"results-{mode}-{repeat}"))
                spans[mode].append(run_span(repo))
    samples = {mode: Samples(values) for mode, values in spans.items()}
    rows = [Row("P2", f"lower bound, {tasks} tasks: max(critical path {critical:.1f} s,"
                      f" work/{SLOTS} {spread:.1f} s)", f"{bound:.1f} s")]
    for mode in MODES:
        efficiency = bound / samples[mode].median
        rows.append(Row("P2", f"makespan --schedule {mode} (bound / makespan), median of {repeats}",
                        samples[mode].text(digits=1), f"bound {bound:.1f} s", efficiency,
                        f">= {TARGET}" if mode == "dag" else "", efficiency >= TARGET if mode == "dag" else None))
    dag = samples["dag"]
    ahead = all(other.median - dag.median > max(dag.spread, other.spread)
                for mode, other in samples.items() if mode != "dag")
    best_other = min(samples[mode].median for mode in MODES if mode != "dag")
    rows.append(Row("P2", "dag ahead of phase and wave barriers by more than the spread",
                    "yes" if ahead else "no",
                    f"phases {samples['phases'].median:.1f} s, waves {samples['waves'].median:.1f} s",
                    dag.median / best_other, "ahead", ahead))
    return rows


if __name__ == "__main__":
    script_main(__doc__, run)
