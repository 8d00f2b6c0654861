"""Agent adapters by name: ``AGENTS`` and ``get_agent``."""

from __future__ import annotations

from agents.aider import AiderAgent
from agents.base import Agent, AgentConfigError
from agents.claude import ClaudeAgent
from agents.codex import CodexAgent
from agents.config import AgentSettings
from agents.gemini import GeminiAgent
from agents.opencode import OpencodeAgent
from agents.qwen import QwenAgent
from agents.shell import ShellAgent

AGENTS: dict[str, type[Agent]] = {
    cls.name: cls
    for cls in (ShellAgent, ClaudeAgent, CodexAgent, GeminiAgent, OpencodeAgent, AiderAgent, QwenAgent)
}
"""Every known adapter class, by its ``name``."""


def get_agent(name: str, command: str | None = None, settings: AgentSettings | None = None) -> Agent:
    """The adapter called ``name``, configured with ``command`` (the CLI's ``--agent-command``)
    and ``settings`` (default: the adapter's default configuration).

    Raises:
        AgentConfigError: ``name`` is not a known agent (the message lists the known names),
            or ``settings`` are for another kind.
    """
    try:
        cls = AGENTS[name]
    except KeyError:
        known = ", ".join(sorted(AGENTS))
        raise AgentConfigError(f"unknown agent {name!r} (known agents: {known})") from None
    if settings is not None and settings.kind != name:
        raise AgentConfigError(f"agent {name!r} given a configuration of kind {settings.kind!r}")
    return cls(command, settings)
