"""The agent interface: pure adapters plus the one executor that runs them.

An ``Agent`` adapter only builds the ``Invocation`` (argv and env) for an ``AgentRequest`` and
parses the ``ProcessOutcome`` into an ``AgentResult``; ``run_agent`` is the only code that
runs one (through ``agents.process.run_process``).

Errors:

    Exception
    └── AgentConfigError   the agent cannot be invoked as configured (unknown agent name,
                           no command for a shell task...): not worth a retry

An agent that runs and fails or times out is not an exception: it is an ``AgentResult`` with
status ``failed`` or ``timeout``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import BaseModel

from agents.process import ProcessOutcome, run_process
from planning.models import PlanTask


class AgentConfigError(Exception):
    """The agent is misconfigured for this run or task; retrying cannot help."""


class AgentRequest(BaseModel):
    """Everything one agent run needs.

    Fields: ``run_id``; ``task``; ``prompt`` (markdown, written to ``prompt_path`` before the
    run); ``worktree`` (the agent's working directory); ``log_path`` (merged output);
    ``plan_path`` (the plan file, when known); ``timeout_s`` (seconds, None: no limit);
    ``attempt`` (1-based retry number).
    """

    run_id: str
    task: PlanTask
    prompt: str
    worktree: Path
    log_path: Path
    prompt_path: Path
    plan_path: Path | None = None
    timeout_s: float | None = 1800.0
    attempt: int = 1


class Invocation(BaseModel):
    """How to start an agent: ``argv`` and the complete ``env`` (built with ``base_env``)."""

    argv: list[str]
    env: dict[str, str]


class AgentResult(BaseModel):
    """How one agent run ended.

    Fields: ``status``; ``exit_code`` (None on timeout); ``message`` (the agent's final message,
    or the tail of its output); ``duration_s`` (seconds); ``log_path``.
    """

    status: Literal["succeeded", "failed", "timeout"]
    exit_code: int | None
    message: str
    duration_s: float
    log_path: Path


class Agent(ABC):
    """A coding-agent adapter: builds the invocation, parses the outcome; never runs anything.

    ``command`` is the CLI's ``--agent-command``: the command line for the ``shell`` agent;
    other adapters may use it to override their executable.
    """

    name: ClassVar[str]

    def __init__(self, command: str | None = None) -> None:
        self.command = command

    @abstractmethod
    def invocation(self, request: AgentRequest) -> Invocation:
        """The argv and env running ``request``; AgentConfigError when that is impossible."""

    def parse(self, request: AgentRequest, outcome: ProcessOutcome) -> AgentResult:
        """Turn ``outcome`` into a result: exit 0 succeeded, timed out timeout, else failed.

        The message is the output tail; adapters whose CLI prints a final message override this.
        """
        if outcome.timed_out:
            status: Literal["succeeded", "failed", "timeout"] = "timeout"
        elif outcome.exit_code == 0:
            status = "succeeded"
        else:
            status = "failed"
        return AgentResult(
            status=status,
            exit_code=outcome.exit_code,
            message=outcome.output_tail,
            duration_s=outcome.duration_s,
            log_path=outcome.log_path,
        )


def run_agent(agent: Agent, request: AgentRequest) -> AgentResult:
    """Run ``agent`` on ``request`` in ``request.worktree`` and return its result.

    Builds the invocation (so a misconfiguration raises before anything is written), writes
    ``request.prompt`` to ``request.prompt_path`` (parent dirs created), runs the invocation
    with ``request.timeout_s`` seconds and parses the outcome.

    Raises:
        AgentConfigError: the agent cannot build an invocation for this request.
    """
    invocation = agent.invocation(request)
    request.prompt_path.parent.mkdir(parents=True, exist_ok=True)
    request.prompt_path.write_text(request.prompt, encoding="utf-8")
    outcome = run_process(
        invocation.argv,
        cwd=request.worktree,
        env=invocation.env,
        timeout_s=request.timeout_s,
        log_path=request.log_path,
    )
    return agent.parse(request, outcome)
