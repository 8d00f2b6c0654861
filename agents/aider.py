"""aider: ``aider --model M --message PROMPT --yes-always --no-auto-commits ... FILES``.

Key ``OPENAI_API_KEY``; base URL ``OPENAI_API_BASE`` (with ``/v1``; the model is then
``openai/<model>``). aider commits by itself unless told not to: ``--no-auto-commits`` and
``--no-dirty-commits`` leave committing to planflow. Its output is text: each model reply
ends with ``Tokens: N sent, M received. Cost: $X message, $Y session.``; an API failure
prints ``litellm.<Kind>Error: ...`` and still exits 0. The model-price cache is pre-seeded in
the run's home so aider does not fetch it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

from agents.base import AgentRequest
from agents.cli import CliAgent, Command, openai_url
from agents.output import Report

_TOKENS = re.compile(
    r"^Tokens: ([\d.,]+)(k?) sent.*?, ([\d.,]+)(k?) received\."
    r"(?: Cost: \$([\d.]+) message, \$([\d.]+) session\.)?", re.MULTILINE)
_ERROR = re.compile(r"^litellm\.\w+: .*$", re.MULTILINE)

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
        files added to the chat; ``openai/<model>`` when a base URL is set."""
        s = self.settings
        model = s.model
        if base_url and model and "/" not in model:
            model = f"openai/{model}"
        args = [*self.option("--model", model), "--message", request.prompt, *QUIET,
                "--chat-history-file", str(home / "chat.md"),
                "--input-history-file", str(home / "input.history"),
                "--", *request.task.files]
        env = {"AIDER_ANALYTICS": "false", "AIDER_CHECK_UPDATE": "false", **self.key_vars(key)}
        if base_url:
            env["OPENAI_API_BASE"] = openai_url(base_url) or base_url
        cache = home / ".aider" / "caches" / "model_prices_and_context_window.json"
        return Command(args=args, env=env, files={cache: "{}"})

    def report(self, output: str) -> Report:
        """Tokens summed over the ``Tokens:`` lines (one turn each), the session cost of the
        last; a ``litellm.*Error`` after the last ``Tokens:`` line is the error."""
        report = Report(turns=0)
        last_tokens_end = 0
        for match in _TOKENS.finditer(output):
            report.tokens_in += _count(match.group(1), match.group(2))
            report.tokens_out += _count(match.group(3), match.group(4))
            report.turns += 1
            if match.group(6):
                report.cost_usd = float(match.group(6))
            last_tokens_end = match.end()
        errors = _ERROR.findall(output, last_tokens_end)
        if errors:
            report.error = errors[-1]
        report.message = output[last_tokens_end:].strip()[-2000:] if report.turns else ""
        return report


def _count(number: str, thousands: str) -> int:
    """aider's token count (``656``, ``1,234``, ``12k``, ``1.2k``) as an int."""
    value = float(number.replace(",", ""))
    return int(round(value * 1000)) if thousands else int(value)
