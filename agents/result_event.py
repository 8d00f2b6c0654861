"""The ``result`` event that Claude Code (``stream-json``) and Qwen Code (``json``) end with:
``{"type": "result", "subtype", "is_error", "api_error_status", "result", "num_turns",
"total_cost_usd", "usage": {"input_tokens", "cache_read_input_tokens",
"cache_creation_input_tokens", "output_tokens"}, "session_id"}``.

``input_tokens`` is what the API reported as such: Anthropic's counts only the uncached rest
(Claude Code), OpenAI's already includes the cached tokens (Qwen Code), so ``input_counts_cache``
tells which; ``num_turns`` is the number of model requests."""

from __future__ import annotations

from typing import Any

from agents.failures import Failure, classify_status
from agents.output import Report


def result_report(events: list[Any], input_counts_cache: bool = False) -> Report | None:
    """The ``Report`` of the last ``result`` event among ``events``; None when there is none.

    Tokens in are ``input_tokens`` plus, unless ``input_counts_cache``, the cache read and
    cache creation tokens; cached tokens are the cache read ones.

    ``error_max_turns`` is a max-turns failure, ``error_max_budget*`` a budget failure; any
    other error subtype or ``is_error`` is an error whose class comes from
    ``api_error_status`` when the CLI gives it.
    """
    results = [e for e in events if isinstance(e, dict) and e.get("type") == "result"]
    if not results:
        return None
    result = results[-1]
    usage = result.get("usage") or {}
    subtype = str(result.get("subtype") or "")
    cached = usage.get("cache_read_input_tokens")
    tokens_in = int(usage.get("input_tokens") or 0)
    if not input_counts_cache:
        tokens_in += int(cached or 0) + int(usage.get("cache_creation_input_tokens") or 0)
    report = Report(
        message=str(result.get("result") or ""),
        tokens_in=tokens_in,
        tokens_cached=None if cached is None else int(cached),
        tokens_out=int(usage.get("output_tokens") or 0),
        cost_usd=result.get("total_cost_usd"),
        requests=result.get("num_turns"),
        session_id=result.get("session_id"),
    )
    if subtype == "error_max_turns":
        report.failure = Failure.max_turns
        report.error = f"stopped at the turn limit after {report.requests} turns"
    elif subtype.startswith("error_max_budget"):
        report.failure = Failure.budget
        report.error = "stopped at the cost limit (--max-budget-usd)"
    elif result.get("is_error") or subtype not in ("", "success"):
        report.failure = classify_status(result.get("api_error_status"))
        report.error = report.message or subtype or "the CLI reported an error"
    return report
