"""Gemini CLI: ``gemini -p PROMPT -o json --yolo --skip-trust ...``.

Key ``GEMINI_API_KEY``; base URL ``GOOGLE_GEMINI_BASE_URL``. ``$HOME/.gemini/settings.json``
selects API-key auth (without it a base URL fails with exit 41) and turns off updates,
telemetry and usage statistics. The output is one JSON document: ``{"session_id",
"response", "stats": {"models": {M: {"tokens": {"input", "candidates"}}}}}`` or, on failure,
``{"session_id", "error": {"message", "code"}}``. Exit codes: 41 auth, 53 turn limit; in json
mode an API failure exits with its HTTP status & 255. No cost is reported; ``max_turns`` is the
setting ``model.maxSessionTurns``; there is no cost limit.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

from agents.base import AgentRequest, AgentResult
from agents.cli import CliAgent, Command
from agents.failures import Failure, classify_status
from agents.output import Report, json_documents, read_log
from agents.process import ProcessOutcome

EXIT_FAILURES = {41: Failure.auth, 53: Failure.max_turns}
"""Gemini CLI exit codes that name a failure class."""


class GeminiAgent(CliAgent):
    """Gemini CLI, headless, all tools approved (``--yolo``) unless ``permission_mode`` is set."""

    name: ClassVar[str] = "gemini"
    program: ClassVar[str] = "gemini"
    key_env: ClassVar[str] = "GEMINI_API_KEY"
    base_url_env: ClassVar[str | None] = "GOOGLE_GEMINI_BASE_URL"

    def command_for(self, request: AgentRequest, home: Path, key: str | None,
                    base_url: str | None) -> Command:
        """``-p`` with json output, the model and approval mode; settings.json in the run's
        home (API-key auth, no updates or telemetry; ``cli_retries`` sets ``maxAttempts``,
        ``max_turns`` ``maxSessionTurns``)."""
        s = self.settings
        approval = ["--approval-mode", s.permission_mode] if s.permission_mode else ["--yolo"]
        args = ["-p", request.prompt, "-o", "json", *approval, "--skip-trust",
                *self.option("-m", s.model)]
        general: dict = {"disableAutoUpdate": True, "disableUpdateNag": True}
        if s.cli_retries is not None:
            general["maxAttempts"] = s.cli_retries + 1
        settings = {"security": {"auth": {"selectedType": "gemini-api-key"}},
                    "general": general,
                    "model": {} if s.max_turns is None else {"maxSessionTurns": s.max_turns}, "privacy": {"usageStatisticsEnabled": False},
                    "telemetry": {"enabled": False}}
        env = {"GEMINI_CLI_NO_RELAUNCH": "true", "GEMINI_TELEMETRY_ENABLED": "false",
               **self.key_vars(key)}
        if base_url:
            env["GOOGLE_GEMINI_BASE_URL"] = base_url
        files = {home / ".gemini" / "settings.json": json.dumps(settings, indent=2)}
        return Command(args=args, env=env, files=files)

    def parse(self, request: AgentRequest, outcome: ProcessOutcome) -> AgentResult:
        """The report of the output; an exit code Gemini reserves for auth or the turn limit
        classifies the failure when the output does not."""
        report = self.report(read_log(outcome))
        if report.failure is None and outcome.exit_code in EXIT_FAILURES:
            report.failure = EXIT_FAILURES[outcome.exit_code]
            report.error = report.error or outcome.output_tail
        return report.result(outcome)

    def report(self, output: str) -> Report:
        """The last JSON document with a ``response`` or an ``error``: tokens (``prompt``
        includes ``cached``) and model requests (``api.totalRequests``) summed over the models'
        stats; an error's ``code`` classifies it."""
        docs = [d for d in json_documents(output)
                if isinstance(d, dict) and ("response" in d or "error" in d)]
        if not docs:
            return Report()
        doc = docs[-1]
        report = Report(message=str(doc.get("response") or ""), session_id=doc.get("session_id"))
        models = ((doc.get("stats") or {}).get("models") or {}).values()
        if models:
            report.tokens_cached, report.requests = 0, 0
        for model in models:
            tokens = model.get("tokens") or {}
            report.tokens_in += int(tokens.get("prompt") or tokens.get("input") or 0)
            report.tokens_cached += int(tokens.get("cached") or 0)
            report.tokens_out += int(tokens.get("candidates") or 0)
            report.requests += int((model.get("api") or {}).get("totalRequests") or 0)
        error = doc.get("error")
        if error:
            code = error.get("code") if isinstance(error, dict) else None
            report.error = str(error.get("message") if isinstance(error, dict) else error)
            report.failure = classify_status(code if isinstance(code, int) else None)
        return report
