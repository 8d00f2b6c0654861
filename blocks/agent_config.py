"""``AgentConfig``: a coding-agent configuration an operator saves and edits in the Prefect UI.

Register the block type once per Prefect server, then save configurations by name::

    prefect block register -m blocks.agent_config

    from blocks.agent_config import AgentConfig
    AgentConfig(kind="claude", model="claude-sonnet-4-5", api_key="sk-ant-...").save("claude-prod")

and run with ``planflow run plan.md --agent-block claude-prod`` (or name the block in a task's
``agent:`` field). The API key is a secret field: the UI and the API show it masked, and
planflow reveals it only in the environment of the agent process.
"""

from __future__ import annotations

from typing import ClassVar

from prefect.blocks.core import Block

from agents.config import AgentSettings


class AgentConfig(AgentSettings, Block):
    """How to run one coding-agent CLI; the fields are ``agents.config.AgentSettings``'s."""

    _block_type_name: ClassVar[str] = "planflow agent config"
    _block_type_slug: ClassVar[str] = "planflow-agent-config"
    _description: ClassVar[str] = (
        "A coding-agent CLI for planflow: kind (claude, codex, gemini, opencode, aider, qwen, "
        "shell), executable, model, extra args, env, timeout (s), max turns, budget (USD), "
        "base URL and the API key (secret).")

    def settings(self) -> AgentSettings:
        """The plain ``AgentSettings`` of this block (the key stays a ``SecretStr``)."""
        return AgentSettings(**{name: getattr(self, name) for name in AgentSettings.model_fields})


def load_settings(name: str) -> AgentSettings:
    """The settings of the saved ``AgentConfig`` block ``name``.

    Raises:
        ValueError: no such block on the Prefect server (Prefect's error).
    """
    return AgentConfig.load(name).settings()
