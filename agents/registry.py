"""Agent adapters by name: ``AGENTS`` and ``get_agent``."""

from __future__ import annotations

from agents.base import Agent, AgentConfigError
from agents.shell import ShellAgent

AGENTS: dict[str, type[Agent]] = {ShellAgent.name: ShellAgent}
"""Every known adapter class, by its ``name``."""


def get_agent(name: str, command: str | None = None) -> Agent:
    """The adapter called ``name``, configured with ``command`` (the CLI's ``--agent-command``).

    Raises:
        AgentConfigError: ``name`` is not a known agent; the message lists the known names.
    """
    try:
        cls = AGENTS[name]
    except KeyError:
        known = ", ".join(sorted(AGENTS))
        raise AgentConfigError(f"unknown agent {name!r} (known agents: {known})") from None
    return cls(command)
