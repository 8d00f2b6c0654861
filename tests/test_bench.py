"""The benchmark scripts under ``bench/`` still run: all of them at tiny sizes (not a
measurement; the figures are not checked), against the session's Prefect server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_every_benchmark_runs_at_tiny_sizes_and_prints_one_table(prefect_api, tmp_path):
    env = os.environ | {"PREFECT_API_URL": prefect_api, "PLANFLOW_BENCH_CACHE": str(tmp_path / "cache"),
                        "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--tiny"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[0].startswith("planflow benchmarks,") and "tiny sizes" in lines[0]
    rows = [line.split() for line in lines[2:]]
    assert {row[0] for row in rows} == {"P1", "P2", "P3", "P4", "P4b", "P5", "P6", "MEM"}
    assert not [line for line in lines if "crashed" in line]
    # what the tiny sizes do check: a re-run calls no agent, validate and the dry run skip Prefect
    assert [line for line in lines if "agent calls" in line][0].split()[-1] == "yes"
    imports = [line for line in lines if "imports Prefect" in line]
    assert len(imports) == 2 and all(line.split()[-1] == "yes" for line in imports), imports
