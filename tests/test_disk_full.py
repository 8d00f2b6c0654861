"""A full disk ends the run with a clear error naming the disk and the space needed (exit 5),
the status says so (a reserve is freed to write it), and once space is free a plain re-run
continues without repeating finished work. Simulated twice: a small tmpfs the agent fills
(needs root to mount), and ``ENOSPC`` injected where planflow writes its files."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import planning.disk
from gitops.errors import GitError
from planflow.run_result import EXIT_DISK_FULL, exit_code
from planning.disk import DiskFull, disk_full, says_disk_full, write_text
from runs import APPEND_TO_FILES, make_repo, run_cli, write_plan

ROOT = Path(__file__).resolve().parents[1]

PLAN = """\
    name: full disk
    run_id: d15c0f
    phases:
      - name: one
        tasks:
          - {id: "1.1", title: first, files: [t1.1.txt]}
          - {id: "1.2", title: fills the disk, files: [t1.2.txt], depends_on: ["1.1"]}
          - {id: "1.3", title: last, files: [t1.3.txt], depends_on: ["1.2"]}
    """


def agent(ctl: Path, fill: str) -> str:
    """The shell agent: logs its call, writes its files; task 1.2 first runs ``fill`` once
    (armed by ``ctl/fill``)."""
    return (f'echo "$PLANFLOW_TASK_ID" >> {ctl}/calls.log; '
            f'if [ "$PLANFLOW_TASK_ID" = 1.2 ] && [ -e {ctl}/fill ]; then rm {ctl}/fill; {fill}; fi; '
            + APPEND_TO_FILES)


def calls(ctl: Path) -> list[str]:
    return (ctl / "calls.log").read_text().split()


def test_the_disk_error_names_the_disk_and_the_space(tmp_path):
    error = DiskFull(tmp_path / "status.json", 64_000_000, "writing status.json")

    text = str(error)
    assert text.startswith("the disk is full while writing status.json: ")
    assert f"holding {tmp_path / 'status.json'}" in text and "mounted on /" in text
    assert "planflow needs at least 64.0 MB there" in text and "run the same command again" in text
    assert error.errno == errno.ENOSPC and isinstance(error, OSError)
    git_error = GitError("commit", ["git", "commit"], 128, "", "fatal: unable to write: No space left on device")
    assert says_disk_full(git_error) and isinstance(disk_full(git_error, tmp_path), DiskFull)
    assert exit_code(RuntimeError("x")) != EXIT_DISK_FULL and exit_code(git_error) == EXIT_DISK_FULL
    assert not says_disk_full(OSError(errno.EACCES, "denied"))


def test_a_write_on_a_full_disk_is_a_disk_full_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    write_text(tmp_path / "status.json", "{}")
    monkeypatch.setattr(planning.disk.os, "replace", full)
    with pytest.raises(DiskFull, match="while writing status.json"):
        write_text(tmp_path / "status.json", '{"new": 1}')
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"]
    assert (tmp_path / "status.json").read_text() == "{}"  # the old one, whole


def test_enospc_at_planflows_writes_ends_the_run_plainly_and_the_rerun_continues(
        prefect_api, tmp_path, capsys, monkeypatch):
    """``ENOSPC`` injected at every file planflow writes (status, records, context, reserve)
    once task 1.2's agent says the disk is full, until planflow frees its reserve."""
    repo, ctl = make_repo(tmp_path / "repo"), tmp_path / "ctl"
    ctl.mkdir()
    (ctl / "fill").touch()
    real_open = open

    def open_on_a_full_disk(path, mode="r", *args, **kwargs):
        if "w" in mode and (ctl / "full").exists():
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_open(path, mode, *args, **kwargs)

    real_release = planning.disk.DiskReserve.release

    def release(self):  # freeing the reserve makes room again
        (ctl / "full").unlink(missing_ok=True)
        real_release(self)

    monkeypatch.setattr(planning.disk, "open", open_on_a_full_disk, raising=False)
    monkeypatch.setattr(planning.disk.DiskReserve, "release", release)
    plan = write_plan(tmp_path / "plan.yaml", PLAN)
    command = agent(ctl, f"touch {ctl}/full")

    code, status, err = run_cli(capsys, str(plan), "--repo", str(repo), "--agent-command", command)

    assert code == EXIT_DISK_FULL, err
    last = err.strip().splitlines()[-1]  # (the tests show Prefect's own logs above it)
    assert last.startswith("error: the disk is full") and "planflow needs at least" in last
    on_disk = json.loads((repo / ".git" / "planflow" / "runs" / "d15c0f" / "status.json").read_text())
    assert on_disk["status"] == "failed" and "the disk is full" in on_disk["output"]
    assert status is not None and status["status"] == "failed"  # this run's own, finished status

    code, status, err = run_cli(capsys, str(plan), "--repo", str(repo), "--agent-command", command)

    assert code == 0, err
    assert status["status"] == "completed" and calls(ctl) == ["1.1", "1.2", "1.2", "1.3"]


@pytest.fixture
def small_disk(tmp_path):
    """A 16 MB tmpfs mounted at ``tmp_path/disk`` (root only), unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_disk_the_agent_fills_ends_the_run_with_exit_5_and_the_rerun_continues(
        prefect_api, tmp_path, small_disk):
    """The repository and the result storage on a 16 MB tmpfs; task 1.2's agent fills it (a
    ballast file outside its worktree, as another program would), so its own write and
    planflow's commit fail; the user deletes the ballast and runs the same command again."""
    repo, ctl = make_repo(small_disk / "repo"), tmp_path / "ctl"
    ctl.mkdir()
    (ctl / "fill").touch()
    ballast = small_disk / "ballast"
    plan = write_plan(tmp_path / "plan.yaml", PLAN)
    env = {name: value for name, value in os.environ.items() if name != "PREFECT_LOGGING_LEVEL"}
    env |= {"PREFECT_API_URL": prefect_api, "PLANFLOW_MIN_FREE_MB": "1",
            "PLANFLOW_RESULTS_DIR": str(small_disk / "results")}  # Prefect's logs off, as for users
    command = [sys.executable, "-m", "planflow.cli", "run", str(plan), "--repo", str(repo),
               "--agent-command", agent(ctl, f"head -c 64M /dev/zero > {ballast} 2> /dev/null"),
               "--retry-delay", "0"]

    first = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)

    assert first.returncode == EXIT_DISK_FULL, first.stderr
    assert "error: the disk is full" in first.stderr and "Traceback" not in first.stderr
    assert f"mounted on {small_disk}" in first.stderr and "planflow needs at least" in first.stderr
    assert first.stdout == "" or json.loads(first.stdout)["status"] == "failed"
    status = json.loads((repo / ".git" / "planflow" / "runs" / "d15c0f" / "status.json").read_text())
    assert status["status"] == "failed" and "the disk is full" in status["output"]

    ballast.unlink()
    again = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)

    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["status"] == "completed"
    assert calls(ctl) == ["1.1", "1.2", "1.2", "1.3"]  # 1.1 finished: not run again
