"""run_process and base_env with real subprocesses."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

from agents.process import TAIL_CHARS, ProcessOutcome, base_env, run_process
from agents.reaper import report_json


def run(tmp_path: Path, script: str, timeout_s: float | None = 3.0, **kwargs) -> ProcessOutcome:
    return run_process(
        ["bash", "-c", script],
        cwd=tmp_path,
        env=base_env({}),
        timeout_s=timeout_s,
        log_path=tmp_path / "logs" / "run.log",
        **kwargs,
    )


def sleeper() -> str:
    """A ``sleep`` argument no other process has (``9999.<random digits>``): the processes a
    test starts are found by their command line, since their pids are those of the PID
    namespace they run in."""
    return f"9999.{uuid.uuid4().int % 10**9}"


def alive(argument: str) -> bool:
    """True while a process ``sleep ARGUMENT`` exists and is not a zombie."""
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if (proc / "cmdline").read_bytes() == f"sleep\0{argument}\0".encode():
                return "\nState:\tZ" not in (proc / "status").read_text()
        except OSError:
            continue
    return False


def wait_gone(argument: str, within_s: float = 1.0) -> bool:
    deadline = time.monotonic() + within_s
    while alive(argument):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.mark.parametrize("code", [0, 1, 3])
def test_exit_code_is_reported(tmp_path: Path, code: int) -> None:
    outcome = run(tmp_path, f"exit {code}")
    assert outcome.exit_code == code
    assert outcome.timed_out is False
    assert outcome.ok is (code == 0)
    assert outcome.duration_s >= 0


def test_stdout_and_stderr_go_to_the_log(tmp_path: Path) -> None:
    outcome = run(tmp_path, "echo out; echo err >&2; pwd")
    log = (tmp_path / "logs" / "run.log").read_text()
    assert log == f"out\nerr\n{tmp_path}\n"
    assert outcome.log_path == tmp_path / "logs" / "run.log"
    assert outcome.output_tail == log
    assert outcome.argv == ["bash", "-c", "echo out; echo err >&2; pwd"]


def test_output_tail_keeps_the_end(tmp_path: Path) -> None:
    outcome = run(tmp_path, "head -c 10000 /dev/zero | tr '\\0' a; echo END")
    assert len(outcome.output_tail) == TAIL_CHARS
    assert outcome.output_tail.endswith("aaEND\n")


def test_stdin_is_dev_null(tmp_path: Path) -> None:
    outcome = run_process(
        ["cat"], cwd=tmp_path, env=base_env({}), timeout_s=2.0, log_path=tmp_path / "cat.log"
    )
    assert outcome.exit_code == 0
    assert outcome.timed_out is False
    assert outcome.output_tail == ""


def test_env_is_exactly_the_given_one(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "ONLY": "this"}
    outcome = run_process(
        ["env"], cwd=tmp_path, env=env, timeout_s=2.0, log_path=tmp_path / "env.log"
    )
    assert outcome.exit_code == 0
    assert sorted(outcome.output_tail.splitlines()) == ["ONLY=this", "PATH=/usr/bin:/bin"]


def test_base_env_is_an_allow_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/custom/bin")
    monkeypatch.setenv("HOME", "/home/someone")
    monkeypatch.setenv("SECRET_TOKEN", "hunter2")
    monkeypatch.setenv("PYTHONPATH", "/somewhere")
    monkeypatch.delenv("TZ", raising=False)
    env = base_env({"EXTRA": "1", "HOME": "/override"})
    assert env["PATH"] == "/custom/bin"
    assert env["HOME"] == "/override"
    assert env["EXTRA"] == "1"
    assert "SECRET_TOKEN" not in env
    assert "PYTHONPATH" not in env
    assert "TZ" not in env


def test_timeout_kills_the_process_group_and_keeps_partial_output(tmp_path: Path) -> None:
    child = sleeper()
    outcome = run(
        tmp_path,
        f"echo before; sleep {child} & wait",
        timeout_s=2.0,  # room for the reaper to start on a busy machine before the echo
        grace_s=1.0,
    )
    assert outcome.timed_out is True
    assert outcome.exit_code is None
    assert outcome.output_tail == "before\n"
    assert 2.0 <= outcome.duration_s < 7.0
    assert wait_gone(child)


def test_timeout_sigkills_what_ignores_sigterm(tmp_path: Path) -> None:
    child = sleeper()
    outcome = run(
        tmp_path,
        f"trap '' TERM; echo before; sleep {child} & wait",
        timeout_s=2.0,
        grace_s=0.3,
    )
    assert outcome.timed_out is True
    assert outcome.output_tail == "before\n"
    assert 2.3 <= outcome.duration_s < 7.0
    assert wait_gone(child)


def test_background_processes_left_behind_are_killed(tmp_path: Path) -> None:
    child = sleeper()
    outcome = run(tmp_path, f"sleep {child} & exit 0")
    assert outcome.exit_code == 0
    assert outcome.duration_s < 5.0
    assert wait_gone(child)
    assert len(outcome.leftovers) == 1  # reported (as `sleep`, or as bash before its exec)


def test_missing_executable_is_exit_127(tmp_path: Path) -> None:
    outcome = run_process(
        ["planflow-no-such-program"],
        cwd=tmp_path,
        env=base_env({}),
        timeout_s=2.0,
        log_path=tmp_path / "missing.log",
    )
    assert outcome.exit_code == 127
    assert outcome.timed_out is False
    assert "planflow-no-such-program" in outcome.output_tail
    assert "No such file or directory" in outcome.output_tail
    assert (tmp_path / "missing.log").read_text() == outcome.output_tail


def test_no_timeout_waits_for_completion(tmp_path: Path) -> None:
    outcome = run(tmp_path, "sleep 0.2; echo done", timeout_s=None)
    assert outcome.exit_code == 0
    assert outcome.output_tail == "done\n"


def test_the_reapers_report_is_json_whatever_the_command_lines_hold() -> None:
    report = {"exit": -9, "leftovers": [[12, 'sh -c "a\\b"\n\t\x01\x7f é ✓'], [3, ""]], "more": 2}
    assert json.loads(report_json(report)) == report
