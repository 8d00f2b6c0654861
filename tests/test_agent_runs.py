"""``planflow run`` with CLI adapters driven by small stand-in executables (no real CLI, no
server): a hanging agent is killed with its children at the timeout and retried; the budget
stops new tasks; the ledger reaches the status JSON and the summary; a saved block and a
task's ``agent:`` select the configuration; the environment's key reaches only the agent."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from blocks.agent_config import AgentConfig, load_settings
from runs import git, make_repo, run_cli, write_plan
from test_process import alive

pytestmark = pytest.mark.usefixtures("prefect_api")


def executable(path: Path, body: str) -> Path:
    path.write_text("#!/bin/bash\n" + body)
    path.chmod(0o755)
    return path


def result_event(cost: float) -> str:
    """A Claude-style final event with this cost, 10 tokens in, 5 out, 1 turn."""
    return json.dumps({"type": "result", "subtype": "success", "is_error": False, "result": "ok",
                       "num_turns": 1, "total_cost_usd": cost, "session_id": "s",
                       "usage": {"input_tokens": 10, "output_tokens": 5}})


def test_block_round_trip_keeps_the_key_secret():
    AgentConfig(kind="codex", model="m", api_key="sk-block-secret", timeout_s=5).save(
        "unit-codex", overwrite=True)
    settings = load_settings("unit-codex")
    assert settings.api_key.get_secret_value() == "sk-block-secret"
    assert "sk-block-secret" not in repr(settings) and settings.timeout_s == 5
    assert "api_key" not in settings.fingerprint()


def test_a_hanging_agent_is_killed_with_its_children_and_retried(tmp_path, capsys):
    repo = make_repo(tmp_path / "repo")
    starts = tmp_path / "starts"
    marker = f"300.{os.getpid()}"  # the agent's children, found by command line: their pids are
    # those of the agent's own PID namespace, not this one's
    hang = executable(tmp_path / "hang", f"sleep {marker} & echo started >> {starts}\n"
                                          "echo started; sleep 300\n")
    AgentConfig(kind="claude", executable=str(hang), timeout_s=1).save("hanging", overwrite=True)
    plan = write_plan(tmp_path / "plan.yaml", """\
        name: hang
        phases:
          - name: one
            tasks:
              - {id: "1", title: hangs, files: [a.txt]}
        """)

    started = time.monotonic()
    code, status, _ = run_cli(capsys, str(plan), "--repo", str(repo), "--agent-block", "hanging",
                              "--retries", "1")

    assert code == 1 and time.monotonic() - started < 60
    error = status["failed_tasks"][0]["error"]
    assert "claude agent timed out after 1 s (failure: timeout)" in error and "started" in error
    assert status["tasks"][0]["attempts"] == 2
    assert starts.read_text().split() == ["started", "started"] and not alive(marker)


def test_budget_stops_new_tasks_and_the_ledger_adds_up(tmp_path, capsys):
    repo = make_repo(tmp_path / "repo")
    spend = executable(tmp_path / "spend", f"echo $RANDOM > out-$(basename $PWD).txt; echo '{result_event(0.6)}'\n")
    AgentConfig(kind="claude", executable=str(spend)).save("spender", overwrite=True)
    plan = write_plan(tmp_path / "plan.yaml", """\
        name: budget
        phases:
          - name: one
            tasks:
              - {id: "1", title: first}
              - {id: "2", title: second}
          - name: two
            tasks:
              - {id: "3", title: third}
        """)

    code, status, err = run_cli(capsys, str(plan), "--repo", str(repo), "--agent-block", "spender",
                                "--budget-usd", "1.0")

    assert code == 1
    assert status["status"] == "stopped"
    assert "passed the budget $1.0" in status["output"]
    assert [t["state"] for t in status["tasks"]] == ["done", "done", "skipped"]
    assert status["totals"] == {"tokens_in": 20, "tokens_cached": None, "tokens_out": 10,
                                "cost_usd": 1.2, "turns": 2,
                                "attempts": 2, "duration_s": status["totals"]["duration_s"]}
    assert [t["cost_usd"] for t in status["tasks"]] == [0.6, 0.6, None]
    assert "1.2000" in err and "stopped" in err


def test_task_agent_by_name_and_key_from_the_environment(tmp_path, capsys, monkeypatch):
    repo = make_repo(tmp_path / "repo")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    dump = tmp_path / "env.json"
    executable(bin_dir / "claude", f"python3 -c 'import json,os; json.dump(dict(os.environ),"
                                   f" open(\"{dump}\", \"w\"))'\necho hi > hi.txt\n"
                                   f"echo '{result_event(0.01)}'\n")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-env-secret-42")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-other-secret")
    plan = write_plan(tmp_path / "plan.yaml", """\
        name: override
        phases:
          - name: one
            tasks:
              - {id: "1", title: shell task, files: [a.txt], run: "echo a > a.txt"}
              - {id: "2", title: claude task, agent: claude}
        """)

    code, status, err = run_cli(capsys, str(plan), "--repo", str(repo))

    assert code == 0, err
    env = json.loads(dump.read_text())
    assert env["ANTHROPIC_API_KEY"] == "sk-env-secret-42" and "OPENAI_API_KEY" not in env
    assert env["HOME"].endswith("task-2.attempt-1.home")
    assert git(repo, "show", f"{status['stack'][1]}:hi.txt") == "hi"
    assert status["tasks"][1]["cost_usd"] == 0.01
    assert "sk-env-secret-42" not in json.dumps(status) + err
