"""Reading a CLI's merged output: JSON events and documents, and ``Report``, what an adapter
found in it before the common classification (``Report.result``)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from agents.base import AgentResult
from agents.failures import Failure, classify_text
from agents.process import ProcessOutcome


class Report(BaseModel):
    """What one run's output says: the final ``message``; the ledger (``AgentResult``:
    ``tokens_in``, ``tokens_cached``, ``tokens_out``, ``cost_usd``, ``requests``);
    ``session_id``; ``error``
    (the CLI's error text, when it reports one); ``failure`` (a class the CLI's output states
    outright, e.g. max turns or an HTTP status)."""

    message: str = ""
    tokens_in: int = 0
    tokens_cached: int | None = None
    tokens_out: int = 0
    cost_usd: float | None = None
    requests: int | None = None
    session_id: str | None = None
    error: str | None = None
    failure: Failure | None = None

    def result(self, outcome: ProcessOutcome) -> AgentResult:
        """The ``AgentResult`` of ``outcome`` given this report.

        Timed out: ``timeout``. An error in the output: its stated class, else the class its
        text names, else ``exit_zero`` (exit 0) or ``error``. No error but a non-zero exit: the
        class the output tail names, else ``error``. Otherwise succeeded.
        """
        failure = self.failure
        if outcome.timed_out:
            failure = Failure.timeout
        elif failure is None and self.error is not None:
            failure = classify_text(self.error) or (
                Failure.exit_zero if outcome.exit_code == 0 else Failure.error)
        elif failure is None and outcome.exit_code != 0:
            failure = classify_text(outcome.output_tail) or Failure.error
        status = "succeeded" if failure is None else "timeout" if failure is Failure.timeout else "failed"
        message = self.message
        if failure is not None and failure is not Failure.timeout:
            message = self.error or self.message or outcome.output_tail
        elif not message:
            message = outcome.output_tail
        return AgentResult(
            status=status, exit_code=outcome.exit_code, message=message,
            duration_s=outcome.duration_s, log_path=outcome.log_path, failure=failure,
            tokens_in=self.tokens_in, tokens_cached=self.tokens_cached,
            tokens_out=self.tokens_out, cost_usd=self.cost_usd, requests=self.requests,
            session_id=self.session_id,
        )


def json_events(text: str) -> list[dict[str, Any]]:
    """The JSON objects of ``text`` that stand one per line (NDJSON), other lines skipped."""
    events = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                events.append(value)
    return events


def json_documents(text: str) -> list[Any]:
    """Every JSON object or array that starts at the beginning of a line of ``text`` and parses
    (pretty-printed or not), in order; nested values are not listed twice."""
    decoder = json.JSONDecoder()
    found, position = [], 0
    while position < len(text):
        if text[position] in "{[" and (position == 0 or text[position - 1] == "\n"):
            try:
                value, end = decoder.raw_decode(text, position)
            except ValueError:
                pass
            else:
                found.append(value)
                position = end
                continue
        newline = text.find("\n", position)
        if newline < 0:
            break
        position = newline + 1
    return found


def read_log(outcome: ProcessOutcome) -> str:
    """The whole merged output of ``outcome`` (bad bytes replaced); empty when there is no log."""
    try:
        return outcome.log_path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""
