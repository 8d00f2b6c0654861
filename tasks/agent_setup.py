"""Which agent, configured how, runs a plan task: the run's default (``--agent NAME`` or a
saved ``AgentConfig`` block, ``--agent-block NAME``) unless the task's ``agent:`` names another.

A task's ``agent:`` is an adapter name (``claude``; the run's own configuration when it is of
that kind, else the adapter's default configuration) or the name of a saved ``AgentConfig``
block. Blocks are loaded here, inside the task run, so an API key never travels as a flow or
task parameter.
"""

from __future__ import annotations

from agents.base import Agent, AgentConfigError
from agents.config import AgentSettings
from agents.registry import AGENTS, get_agent


def resolve_agent(run_agent: str, run_block: str | None, command: str | None,
                  task_agent: str | None) -> Agent:
    """The configured adapter for one task.

    Args:
        run_agent: the run's default adapter name (``--agent``), used when ``run_block`` is None.
        run_block: the run's saved ``AgentConfig`` block name (``--agent-block``), or None.
        command: ``--agent-command`` (the shell command, or another CLI's executable).
        task_agent: the task's own ``agent:`` field, or None.

    Raises:
        AgentConfigError: an unknown adapter name, or a block that cannot be loaded.
    """
    default = _load(run_block) if run_block else AgentSettings(kind=run_agent)
    chosen = task_agent or default.kind
    if chosen == default.kind:
        settings = default
    elif chosen in AGENTS:
        settings = AgentSettings(kind=chosen)
    else:
        settings = _load(chosen)
    return get_agent(settings.kind, command, settings)


def _load(block: str) -> AgentSettings:
    from blocks.agent_config import load_settings

    try:
        return load_settings(block)
    except (ValueError, KeyError) as exc:
        known = ", ".join(sorted(AGENTS))
        raise AgentConfigError(
            f"no agent {block!r}: not an adapter ({known}) and no AgentConfig block of that name"
            f" could be loaded ({exc}); save one with AgentConfig(...).save({block!r})"
        ) from None
