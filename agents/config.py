"""``AgentSettings``: how to run one coding-agent CLI (the pure model behind the
``AgentConfig`` Prefect block).

The API key is a ``SecretStr``: it prints as ``**********`` and is revealed only when the
adapter builds the agent process's environment.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr


class AgentSettings(BaseModel):
    """One agent configuration.

    Fields: ``kind`` (the adapter: claude, codex, gemini, opencode, aider, qwen, shell);
    ``executable`` (program path or name; default: the CLI's own name on ``PATH``); ``model``;
    ``extra_args`` (appended to the CLI's argv); ``env`` (extra variables for the agent
    process); ``timeout_s`` (seconds per agent run; None: the run's ``--timeout``);
    ``max_turns``; ``budget_usd`` (the CLI's own cost limit per run, USD, where it has one);
    ``permission_mode`` (the CLI's approval/sandbox mode; default: edits and commands allowed
    without asking); ``cli_retries`` (the CLI's own API retries, where it has a setting;
    default 0: planflow retries a failed run itself, classifying it and backing off, so a 401
    fails in seconds and a 429 keeps its class; None: the CLI's own default); ``base_url`` (the API endpoint; None: the provider's own, or the
    ``*_BASE_URL`` variable the adapter names); ``api_key`` (None: the adapter's key variable
    from the environment).
    """

    kind: str
    executable: str | None = None
    model: str | None = None
    extra_args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    timeout_s: float | None = Field(None, gt=0)
    max_turns: int | None = Field(None, ge=1)
    budget_usd: float | None = Field(None, gt=0)
    permission_mode: str | None = None
    cli_retries: int | None = Field(0, ge=0)
    base_url: str | None = None
    api_key: SecretStr | None = None

    def secret_values(self) -> list[str]:
        """The values planflow must never write: the API key and every value of ``env``."""
        key = [self.api_key.get_secret_value()] if self.api_key is not None else []
        return key + list(self.env.values())

    def fingerprint(self) -> dict:
        """What defines the agent's work for the cache key: every field but the API key."""
        return self.model_dump(mode="json", exclude={"api_key"})
