"""Every adapter's parser over the real outputs each CLI printed (success, 401, 500), captured
in ``../shared/agents/samples``: status, failure class, tokens, cost, turns, session."""

from __future__ import annotations

import json
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


def parse_text(tmp_path: Path, cli: str, text: str, exit_code: int = 0):
    log = tmp_path / f"{cli}.log"
    log.write_text(text)
    outcome = ProcessOutcome(argv=[cli], exit_code=exit_code, timed_out=False, duration_s=1.0,
                             log_path=log, output_tail=read_tail(log))
    request = AgentRequest(run_id="abc123", task=PlanTask(id="1", title="t"), prompt="p",
                           worktree=tmp_path, log_path=log, prompt_path=tmp_path / "p.md")
    return get_agent(cli).parse(request, outcome)


AIDER_START = ("Aider v0.86.2\nMain model: gpt-4o with diff edit format\nWeak model: gpt-4o-mini\n"
               "Added a.txt to the chat.\n\n")


def test_aider_message_is_the_reply_before_the_tokens_line(tmp_path):
    result = parse_text(tmp_path, "aider", AIDER_START
                        + "Done.\nDECISION: keep it\nPENDING: tests\n\n/abs/a.txt\n```\nx\n```\n\n"
                        "Tokens: 1.2k sent, 1k cache hit, 13 received. Cost: $0.01 message, $0.01"
                        " session.\nApplied edit to a.txt\n")
    assert result.status == "succeeded"
    assert result.message.startswith("Done.\nDECISION: keep it\nPENDING: tests")
    assert (result.tokens_in, result.tokens_cached, result.tokens_out, result.requests,
            result.cost_usd) == (1200, 1000, 13, 1, 0.01)


@pytest.mark.parametrize("tail,failure", [
    # an OpenAI-style 401 body (invalid_request_error) comes out of litellm as a BadRequestError
    ("litellm.BadRequestError: OpenAIException - request failed\n", Failure.rejected),
    ("litellm.AuthenticationError: AuthenticationError: OpenAIException - request \nfailed\n",
     Failure.auth),
    ("litellm.RateLimitError: RateLimitError: OpenAIException - slow down\n", Failure.rate_limit),
    ("Exception while updating files:\nlist index out of range\nTraceback (most recent call "
     "last):\n  File \"x.py\", line 1, in f\nIndexError: list index out of range\n",
     Failure.exit_zero),
])
def test_aider_errors_are_found_whatever_their_wording(tmp_path, tail, failure):
    reply = "a.txt\n```\nx\n```\n\nTokens: 656 sent, 13 received.\n"
    result = parse_text(tmp_path, "aider", AIDER_START + reply + tail)
    assert result.status == "failed" and result.failure is failure
    assert result.failure.retryable == (failure in (Failure.rate_limit, Failure.exit_zero))
    assert result.message.split()[0] in tail


def test_the_ledger_counts_cached_tokens_the_same_way(tmp_path):
    claude = json.dumps({"type": "result", "subtype": "success", "num_turns": 2, "result": "ok",
                         "total_cost_usd": 0.5, "usage": {
                             "input_tokens": 6, "cache_read_input_tokens": 200,
                             "cache_creation_input_tokens": 40, "output_tokens": 90}})
    codex = "\n".join(json.dumps(e) for e in [
        {"type": "item.completed", "item": {"type": "command_execution"}},
        {"type": "item.completed", "item": {"type": "agent_message", "text": "ok"}},
        {"type": "turn.completed", "usage": {"input_tokens": 246, "cached_input_tokens": 200,
                                             "output_tokens": 90}}])
    opencode = "\n".join(json.dumps({"type": "step_finish", "part": {"cost": 0, "tokens": {
        "input": 3, "output": 45, "cache": {"read": 100, "write": 20}}}}) for _ in range(2))
    figures = {cli: parse_text(tmp_path, cli, text) for cli, text in
               [("claude", claude), ("codex", codex), ("opencode", opencode)]}
    assert {cli: (r.tokens_in, r.tokens_cached, r.tokens_out, r.requests)
            for cli, r in figures.items()} == {
        "claude": (246, 200, 90, 2), "codex": (246, 200, 90, 2), "opencode": (246, 200, 90, 2)}
    assert figures["claude"].cost_usd == 0.5 and figures["codex"].cost_usd is None
