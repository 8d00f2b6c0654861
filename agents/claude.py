"""Claude Code: ``claude -p PROMPT --output-format stream-json --verbose ...``.

Key ``ANTHROPIC_API_KEY``; base URL ``ANTHROPIC_BASE_URL`` (no ``/v1``). The output is NDJSON
ending in a ``result`` event (``agents.result_event``) with tokens (cache reads and writes
included), cost, model requests and session.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from agents.base import AgentRequest
from agents.cli import CliAgent, Command
from agents.output import Report, json_events
from agents.result_event import result_report


class ClaudeAgent(CliAgent):
    """Claude Code, headless, edits and commands allowed (``bypassPermissions`` by default)."""

    name: ClassVar[str] = "claude"
    program: ClassVar[str] = "claude"
    key_env: ClassVar[str] = "ANTHROPIC_API_KEY"
    base_url_env: ClassVar[str | None] = "ANTHROPIC_BASE_URL"

    def command_for(self, request: AgentRequest, home: Path, key: str | None,
                    base_url: str | None) -> Command:
        """``-p`` with stream-json output, no session persistence, the configured model, turn
        and budget limits; quiet variables (no telemetry, no updater); ``IS_SANDBOX=1`` so
        ``bypassPermissions`` is accepted as root."""
        s = self.settings
        args = ["-p", request.prompt, "--output-format", "stream-json", "--verbose",
                "--permission-mode", s.permission_mode or "bypassPermissions",
                "--no-session-persistence", *self.option("--model", s.model),
                *self.option("--max-turns", s.max_turns),
                *self.option("--max-budget-usd", s.budget_usd)]
        env = {"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_AUTOUPDATER": "1",
               "DISABLE_TELEMETRY": "1", "DISABLE_ERROR_REPORTING": "1",
               "CLAUDE_CODE_DISABLE_TERMINAL_TITLE": "1", "IS_SANDBOX": "1",
               **self.key_vars(key)}
        if base_url:
            env["ANTHROPIC_BASE_URL"] = base_url
        if s.cli_retries is not None:
            env["CLAUDE_CODE_MAX_RETRIES"] = str(s.cli_retries)
        return Command(args=args, env=env)

    def report(self, output: str) -> Report:
        """The last ``result`` event; without one, the output says nothing (exit code decides)."""
        return result_report(json_events(output)) or Report()
