"""Every adapter's parser over the real outputs each CLI printed (success, 401, 500), captured
in ``../shared/agents/samples``: status, failure class, tokens, cost, turns, session."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_samples import SAMPLES
from agents.base import AgentRequest
from agents.failures import Failure
from agents.process import ProcessOutcome, read_tail
from agents.registry import get_agent
from planning.models import PlanTask

pytestmark = pytest.mark.skipif(SAMPLES is None, reason="../shared/agents/samples is not present")

OK = {
    # cli: (tokens in, cached, tokens out, cost USD, model requests, session id)
    "claude": (246, 0, 90, 0.002088, 2, "435d6820-fd84-4a2b-a895-b203a79692f0"),
    "codex": (246, 0, 90, None, 2, "01a1fe65-95ea-7fd0-96cd-328bbd52b756"),
    "gemini": (246, 0, 90, None, 2, "a1eca83b-9d38-4e20-9033-cb71f9bef403"),
    "opencode": (246, 0, 90, 0.0, 2, "ses_e01ad49fdffeqekOogcbcLM4Fy"),
    "aider": (656, None, 13, 0.00068, 1, None),
    "qwen": (246, 0, 90, None, 2, "c310aa6a-c35f-4957-ad99-6f68873971fd"),
}

EXIT_CODES = {
    # cli: exit codes the CLI gave for (401, 500)
    "claude": (1, 1), "codex": (1, 1), "gemini": (401 & 255, 500 & 255),
    "opencode": (1, 1), "aider": (0, 0), "qwen": (0, 0),
}

ERRORS = {
    ("claude", 500): "API Error: 500 fake 500 error",
    ("codex", 401): "401 Unauthorized",
    ("codex", 500): "high demand",
    ("gemini", 401): "fake 401 error",
    ("gemini", 500): "fake 500 error",
    ("opencode", 401): "fake 401 error",
    ("opencode", 500): "fake 500 error",
    ("aider", 401): "AuthenticationError",
    ("aider", 500): "InternalServerError",
    ("qwen", 401): "[API Error: 401 fake 401 error]",
    ("qwen", 500): "[API Error: 500 fake 500 error]",
}


def parse_sample(tmp_path: Path, cli: str, tag: str, exit_code: int):
    log = tmp_path / f"{cli}-{tag}.log"
    log.write_bytes((SAMPLES / f"{cli}-{tag}.stdout").read_bytes()
                    + (SAMPLES / f"{cli}-{tag}.stderr").read_bytes())
    outcome = ProcessOutcome(argv=[cli], exit_code=exit_code, timed_out=False, duration_s=2.0,
                             log_path=log, output_tail=read_tail(log))
    request = AgentRequest(run_id="abc123", task=PlanTask(id="1", title="t"), prompt="p",
                           worktree=tmp_path, log_path=log, prompt_path=tmp_path / "p.md")
    return get_agent(cli).parse(request, outcome)


@pytest.mark.parametrize("cli", sorted(OK))
def test_success_sample(tmp_path, cli):
    result = parse_sample(tmp_path, cli, "ok", 0)

    assert result.status == "succeeded" and result.failure is None
    assert (result.tokens_in, result.tokens_cached, result.tokens_out, result.cost_usd,
            result.requests, result.session_id) == OK[cli]
    if cli == "aider":  # the model's reply, printed before the Tokens: line
        assert result.message == "hello.txt\n```\nhello from fake llm\n```"
    else:
        assert result.message == "Done: created hello.txt"


@pytest.mark.parametrize("cli,status", sorted(ERRORS))
def test_error_sample(tmp_path, cli, status):
    exit_code = EXIT_CODES[cli][0 if status == 401 else 1]
    result = parse_sample(tmp_path, cli, f"err{status}", exit_code)

    assert result.status == "failed"
    assert result.failure == (Failure.auth if status == 401 else Failure.server_error)
    assert result.failure.retryable == (status == 500)
    assert ERRORS[cli, status] in result.message
    assert result.tokens_in == 0
