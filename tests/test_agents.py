"""Agent adapters, run_agent and the prompt, with real subprocesses where they run."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.base import AgentConfigError, AgentRequest, AgentResult, run_agent
from agents.process import ProcessOutcome, base_env
from agents.prompt import build_prompt
from agents.registry import AGENTS, get_agent
from agents.shell import ShellAgent
from planning.models import PlanTask


def make_task(**fields) -> PlanTask:
    defaults = dict(
        id="1.2",
        title="Add greeting module",
        body="Create the greeting helpers.",
        files=["src/greet.py", "tests/test_greet.py"],
        acceptance_criteria=["greet() returns 'hello'", "tests pass"],
    )
    return PlanTask(**{**defaults, **fields})


def make_request(tmp_path: Path, task: PlanTask, **fields) -> AgentRequest:
    worktree = tmp_path / "worktree"
    worktree.mkdir(exist_ok=True)
    defaults = dict(
        run_id="abc123",
        task=task,
        prompt="# Task 1.2\nDo the thing.\n",
        worktree=worktree,
        log_path=tmp_path / "logs" / "task-1-2.log",
        prompt_path=tmp_path / "prompts" / "task-1-2.md",
        timeout_s=3.0,
    )
    return AgentRequest(**{**defaults, **fields})


def test_shell_invocation_argv_and_env(tmp_path: Path) -> None:
    request = make_request(
        tmp_path, make_task(run="make greet"), plan_path=tmp_path / "plan.md", attempt=2
    )
    invocation = ShellAgent("ignored: the task's run wins").invocation(request)
    assert invocation.argv == ["bash", "-c", "make greet"]
    assert invocation.env == base_env(
        {
            "PLANFLOW_RUN_ID": "abc123",
            "PLANFLOW_TASK_ID": "1.2",
            "PLANFLOW_TASK_TITLE": "Add greeting module",
            "PLANFLOW_TASK_FILES": "src/greet.py\ntests/test_greet.py",
            "PLANFLOW_PROMPT_FILE": str(tmp_path / "prompts" / "task-1-2.md"),
            "PLANFLOW_PLAN_FILE": str(tmp_path / "plan.md"),
            "PLANFLOW_WORKTREE": str(tmp_path / "worktree"),
            "PLANFLOW_ATTEMPT": "2",
        }
    )


def test_shell_command_falls_back_to_agent_command_and_omits_unknown_plan(
    tmp_path: Path,
) -> None:
    request = make_request(tmp_path, make_task())
    invocation = ShellAgent("./agent.sh --fast").invocation(request)
    assert invocation.argv == ["bash", "-c", "./agent.sh --fast"]
    assert "PLANFLOW_PLAN_FILE" not in invocation.env
    assert invocation.env["PLANFLOW_ATTEMPT"] == "1"


def test_shell_env_paths_are_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    request = make_request(
        tmp_path, make_task(run="true"), prompt_path=Path("prompts/p.md"), plan_path=Path("plan.md")
    )
    env = ShellAgent().invocation(request).env
    assert env["PLANFLOW_PROMPT_FILE"] == str(tmp_path / "prompts" / "p.md")
    assert env["PLANFLOW_PLAN_FILE"] == str(tmp_path / "plan.md")


def test_missing_command_is_a_config_error(tmp_path: Path) -> None:
    request = make_request(tmp_path, make_task())
    with pytest.raises(AgentConfigError) as excinfo:
        run_agent(ShellAgent(), request)
    message = str(excinfo.value)
    assert "1.2" in message and "Add greeting module" in message
    assert "**Run**:" in message and "run:" in message and "--agent-command" in message
    assert not request.prompt_path.exists()
    assert not request.log_path.exists()


def test_run_agent_end_to_end(tmp_path: Path) -> None:
    script = (
        'echo "attempt $PLANFLOW_ATTEMPT of $PLANFLOW_TASK_ID"\n'
        'while IFS= read -r path; do\n'
        '  mkdir -p "$(dirname "$path")"\n'
        '  cp "$PLANFLOW_PROMPT_FILE" "$path"\n'
        'done <<< "$PLANFLOW_TASK_FILES"\n'
        'echo "wrote files in $(pwd)"\n'
    )
    request = make_request(tmp_path, make_task(run=script))
    result = run_agent(ShellAgent(), request)
    assert isinstance(result, AgentResult)
    assert result.status == "succeeded", result.message
    assert result.exit_code == 0
    worktree = tmp_path / "worktree"
    assert request.prompt_path.read_text() == request.prompt
    assert (worktree / "src" / "greet.py").read_text() == request.prompt
    assert (worktree / "tests" / "test_greet.py").read_text() == request.prompt
    assert result.message == f"attempt 1 of 1.2\nwrote files in {worktree}\n"
    assert result.log_path == request.log_path
    assert request.log_path.read_text() == result.message


def test_non_zero_exit_is_failed_with_the_output_tail(tmp_path: Path) -> None:
    task = make_task(run="echo compiling; echo 'error: boom' >&2; exit 2")
    request = make_request(tmp_path, task)
    result = run_agent(ShellAgent(), request)
    assert result.status == "failed"
    assert result.exit_code == 2
    assert result.message == "compiling\nerror: boom\n"


def test_timeout_is_reported(tmp_path: Path) -> None:
    # 2 s: room for the reaper to start on a busy machine before the command echoes
    request = make_request(tmp_path, make_task(run="echo started; sleep 9999"), timeout_s=2.0)
    result = run_agent(ShellAgent(), request)
    assert result.status == "timeout"
    assert result.exit_code is None
    assert result.message == "started\n"


def test_parse_maps_outcomes(tmp_path: Path) -> None:
    request = make_request(tmp_path, make_task(run="true"))

    def outcome(exit_code: int | None, timed_out: bool) -> ProcessOutcome:
        return ProcessOutcome(
            argv=["x"], exit_code=exit_code, timed_out=timed_out, duration_s=1.5,
            log_path=tmp_path / "x.log", output_tail="tail",
        )

    agent = ShellAgent()
    assert agent.parse(request, outcome(0, False)).status == "succeeded"
    assert agent.parse(request, outcome(127, False)).status == "failed"
    assert agent.parse(request, outcome(None, True)).status == "timeout"
    result = agent.parse(request, outcome(1, False))
    assert (result.message, result.duration_s, result.log_path) == ("tail", 1.5, tmp_path / "x.log")


def test_registry() -> None:
    assert sorted(AGENTS) == ["aider", "claude", "codex", "gemini", "opencode", "qwen", "shell"]
    agent = get_agent("shell", "make all")
    assert isinstance(agent, ShellAgent)
    assert agent.command == "make all"
    with pytest.raises(AgentConfigError, match="unknown agent 'nope'.*shell"):
        get_agent("nope")


def test_build_prompt_contains_everything() -> None:
    task = make_task(body="Create the greeting helpers.\n\n1. Write greet().")
    prompt = build_prompt(task, "Greeter", Path("specs/abc123-greeter/plan.md"), "specs/spec.md")
    assert prompt.startswith("# Task 1.2: Add greeting module\n")
    assert "Greeter" in prompt
    assert "1. Write greet()." in prompt
    assert "- `src/greet.py`" in prompt and "- `tests/test_greet.py`" in prompt
    assert "- [ ] greet() returns 'hello'" in prompt and "- [ ] tests pass" in prompt
    assert "specs/abc123-greeter/plan.md" in prompt and "specs/spec.md" in prompt
    assert "Work only in this directory" in prompt
    assert "Do not commit" in prompt and "planflow commits" in prompt


def test_build_prompt_without_optional_parts() -> None:
    prompt = build_prompt(PlanTask(id="3", title="Tidy"), "Plan", None, None)
    assert "Files to create" not in prompt
    assert "Acceptance criteria" not in prompt
    assert "Context" not in prompt
    assert "planflow commits" in prompt
