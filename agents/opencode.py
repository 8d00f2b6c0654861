"""opencode: ``opencode run --pure --format json -m PROVIDER/MODEL PROMPT``.

The configuration goes inline in ``OPENCODE_CONFIG_CONTENT`` (nothing is written to the
worktree). A base URL becomes an OpenAI-compatible provider ``planflow`` whose key is read
from ``OPENAI_API_KEY`` by opencode's ``{env:...}`` substitution, so the key is never in argv
or the config text. The output is JSONL: ``step_start``, ``tool_use``, ``text``,
``step_finish`` (tokens and cost of the step) and ``error``. opencode has no turn limit, cost
limit or retry setting.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

from agents.base import AgentRequest
from agents.cli import CliAgent, Command, openai_url
from agents.failures import classify_status
from agents.output import Report, json_events

PROVIDER = "planflow"
"""The provider name a base URL becomes (the model is ``planflow/<model>``)."""


class OpencodeAgent(CliAgent):
    """opencode ``run``, edits and shell allowed unless ``permission_mode`` says otherwise."""

    name: ClassVar[str] = "opencode"
    program: ClassVar[str] = "opencode"
    key_env: ClassVar[str] = "OPENAI_API_KEY"
    base_url_env: ClassVar[str | None] = "OPENAI_BASE_URL"

    def command_for(self, request: AgentRequest, home: Path, key: str | None,
                    base_url: str | None) -> Command:
        """``run --format json`` with the model; the inline config (provider, permissions, no
        autoupdate or sharing) and the quiet variables."""
        s = self.settings
        mode = s.permission_mode or "allow"
        config: dict = {"autoupdate": False, "share": "disabled",
                        "permission": {"edit": mode, "bash": mode, "webfetch": "deny"}}
        model = s.model
        if base_url:
            model = f"{PROVIDER}/{s.model or 'default'}"
            config["provider"] = {PROVIDER: {
                "npm": "@ai-sdk/openai-compatible", "name": PROVIDER,
                "options": {"baseURL": openai_url(base_url), "apiKey": f"{{env:{self.key_env}}}"},
                "models": {s.model or "default": {}}}}
        if model:
            config["model"] = model
        env = {"OPENCODE_CONFIG_CONTENT": json.dumps(config), "OPENCODE_DISABLE_AUTOUPDATE": "1",
               "OPENCODE_DISABLE_MODELS_FETCH": "1", "OPENCODE_DISABLE_LSP_DOWNLOAD": "1",
               "OPENCODE_DISABLE_DEFAULT_PLUGINS": "1", "OPENCODE_DISABLE_SHARE": "1",
               "OPENCODE_DISABLE_CLAUDE_CODE": "1", **self.key_vars(key)}
        args = ["run", "--pure", "--format", "json", *self.option("-m", model), request.prompt]
        return Command(args=args, env=env)

    def report(self, output: str) -> Report:
        """Tokens and cost summed over ``step_finish`` (its ``input`` leaves out the
        ``cache.read`` and ``cache.write`` tokens, added back); one model request per step; the
        last ``text`` is the message; an ``error`` event is the error, classified by its
        ``statusCode``."""
        report = Report(requests=0, tokens_cached=0, cost_usd=0.0)
        for event in json_events(output):
            kind = event.get("type")
            part = event.get("part") or {}
            report.session_id = event.get("sessionID") or report.session_id
            if kind == "step_finish":
                tokens = part.get("tokens") or {}
                cache = tokens.get("cache") or {}
                report.tokens_in += sum(int(n or 0) for n in (
                    tokens.get("input"), cache.get("read"), cache.get("write")))
                report.tokens_cached += int(cache.get("read") or 0)
                report.tokens_out += int(tokens.get("output") or 0)
                report.cost_usd += float(part.get("cost") or 0.0)
                report.requests += 1
            elif kind == "text":
                report.message = str(part.get("text") or "")
            elif kind == "error":
                error = event.get("error") or {}
                data = error.get("data") or {}
                report.error = str(data.get("message") or error.get("name") or "error")
                status = data.get("statusCode")
                report.failure = classify_status(status if isinstance(status, int) else None)
        return report
