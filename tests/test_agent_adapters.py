"""The CLI adapters without running them: exact argv, an isolated and allow-listed env, the
key only where the CLI reads it, files in the run's own home; secrets redacted; failure
classes; which configuration a task gets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agents.base import REDACTED, AgentConfigError, AgentRequest, run_agent
from agents.config import AgentSettings
from agents.failures import Failure, classify_status, classify_text
from agents.registry import get_agent
from planning.models import PlanTask
from tasks.agent_setup import resolve_agent

KEY = "sk-test-secret-0123456789"


def request_for(tmp_path: Path, **task_fields) -> AgentRequest:
    task = PlanTask(id="2.1", title="hello", **{"files": ["hello.txt"], **task_fields})
    return AgentRequest(run_id="abc123", task=task, prompt="Write hello.txt", worktree=tmp_path / "wt",
                        log_path=tmp_path / "logs" / "task-2-1.attempt-1.log",
                        prompt_path=tmp_path / "logs" / "task-2-1.prompt.md")


def settings(kind: str, **fields) -> AgentSettings:
    return AgentSettings(kind=kind, api_key=KEY, base_url="http://127.0.0.1:9", **fields)


def test_claude_argv_and_env(tmp_path, monkeypatch):
    monkeypatch.setenv("UNRELATED_SECRET", "nope")
    agent = get_agent("claude", settings=settings("claude", model="m", max_turns=4, budget_usd=0.5,
                                                   cli_retries=0, extra_args=["--x"]))
    invocation = agent.invocation(request_for(tmp_path))
    assert invocation.argv == [
        "claude", "-p", "Write hello.txt", "--output-format", "stream-json", "--verbose",
        "--permission-mode", "bypassPermissions", "--no-session-persistence", "--model", "m",
        "--max-turns", "4", "--max-budget-usd", "0.5", "--x"]
    env = invocation.env
    home = tmp_path / "logs" / "task-2-1.attempt-1.home"
    assert env["HOME"] == str(home) and env["XDG_CONFIG_HOME"] == str(home / ".config")
    assert env["ANTHROPIC_API_KEY"] == KEY and env["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:9"
    assert env["CLAUDE_CODE_MAX_RETRIES"] == "0"
    assert "UNRELATED_SECRET" not in env
    assert invocation.secrets == [KEY] and invocation.private_dirs == [home]
    assert KEY not in repr(invocation)


@pytest.mark.parametrize("kind", ["claude", "codex", "gemini", "opencode", "aider", "qwen"])
def test_the_key_is_only_in_the_env_never_in_argv_or_files(tmp_path, kind):
    invocation = get_agent(kind, settings=settings(kind, model="m")).invocation(request_for(tmp_path))
    assert KEY in invocation.env.values()
    assert not any(KEY in arg for arg in invocation.argv)
    assert not any(KEY in text for text in invocation.files.values())
    assert all(path.is_relative_to(tmp_path / "logs") for path in invocation.files)


def test_the_clis_own_retries_are_off_by_default(tmp_path):
    def turned_down(kind: str, **fields) -> dict[str, bool]:
        invocation = get_agent(kind, settings=settings(kind, **fields)).invocation(request_for(tmp_path))
        files = {path.name: json.loads(text) for path, text in invocation.files.items()
                 if path.suffix == ".json" and text.strip()}
        return {
            "claude": invocation.env.get("CLAUDE_CODE_MAX_RETRIES") == "0",
            "codex": any("request_max_retries=0" in a and "stream_max_retries=0" in a
                         for a in invocation.argv),
            "gemini": files.get("settings.json", {}).get("general", {}).get("maxAttempts") == 1,
            "qwen": files.get("settings.json", {}).get("model", {}).get(
                "generationConfig", {}).get("maxRetries") == 0,
        }[kind]

    for kind in ("claude", "codex", "gemini", "qwen"):
        assert turned_down(kind), kind
        assert not turned_down(kind, cli_retries=None), kind


def test_the_key_comes_from_the_environment_without_a_secret(tmp_path, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "from-env")
    monkeypatch.setenv("OPENAI_API_KEY", "openai-from-env")
    invocation = get_agent("gemini").invocation(request_for(tmp_path))
    assert invocation.env["GEMINI_API_KEY"] == "from-env"
    assert "OPENAI_API_KEY" not in invocation.env
    assert invocation.argv[0] == "gemini"


def test_codex_provider_and_opencode_config(tmp_path):
    codex = get_agent("codex", settings=settings("codex", model="m", cli_retries=0))
    argv = codex.invocation(request_for(tmp_path)).argv
    assert argv[:4] == ["codex", "exec", "--json", "--sandbox"]
    assert "model_provider=planflow" in argv and argv[-1] == "Write hello.txt"
    provider = next(a for a in argv if a.startswith("model_providers.planflow="))
    assert 'base_url="http://127.0.0.1:9/v1"' in provider and "request_max_retries=0" in provider

    opencode = get_agent("opencode", settings=settings("opencode", model="m"))
    invocation = opencode.invocation(request_for(tmp_path))
    config = json.loads(invocation.env["OPENCODE_CONFIG_CONTENT"])
    assert config["provider"]["planflow"]["options"]["apiKey"] == "{env:OPENAI_API_KEY}"
    assert invocation.argv[-3:] == ["-m", "planflow/m", "Write hello.txt"]


def test_aider_never_commits_and_gets_the_task_files_that_exist(tmp_path):
    aider = get_agent("aider", settings=settings("aider", model="m"))
    request = request_for(tmp_path, files=["hello.txt", "new.txt"])
    (tmp_path / "wt").mkdir()
    (tmp_path / "wt" / "hello.txt").write_text("hi\n")
    argv = aider.invocation(request).argv
    assert argv[:3] == ["aider", "--model", "openai/m"]
    assert "--no-auto-commits" in argv and "--no-dirty-commits" in argv
    # aider would create new.txt empty: a file the model never wrote would count as work done
    assert argv[-2:] == ["--", "hello.txt"]


def test_agent_command_overrides_the_executable(tmp_path):
    agent = get_agent("qwen", "/opt/qwen/bin/qwen", settings("qwen"))
    assert agent.invocation(request_for(tmp_path)).argv[0] == "/opt/qwen/bin/qwen"


def test_run_agent_redacts_the_key_from_log_home_and_message(tmp_path):
    (tmp_path / "wt").mkdir()
    script = tmp_path / "leaky"
    script.write_text("#!/bin/bash\necho \"key=$ANTHROPIC_API_KEY\"\n"
                      "echo \"$ANTHROPIC_API_KEY\" > \"$HOME/snapshot.sh\"\nexit 1\n")
    script.chmod(0o755)
    agent = get_agent("claude", settings=settings("claude", executable=str(script)))
    request = request_for(tmp_path)

    result = run_agent(agent, request)

    assert result.status == "failed" and KEY not in result.message and REDACTED in result.message
    assert KEY not in request.log_path.read_text()
    home = request.log_path.with_name("task-2-1.attempt-1.home")
    assert (home / "snapshot.sh").read_text() == REDACTED + "\n"


def test_each_run_has_its_own_temp_folder_scrubbed_like_its_home(tmp_path):
    (tmp_path / "wt").mkdir()
    script = tmp_path / "writes-temp"
    script.write_text("#!/bin/bash\n[ \"$TMPDIR\" = \"$TEMP\" ] && [ \"$TMP\" = \"$TMPDIR\" ] || exit 3\n"
                      "echo \"$ANTHROPIC_API_KEY\" > \"$(mktemp)\"\n"
                      "echo \"$ANTHROPIC_API_KEY\" > \"$TMPDIR/client-error.json\"\n")
    script.chmod(0o755)
    agent = get_agent("claude", settings=settings("claude", executable=str(script)))
    request = request_for(tmp_path)

    result = run_agent(agent, request)

    assert result.exit_code == 0, result.message
    temp = tmp_path / "logs" / "task-2-1.attempt-1.tmp"
    files = sorted(p for p in temp.iterdir())
    assert len(files) == 2 and all(p.read_text() == REDACTED + "\n" for p in files)


def test_failure_classes():
    assert [classify_status(s) for s in (401, 403, 429, 500, 529, 404, None)] == [
        Failure.auth, Failure.auth, Failure.rate_limit, Failure.server_error, Failure.server_error,
        None, None]
    assert classify_text("litellm.RateLimitError: too many requests") is Failure.rate_limit
    assert classify_text("all fine") is None
    assert [f.value for f in Failure if not f.retryable] == ["auth", "max_turns", "budget",
                                                            "rejected"]


def test_a_task_agent_overrides_the_runs_default():
    assert resolve_agent("shell", None, None, None).name == "shell"
    agent = resolve_agent("shell", None, None, "claude")
    assert agent.name == "claude" and agent.settings == AgentSettings(kind="claude")
    with pytest.raises(AgentConfigError, match="unknown agent 'nope'"):
        resolve_agent("nope", None, None, None)
