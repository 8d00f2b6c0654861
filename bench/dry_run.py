"""P4, ``planflow run --dry-run`` of a generated 1,000-task plan beyond a 3-task plan's time, the
start-up of ``planflow validate`` and ``--dry-run``, and that neither imports Prefect.
Prints a table; not a test.

Each command runs as a new process, best of three, the two plan sizes alternating. Whether
Prefect is imported is read from ``python -X importtime`` (a separate run, as it slows imports).

Usage: python bench/dry_run.py [--tasks N]
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import Row, script_main
from plan_scale import as_native, generate

TARGET_EXTRA_S = 1.0
TARGET_START_S = 0.5
PREFECT_IMPORT = re.compile(r"\|\s+prefect(\.|$)", re.MULTILINE)


def _cli(*args: str, importtime: bool = False) -> tuple[float, str]:
    """Seconds of one ``planflow`` process and its stderr. Raises CalledProcessError."""
    command = [sys.executable, *(["-X", "importtime"] if importtime else []), "-m", "planflow.cli", *args]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return time.perf_counter() - started, done.stderr


def run(tasks: int = 1000) -> list[Row]:
    """P4 rows: the dry run's extra seconds for ``tasks`` tasks, validate's and the dry run's
    start-up (3 tasks), and whether either imported Prefect."""
    with tempfile.TemporaryDirectory(prefix="planflow-bench-") as tmp:
        plans = {}
        for size in (3, tasks):
            plans[size] = Path(tmp) / f"plan-{size}.yaml"
            plans[size].write_text(as_native(generate(size, min(10, size), seed=7)))
        best = {("dry", 3): [], ("dry", tasks): [], ("validate", 3): [], ("python", 0): []}
        for _ in range(3):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", "pass"], check=True)
            best["python", 0].append(time.perf_counter() - started)
            best["validate", 3].append(_cli("validate", str(plans[3]))[0])
            for size in (3, tasks):
                best["dry", size].append(_cli("run", str(plans[size]), "--dry-run", "--json")[0])
        imports = {name: bool(PREFECT_IMPORT.search(_cli(*args, importtime=True)[1]))
                   for name, args in (("validate", ("validate", str(plans[3]))),
                                      ("dry-run", ("run", str(plans[3]), "--dry-run")))}
    small, large, validate = min(best["dry", 3]), min(best["dry", tasks]), min(best["validate", 3])
    python = f"bare python {min(best['python', 0]):.3f} s"
    return [
        Row("P4", f"dry-run of {tasks} tasks beyond a 3-task plan", f"{large - small:.3f} s",
            f"3 tasks {small:.3f} s", None, f"< {TARGET_EXTRA_S:g} s", large - small < TARGET_EXTRA_S),
        Row("P4", "start-up: planflow validate (3 tasks)", f"{validate:.3f} s", python,
            target=f"< {TARGET_START_S} s", met=validate < TARGET_START_S),
        Row("P4", "start-up: planflow run --dry-run (3 tasks)", f"{small:.3f} s", python,
            target=f"< {TARGET_START_S} s", met=small < TARGET_START_S),
        *[Row("P4", f"{name} imports Prefect", "yes" if imported else "no", target="no",
              met=not imported) for name, imported in imports.items()],
    ]


if __name__ == "__main__":
    script_main(__doc__, run)
