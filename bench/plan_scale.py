"""Parse + validate + schedule a generated plan of 1,000 tasks (10 phases, random dependencies
on earlier tasks, random files) in each of three formats and print the time of each step.
Not a test; the target is under 1 s per format, excluding interpreter start-up.

Usage: python bench/plan_scale.py [--tasks N] [--phases P] [--seed S]
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

from common import Row, script_main
from planning.loader import load_plan
from planning.schedule import build_schedule
from planning.validate import validate_plan


def generate(tasks: int, phases: int, seed: int) -> list[list[dict]]:
    """Phases of task dicts (id, title, files, deps, hours); each task depends on up to three
    random earlier tasks of its own or an earlier phase."""
    rng = random.Random(seed)
    per_phase = tasks // phases
    done: list[str] = []
    plan = []
    for p in range(1, phases + 1):
        phase = []
        for t in range(1, per_phase + 1):
            task_id = f"{p}.{t}"
            deps = rng.sample(done, k=min(len(done), rng.randint(0, 3)))
            phase.append({"id": task_id, "title": f"Task {task_id}", "deps": deps,
                          "files": [f"src/m{rng.randint(0, 2000)}.py"], "hours": rng.choice([1, 2, 3])})
        done += [task["id"] for task in phase]
        plan.append(phase)
    return plan


def as_spectacular(plan: list[list[dict]]) -> str:
    """The plan as spectacular markdown."""
    out = ["# Feature: Scale - Implementation Plan", ""]
    for number, phase in enumerate(plan, start=1):
        out += [f"## Phase {number}: Part {number} (Parallel)", ""]
        for task in phase:
            deps = ", ".join(f"Task {dep}" for dep in task["deps"]) or "None"
            out += [f"### Task {task['id']}: {task['title']}", "", "**Files**:",
                    *[f"- {path}" for path in task["files"]], "",
                    f"**Complexity**: M ({task['hours']}h)", "", f"**Dependencies**: {deps}", "",
                    "**Description**: Do the work.", ""]
    return "\n".join(out)


def as_native(plan: list[list[dict]]) -> str:
    """The plan as planflow's native YAML."""
    out = ["name: scale", "phases:"]
    for number, phase in enumerate(plan, start=1):
        out += [f"  - name: Part {number}", "    strategy: parallel", "    tasks:"]
        for task in phase:
            deps = ", ".join(f'"{dep}"' for dep in task["deps"])
            out += [f'      - id: "{task["id"]}"', f"        title: {task['title']}",
                    f"        files: [{', '.join(task['files'])}]", f"        depends_on: [{deps}]",
                    f"        hours: {task['hours']}"]
    return "\n".join(out) + "\n"


def as_autospec(plan: list[list[dict]]) -> str:
    """The plan as an autospec tasks.yaml."""
    out = ["tasks:", "  branch: scale", "summary:", "  total_tasks: 0", "phases:"]
    for number, phase in enumerate(plan, start=1):
        out += [f"  - number: {number}", f"    title: Part {number}", "    tasks:"]
        for task in phase:
            deps = ", ".join(f'"{dep}"' for dep in task["deps"])
            out += [f'      - id: "{task["id"]}"', f"        title: {task['title']}",
                    "        status: Pending", "        type: implementation",
                    "        parallel: true", f"        file_path: {task['files'][0]}",
                    f"        dependencies: [{deps}]"]
    return "\n".join(out) + "\n"


def measure(path: Path, max_parallel: int) -> tuple[float, float, float, int]:
    """Seconds to parse, validate and schedule ``path``, and the number of findings."""
    start = time.perf_counter()
    plan = load_plan(path)
    parsed = time.perf_counter()
    issues = validate_plan(plan)
    validated = time.perf_counter()
    build_schedule(plan, max_parallel)
    scheduled = time.perf_counter()
    return parsed - start, validated - parsed, scheduled - validated, len(issues)


def run(tasks: int = 1000, phases: int = 10, seed: int = 7) -> list[Row]:
    """P4 rows, one per format: the best of three parse + validate + schedule times (seconds)."""
    plan = generate(tasks, phases, seed)
    formats = {"plan.md": as_spectacular, "plan.yaml": as_native, "tasks.yaml": as_autospec}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, render in formats.items():
            path = Path(tmp) / name
            path.write_text(render(plan))
            parse, validate, schedule, _ = min((measure(path, 4) for _ in range(3)),
                                               key=lambda r: sum(r[:3]))
            total = parse + validate + schedule
            rows.append(Row("P4", f"{tasks} tasks {name}: parse {parse:.3f} + validate {validate:.3f}"
                                  f" + schedule {schedule:.3f}", f"{total:.3f} s",
                            target="< 1 s", met=total < 1))
    return rows


if __name__ == "__main__":
    script_main(__doc__, run)
