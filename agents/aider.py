"""aider: ``aider --model M --message PROMPT --yes-always --no-auto-commits ... FILES``.

Key ``OPENAI_API_KEY``; base URL ``OPENAI_API_BASE`` (with ``/v1``; the model is then
``openai/<model>``). aider commits by itself unless told not to: ``--no-auto-commits`` and
``--no-dirty-commits`` leave committing to planflow. Only the task's files that exist are
added to the chat: aider creates a missing file it is given empty, which would count as work
done when the model never edited it (it still creates the files the model writes).

Its output is text: each model reply is printed, then ``Tokens: N sent[, C cache hit], M
received. Cost: $X message, $Y session.``, then ``Applied edit to F`` per file. aider exits 0
whatever fails: an API failure prints ``litellm.<Kind>Error: ...`` (an OpenAI-style 401 whose
body says ``invalid_request_error`` comes out as ``BadRequestError``, with no status), a
crash of its edit parser ``Exception while updating files:`` and a traceback (e.g. ``list
index out of range``). aider has no setting for its own retries (it backs off up to a minute
on a 429 or 5xx). The model-price cache is pre-seeded in the run's home so aider does not
fetch it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

from agents.base import AgentRequest
from agents.cli import CliAgent, Command, openai_url
from agents.failures import Failure
from agents.output import Report

_TOKENS = re.compile(
    r"^Tokens: ([\d.,]+)(k?) sent(?:, ([\d.,]+)(k?) cache write)?(?:, ([\d.,]+)(k?) cache hit)?"
    r", ([\d.,]+)(k?) received\.(?: Cost: \$([\d.]+) message, \$([\d.]+) session\.)?",
    re.MULTILINE)
_ERROR = re.compile(
    r"^(?:litellm\.(\w+): .*(?:\n(?!\n).*)?"            # the message may wrap onto a second line
    r"|Exception while updating files:\n.*"
    r"|Traceback \(most recent call last\):(?:\n .*)*\n.*"
    r"|.*\blist index out of range\b.*)$", re.MULTILINE)
_HEADER = re.compile(
    r"^(?:Aider v|(?:Main |Weak )?[Mm]odel: |Git repo: |Repo-map: |Added .* to the chat\.|"
    r"Applied edit to |Creating empty file|Update git |Analytics |Detected dumb terminal)",
    re.MULTILINE)
"""Lines aider prints around a model reply (start-up banner, edits applied)."""

_EXCEPTIONS = {"AuthenticationError": Failure.auth, "PermissionDeniedError": Failure.auth,
               "RateLimitError": Failure.rate_limit, "InternalServerError": Failure.server_error,
               "ServiceUnavailableError": Failure.server_error,
               "BadGatewayError": Failure.server_error, "BadRequestError": Failure.rejected}
"""litellm exception names aider prints and the failure class each names."""

QUIET = ("--yes-always", "--no-auto-commits", "--no-dirty-commits", "--no-check-update",
         "--no-show-release-notes", "--analytics-disable", "--no-pretty", "--no-fancy-input",
         "--no-stream", "--map-tokens", "0", "--no-show-model-warnings", "--no-detect-urls",
         "--no-gitignore")
"""Flags for a headless run that leaves committing to planflow."""


class AiderAgent(CliAgent):
    """aider on the task's files, one message, no commits of its own."""

    name: ClassVar[str] = "aider"
    program: ClassVar[str] = "aider"
    key_env: ClassVar[str] = "OPENAI_API_KEY"
    base_url_env: ClassVar[str | None] = "OPENAI_API_BASE"

    def command_for(self, request: AgentRequest, home: Path, key: str | None,
                    base_url: str | None) -> Command:
        """``--message`` with the headless flags, history files in the run's home, the task's
        files that exist added to the chat; ``openai/<model>`` when a base URL is set."""
        s = self.settings
        model = s.model
        if base_url and model and "/" not in model:
            model = f"openai/{model}"
        args = [*self.option("--model", model), "--message", request.prompt, *QUIET,
                "--chat-history-file", str(home / "chat.md"),
                "--input-history-file", str(home / "input.history"),
                "--", *[f for f in request.task.files if (request.worktree / f).exists()]]
        env = {"AIDER_ANALYTICS": "false", "AIDER_CHECK_UPDATE": "false", **self.key_vars(key)}
        if base_url:
            env["OPENAI_API_BASE"] = openai_url(base_url) or base_url
        cache = home / ".aider" / "caches" / "model_prices_and_context_window.json"
        return Command(args=args, env=env, files={cache: "{}"})

    def report(self, output: str) -> Report:
        """Tokens summed over the ``Tokens:`` lines (one model request each; ``sent`` includes
        the ``cache hit`` tokens, which are the cached figure: unknown when no line has one, as
        aider prints it only when the API names it the Anthropic or DeepSeek way, never for
        OpenAI's ``cached_tokens``), the session cost of the last;
        the message is the model's reply printed before the last ``Tokens:`` line (so its
        ``DECISION:``/``PENDING:`` lines survive); an error printed after that line (a
        ``litellm.*Error``, an edit-parser crash, a traceback) is the error, classed by the
        litellm exception it names."""
        report = Report(requests=0)
        reply_start = last_start = last_end = 0
        for match in _TOKENS.finditer(output):
            report.tokens_in += _count(match.group(1), match.group(2))
            if match.group(5):
                report.tokens_cached = (report.tokens_cached or 0) + _count(match.group(5),
                                                                            match.group(6))
            report.tokens_out += _count(match.group(7), match.group(8))
            report.requests += 1
            if match.group(10):
                report.cost_usd = float(match.group(10))
            reply_start, last_start, last_end = last_end, match.start(), match.end()
        errors = list(_ERROR.finditer(output, last_end))
        if errors:
            report.error = " ".join(errors[-1].group(0).split())[:2000]
            report.failure = _EXCEPTIONS.get(errors[-1].group(1) or "")
        if report.requests:
            reply = output[reply_start:last_start]
            headers = list(_HEADER.finditer(reply))
            if headers:
                reply = reply[reply.find("\n", headers[-1].end()) + 1:]
            report.message = reply.strip()[-2000:]
        return report


def _count(number: str, thousands: str) -> int:
    """aider's token count (``656``, ``1,234``, ``12k``, ``1.2k``) as an int."""
    value = float(number.replace(",", ""))
    return int(round(value * 1000)) if thousands else int(value)
