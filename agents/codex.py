"""Codex: ``codex exec --json --sandbox workspace-write --skip-git-repo-check --ephemeral ...``.

Key ``OPENAI_API_KEY`` (also given as ``CODEX_API_KEY``). A base URL is a custom provider
``planflow`` given with ``-c`` flags (this Codex ignores ``OPENAI_BASE_URL``); Codex speaks the
Responses API to it. ``CODEX_HOME`` is in the run's home. The output is JSONL:
``thread.started``, ``turn.*``, ``item.*``; usage comes with ``turn.completed`` (its
``input_tokens`` already include ``cached_input_tokens``); Codex reports no cost and no
request count, and has no turn limit.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

from agents.base import AgentRequest
from agents.cli import CliAgent, Command, openai_url
from agents.output import Report, json_events

PROVIDER = "planflow"
"""The name of the custom model provider a base URL becomes."""

QUIET = ("analytics.enabled=false", "check_for_update_on_startup=false",
         "features.plugins=false", "features.remote_plugin=false", "features.apps=false")
"""``-c`` overrides that keep Codex from phoning home or loading plugins."""


_REQUEST_ITEMS = ("agent_message", "command_execution", "file_change", "mcp_tool_call",
                  "web_search")
"""Codex item types that end one model request (its final message or a tool call)."""


class CodexAgent(CliAgent):
    """Codex ``exec``, sandboxed to the worktree (``workspace-write`` by default)."""

    name: ClassVar[str] = "codex"
    program: ClassVar[str] = "codex"
    key_env: ClassVar[str] = "OPENAI_API_KEY"
    base_url_env: ClassVar[str | None] = "OPENAI_BASE_URL"

    def command_for(self, request: AgentRequest, home: Path, key: str | None,
                    base_url: str | None) -> Command:
        """``exec --json`` in the worktree with the sandbox mode, model and quiet overrides;
        with a base URL, the ``planflow`` provider (its retries set by ``cli_retries``)."""
        s = self.settings
        codex_home = home / ".codex"
        args = ["exec", "--json", "--sandbox", s.permission_mode or "workspace-write",
                "--skip-git-repo-check", "--ephemeral", "-C", str(request.worktree),
                *self.option("-m", s.model)]
        for override in QUIET:
            args += ["-c", override]
        if base_url:
            provider = {"name": PROVIDER, "base_url": openai_url(base_url),
                        "env_key": self.key_env, "wire_api": "responses"}
            if s.cli_retries is not None:
                provider |= {"request_max_retries": s.cli_retries,
                             "stream_max_retries": s.cli_retries}
            table = ",".join(f"{k}={json.dumps(v)}" for k, v in provider.items())
            args += ["-c", f"model_provider={PROVIDER}", "-c", f"model_providers.{PROVIDER}={{{table}}}"]
        args.append(request.prompt)
        env = {"CODEX_HOME": str(codex_home), **self.key_vars(key, self.key_env, "CODEX_API_KEY")}
        return Command(args=args, env=env, files={codex_home / "config.toml": ""})

    def report(self, output: str) -> Report:
        """Tokens summed over ``turn.completed``; model requests counted from the items (each
        request ends in a tool call or a message: one per ``agent_message`` and per tool item);
        the last ``agent_message`` is the message; a ``turn.failed`` (or, with no turn at all,
        an ``error`` event) is the error."""
        report = Report(requests=0)
        last_error, turns = None, 0
        for event in json_events(output):
            kind = event.get("type")
            item = event.get("item") or {}
            if kind == "thread.started":
                report.session_id = event.get("thread_id")
            elif kind == "turn.completed":
                turns += 1
                usage = event.get("usage") or {}
                report.tokens_in += int(usage.get("input_tokens") or 0)
                report.tokens_cached = (report.tokens_cached or 0) + int(
                    usage.get("cached_input_tokens") or 0)
                report.tokens_out += int(usage.get("output_tokens") or 0)
            elif kind == "turn.failed":
                turns += 1
                report.error = str((event.get("error") or {}).get("message") or "turn failed")
            elif kind == "error":
                last_error = str(event.get("message") or "")
            elif kind == "item.completed" and item.get("type") in _REQUEST_ITEMS:
                report.requests += 1
                if item.get("type") == "agent_message":
                    report.message = str(item.get("text") or "")
        if report.error is None and turns == 0 and last_error:
            report.error = last_error
        return report
