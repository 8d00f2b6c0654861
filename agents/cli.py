"""``CliAgent``: what every coding-agent CLI adapter shares.

An adapter declares its program name, the environment variables of its key and base URL, and
builds its own arguments, environment and config files (``command``) and ``Report``
(``report``). This base adds the isolation every CLI gets:

* ``HOME`` and ``XDG_CONFIG_HOME``/``XDG_DATA_HOME``/``XDG_CACHE_HOME``/``XDG_STATE_HOME`` in
  a fresh folder per run, next to the run's log (``agent_home``), so no CLI reads or writes
  the user's config, sessions or caches;
* the environment is ``base_env`` (an allow-list) plus the adapter's variables plus the
  configuration's ``env``: the key reaches only this process and is listed as a secret, so
  ``run_agent`` scrubs it from the log and the home after the run;
* the API key comes from the configuration's secret, else from the adapter's key variable
  in planflow's own environment.
"""

from __future__ import annotations

import os
from abc import abstractmethod
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, Field

from agents.base import Agent, AgentRequest, AgentResult, Invocation
from agents.output import Report, read_log
from agents.process import ProcessOutcome, base_env


class Command(BaseModel):
    """An adapter's part of an invocation: ``args`` after the program, ``env`` variables, and
    ``files`` to write (path -> text)."""

    args: list[str]
    env: dict[str, str] = Field(default_factory=dict)
    files: dict[Path, str] = Field(default_factory=dict)


class CliAgent(Agent):
    """A coding-agent CLI run headless in the task's worktree.

    Class attributes: ``program`` (default executable name); ``key_env`` (the variable the
    CLI reads its key from, and where planflow looks when the configuration has none);
    ``base_url_env`` (where planflow looks for a base URL when the configuration has none).
    """

    program: ClassVar[str]
    key_env: ClassVar[str]
    base_url_env: ClassVar[str | None] = None

    def invocation(self, request: AgentRequest) -> Invocation:
        """The isolated argv, env and files running this CLI on ``request``."""
        home = agent_home(request)
        key = self.api_key()
        command = self.command_for(request, home, key, self.base_url())
        isolation = {
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "XDG_STATE_HOME": str(home / ".local" / "state"),
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }
        env = base_env({**isolation, **command.env, **self.settings.env})
        argv = [self.executable(), *command.args, *self.settings.extra_args]
        return Invocation(argv=argv, env=env, files=command.files, secrets=[key] if key else [],
                          private_dirs=[home])

    def parse(self, request: AgentRequest, outcome: ProcessOutcome) -> AgentResult:
        """The result of ``outcome``: the adapter's ``report`` of the output, classified."""
        return self.report(read_log(outcome)).result(outcome)

    @abstractmethod
    def command_for(self, request: AgentRequest, home: Path, key: str | None,
                    base_url: str | None) -> Command:
        """The CLI's arguments, variables and config files for ``request``.

        Args:
            request: the run.
            home: the run's own home folder (created before the start).
            key: the API key (None: none configured; the CLI uses its own login).
            base_url: the API endpoint (None: the provider's default).
        """

    @abstractmethod
    def report(self, output: str) -> Report:
        """What the CLI's merged stdout+stderr ``output`` says about the run."""

    def executable(self) -> str:
        """``--agent-command``, else the configuration's executable, else ``program``."""
        return self.command or self.settings.executable or self.program

    def api_key(self) -> str | None:
        """The configuration's secret key, else ``$key_env`` from planflow's environment."""
        if self.settings.api_key is not None:
            return self.settings.api_key.get_secret_value()
        return os.environ.get(self.key_env) or None

    def base_url(self) -> str | None:
        """The configuration's base URL, else ``$base_url_env`` from planflow's environment."""
        if self.settings.base_url:
            return self.settings.base_url.rstrip("/")
        value = os.environ.get(self.base_url_env) if self.base_url_env else None
        return value.rstrip("/") if value else None

    def key_vars(self, key: str | None, *names: str) -> dict[str, str]:
        """``{name: key}`` for each of ``names`` (default: ``key_env``); empty without a key."""
        return {name: key for name in names or (self.key_env,)} if key else {}

    def option(self, flag: str, value: object | None) -> list[str]:
        """``[flag, str(value)]``, or nothing when ``value`` is None."""
        return [] if value is None else [flag, str(value)]


def agent_home(request: AgentRequest) -> Path:
    """The run's own home folder: beside its log, ``<log name without .log>.home``."""
    return request.log_path.with_name(request.log_path.stem + ".home")


def openai_url(base_url: str | None) -> str | None:
    """``base_url`` ending in ``/v1`` (OpenAI-compatible clients want it), or None."""
    if base_url is None:
        return None
    return base_url if base_url.endswith("/v1") else base_url + "/v1"
