"""The real Claude Code CLI (pinned, ``agent_tools``) with planflow's MCP server, configured by
``planflow install-commands --agent claude``, against the fake LLM server scripted to call
``mcp__planflow__validate_plan`` and ``mcp__planflow__run_status``: the user's
``/planflow:status`` command reaches the model as the command file's text, and planflow's
answers reach the model's next requests."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from agent_tools import ensure
from fake_llm import FakeLLM, Script
from mcp_client import server_env
from runs import make_repo, run_cli, write_plan
from test_mcp import BAD_PLAN

pytestmark = pytest.mark.usefixtures("prefect_api")


def tool_results(request) -> list[str]:
    """The text of every tool result in one logged model request."""
    texts = []
    for message in (request.body or {}).get("messages") or []:
        for block in message.get("content") if isinstance(message.get("content"), list) else []:
            if isinstance(block, dict) and block.get("type") == "tool_result":
                content = block.get("content")
                texts.append(content if isinstance(content, str) else "\n".join(
                    part.get("text", "") for part in content or [] if isinstance(part, dict)))
    return texts


def test_claude_code_calls_planflow_tools_and_reads_their_answers(tmp_path, capsys, prefect_api):
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed: Claude Code cannot be installed")
    claude = ensure("claude")
    repo = make_repo(tmp_path / "repo")
    (repo / "bad.md").write_text(BAD_PLAN)
    plan = write_plan(tmp_path / "plan.yaml", """\
        name: for claude
        run_id: c1a0de
        phases:
          - name: one
            tasks:
              - {id: "1.1", title: notes, files: [notes.txt], run: "echo notes > notes.txt"}
        """)
    code, status, err = run_cli(capsys, str(plan), "--repo", str(repo))
    assert code == 0, err
    assert main_install(repo) == 0

    script = Script(steps=[("mcp__planflow__validate_plan", {"path": "bad.md"}),
                           ("mcp__planflow__run_status", {"run_id": "c1a0de"})],
                    final_text="Run c1a0de completed.")
    with FakeLLM(script) as server:
        env = server_env(HOME=str(tmp_path / "home"), ANTHROPIC_BASE_URL=server.url,
                         ANTHROPIC_API_KEY="sk-planflow-mcp-test", CLAUDE_CODE_MAX_RETRIES="0",
                         DISABLE_AUTOUPDATER="1", CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
                         IS_SANDBOX="1", MCP_TIMEOUT="240000", PREFECT_API_URL=prefect_api)
        done = subprocess.run(
            [str(claude), "-p", "/planflow:status c1a0de", "--mcp-config", ".mcp.json",
             "--strict-mcp-config", "--output-format", "stream-json", "--verbose",
             "--model", "claude-sonnet-4-5", "--permission-mode", "bypassPermissions",
             "--max-turns", "12", "--no-session-persistence"],
            cwd=repo, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600)
        calls = [c for c in server.model_calls() if (c.body or {}).get("tools")]

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1])["result"] == "Run c1a0de completed."
    first = json.dumps(calls[0].body["messages"])
    assert "Show the status of planflow run c1a0de: call the `run_status` tool" in first
    answers = [tool_results(c) for c in calls]
    validated = next(i for i, texts in enumerate(answers) if any("bad.md:7: error" in t for t in texts))
    reported = next(i for i, texts in enumerate(answers) if any(re.search(r'"status":\s*"completed"', t) for t in texts))
    assert validated < reported
    assert any(f"{repo / 'bad.md'}:7: error: task 1.1 depends on unknown task" in t for t in answers[validated])
    assert any("c1a0de-task-1-1-notes" in t for t in answers[reported])
    offered = {t["name"] for t in calls[reported].body["tools"]}
    assert {"mcp__planflow__execute_plan", "mcp__planflow__cancel_run"} <= offered


def main_install(repo) -> int:
    from planflow.cli import main

    return main(["install-commands", "--agent", "claude", "--repo", str(repo)])
