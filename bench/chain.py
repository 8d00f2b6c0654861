"""P4b, the worst shapes for planflow's own graph code: ``planflow validate`` of a 5,000-task
chain (one parallel phase, each task depending on the one before: 5,000 waves), and of 2,000
tasks of one wave declaring files in common pairs, beside a 3-task plan's, and in process the
seconds of parse, validate and schedule. Prints a table;
not a test.

Each command runs as a new process, best of three, the sizes alternating.

Usage: python bench/chain.py [--tasks N] [--wide W]
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from common import Row, script_main
from dry_run import _cli
from plan_scale import measure

TARGET_S = 1.0


def chain(tasks: int) -> str:
    """A native plan of one parallel phase where task i depends on task i-1."""
    out = ["name: chain", "phases:", "  - name: chain", "    strategy: parallel", "    tasks:"]
    for i in range(1, tasks + 1):
        deps = f'["{i - 1}"]' if i > 1 else "[]"
        out.append(f'      - {{id: "{i}", title: step {i}, files: [src/m{i}.py], depends_on: {deps}}}')
    return "\n".join(out) + "\n"


def wide_plan(tasks: int) -> str:
    """A native plan of one parallel phase of independent tasks, task pairs sharing a file."""
    out = ["name: wide", "phases:", "  - name: wide", "    strategy: parallel", "    tasks:"]
    for i in range(1, tasks + 1):
        out.append(f'      - {{id: "{i}", title: step {i}, files: [src/m{i // 2}.py]}}')
    return "\n".join(out) + "\n"


def run(tasks: int = 5000, wide: int = 2000) -> list[Row]:
    """P4b rows: validate's extra seconds for the chain and the wide plan over a 3-task plan."""
    with tempfile.TemporaryDirectory(prefix="planflow-bench-") as tmp:
        plans = {"3-task chain": chain(3), f"{tasks}-task chain": chain(tasks),
                 f"{wide}-task wave": wide_plan(wide)}
        paths = {}
        for name, text in plans.items():
            paths[name] = Path(tmp) / f"{name.replace(' ', '-')}.yaml"
            paths[name].write_text(text)
        best = {name: min(_cli("validate", str(path))[0] for _ in range(3))
                for name, path in paths.items()}
        steps = {name: min((measure(path, 4) for _ in range(3)), key=lambda r: sum(r[:3]))
                 for name, path in paths.items() if name != "3-task chain"}
    small = best.pop("3-task chain")
    rows = [Row("P4b", f"{name} in process: parse {parse:.2f} + validate {validate:.2f}"
                       f" + schedule {schedule:.2f}", f"{validate + schedule:.2f} s",
                target=f"validate + schedule < {TARGET_S:g} s", met=validate + schedule < TARGET_S)
            for name, (parse, validate, schedule, _) in steps.items()]
    return rows + [Row("P4b", f"validate {name}", f"{seconds - small:.2f} s more", f"{small:.2f} s (3 tasks)",
                target=f"< {TARGET_S:g} s more", met=seconds - small < TARGET_S)
            for name, seconds in best.items()]


if __name__ == "__main__":
    script_main(__doc__, run)
