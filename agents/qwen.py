"""Qwen Code: ``qwen -p PROMPT -o json --auth-type openai ...``.

Key ``OPENAI_API_KEY``; base URL ``OPENAI_BASE_URL`` (with ``/v1``). The output is one JSON
array of Claude-style events ending in a ``result`` event. Qwen exits 0 when the API fails and
puts ``[API Error: 401 ...]`` in the result text, so that text is read as the error.
``cli_retries`` is ``model.generationConfig.maxRetries`` in ``$HOME/.qwen/settings.json``
(without it Qwen retries a 429 ten times, a minute apart).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

from agents.base import AgentRequest
from agents.cli import CliAgent, Command, openai_url
from agents.output import Report, json_documents
from agents.result_event import result_report


class QwenAgent(CliAgent):
    """Qwen Code, headless, with an OpenAI-compatible API (``--yolo`` by default)."""

    name: ClassVar[str] = "qwen"
    program: ClassVar[str] = "qwen"
    key_env: ClassVar[str] = "OPENAI_API_KEY"
    base_url_env: ClassVar[str | None] = "OPENAI_BASE_URL"

    def command_for(self, request: AgentRequest, home: Path, key: str | None,
                    base_url: str | None) -> Command:
        """``-p`` with json output, OpenAI auth, the model and turn limit; ``--yolo`` unless a
        ``permission_mode`` (``--approval-mode``) is configured; ``cli_retries`` in the run's
        settings.json."""
        s = self.settings
        approval = ["--approval-mode", s.permission_mode] if s.permission_mode else ["--yolo"]
        args = ["-p", request.prompt, "-o", "json", "--auth-type", "openai", *approval,
                *self.option("-m", s.model), *self.option("--max-session-turns", s.max_turns)]
        env = self.key_vars(key)
        if base_url:
            env["OPENAI_BASE_URL"] = openai_url(base_url) or base_url
        if s.model:
            env["OPENAI_MODEL"] = s.model
        files = {}
        if s.cli_retries is not None:
            settings = {"model": {"generationConfig": {"maxRetries": s.cli_retries}}}
            files[home / ".qwen" / "settings.json"] = json.dumps(settings, indent=2)
        return Command(args=args, env=env, files=files)

    def report(self, output: str) -> Report:
        """The ``result`` event of the JSON array; an ``[API Error: ...]`` result is an error."""
        events = [e for doc in json_documents(output) if isinstance(doc, list) for e in doc]
        report = result_report(events, input_counts_cache=True) or Report()
        if report.error is None and report.message.lstrip().startswith("[API Error"):
            report.error = report.message
        return report
