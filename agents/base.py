"""The agent interface: pure adapters plus the one executor that runs them.

An ``Agent`` adapter only builds the ``Invocation`` (argv and env) for an ``AgentRequest`` and
parses the ``ProcessOutcome`` into an ``AgentResult``; ``run_agent`` is the only code that
runs one (through ``agents.process.run_process``).

Errors:

    Exception
    └── AgentConfigError   the agent cannot be invoked as configured (unknown agent name,
                           no command for a shell task...): not worth a retry

An agent that runs and fails or times out is not an exception: it is an ``AgentResult`` with
status ``failed`` or ``timeout`` and a ``Failure`` class (``agents.failures``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import BaseModel, Field

from agents.config import AgentSettings
from agents.failures import Failure
from agents.leftovers import MARKER_VAR
from agents.process import ProcessOutcome, run_process
from planning.models import PlanTask
from planning.redaction import REDACTED, add_secrets, redact, redact_bytes

__all__ = ["REDACTED", "Agent", "AgentConfigError", "AgentRequest", "AgentResult", "Invocation",
           "run_agent"]


class AgentConfigError(Exception):
    """The agent is misconfigured for this run or task; retrying cannot help."""


class AgentRequest(BaseModel):
    """Everything one agent run needs.

    Fields: ``run_id``; ``task``; ``prompt`` (markdown, written to ``prompt_path`` before the
    run); ``worktree`` (the agent's working directory); ``log_path`` (merged output);
    ``plan_path`` (the plan file, when known); ``timeout_s`` (seconds, None: no limit);
    ``attempt`` (1-based retry number); ``marker`` (a token put in the agent's environment as
    ``PLANFLOW_AGENT_MARKER`` so processes it leaves behind can be found, ``agents.leftovers``).
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
    marker: str | None = None


class Invocation(BaseModel):
    """How to start an agent: ``argv``, the complete ``env`` (built with ``base_env``),
    ``files`` to write before the start (path -> text: the agent's own config in its home),
    ``secrets``, values that must not survive in the log or the result (API keys), and
    ``private_dirs``, folders the agent writes (its home), created before the run and scrubbed
    of the secrets after it (some CLIs snapshot their environment to disk)."""

    argv: list[str]
    env: dict[str, str] = Field(repr=False)
    files: dict[Path, str] = Field(default_factory=dict, repr=False)
    secrets: list[str] = Field(default_factory=list, repr=False)
    private_dirs: list[Path] = Field(default_factory=list)


class AgentResult(BaseModel):
    """How one agent run ended.

    Fields: ``status``; ``exit_code`` (None on timeout); ``message`` (the agent's final message,
    its error, or the tail of its output); ``duration_s`` (seconds); ``log_path``; ``failure``
    (None when it succeeded); the ledger, one definition for every CLI (README, "The
    ledger"): ``tokens_in`` (input tokens, the cached ones included), ``tokens_cached`` (of
    those, read from the provider's prompt cache; None when the CLI does not say),
    ``tokens_out`` (output tokens), ``cost_usd`` (USD, the CLI's own figure; None when it
    reports none), ``requests`` (model requests the agent's work made; None when unknown);
    ``session_id``; ``leftovers``: processes the agent left running, killed when it ended
    ({pid: command line}, ``ProcessOutcome.leftovers``).
    """

    status: Literal["succeeded", "failed", "timeout"]
    exit_code: int | None
    message: str
    duration_s: float
    log_path: Path
    failure: Failure | None = None
    tokens_in: int = 0
    tokens_cached: int | None = None
    tokens_out: int = 0
    cost_usd: float | None = None
    requests: int | None = None
    session_id: str | None = None
    leftovers: dict[int, str] = Field(default_factory=dict)


class Agent(ABC):
    """A coding-agent adapter: builds the invocation, parses the outcome; never runs anything.

    ``command`` is the CLI's ``--agent-command``: the command line for the ``shell`` agent;
    other adapters use it to override their executable. ``settings`` is the agent
    configuration (default: ``AgentSettings(kind=name)``).
    """

    name: ClassVar[str]

    def __init__(self, command: str | None = None, settings: AgentSettings | None = None) -> None:
        self.command = command
        self.settings = settings or AgentSettings(kind=self.name)
        add_secrets(self.settings.secret_values())

    @abstractmethod
    def invocation(self, request: AgentRequest) -> Invocation:
        """The argv and env running ``request``; AgentConfigError when that is impossible."""

    def parse(self, request: AgentRequest, outcome: ProcessOutcome) -> AgentResult:
        """Turn ``outcome`` into a result: exit 0 succeeded, timed out timeout, else failed.

        The message is the output tail; adapters whose CLI prints a final message override this.
        """
        if outcome.timed_out:
            status: Literal["succeeded", "failed", "timeout"] = "timeout"
            failure: Failure | None = Failure.timeout
        elif outcome.exit_code == 0:
            status, failure = "succeeded", None
        else:
            status, failure = "failed", Failure.error
        return AgentResult(
            status=status,
            exit_code=outcome.exit_code,
            message=outcome.output_tail,
            duration_s=outcome.duration_s,
            log_path=outcome.log_path,
            failure=failure,
        )


def run_agent(agent: Agent, request: AgentRequest) -> AgentResult:
    """Run ``agent`` on ``request`` in ``request.worktree`` and return its result.

    Builds the invocation (so a misconfiguration raises before anything is written), writes
    ``request.prompt`` to ``request.prompt_path`` and the invocation's files (parent dirs
    created) and creates its private folders and its own temp folder (``temp_dir``: ``TMPDIR``,
    ``TEMP`` and ``TMP`` point there, so nothing of the run lands in the shared ``/tmp``), runs
    the invocation with ``request.timeout_s`` seconds and parses the outcome.
    The invocation's secrets join the run's known secrets (``planning.redaction``), which are
    replaced by ``REDACTED`` in the log file (``run_process``), the files under its private
    folders and temp folder, and the result.

    Raises:
        AgentConfigError: the agent cannot build an invocation for this request.
    """
    invocation = agent.invocation(request)
    for path, text in {request.prompt_path: request.prompt, **invocation.files}.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    temp = temp_dir(request)
    folders = [*invocation.private_dirs, temp]
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
    add_secrets(invocation.secrets)
    temp_vars = {name: str(temp) for name in ("TMPDIR", "TEMP", "TMP")}
    outcome = run_process(
        invocation.argv,
        cwd=request.worktree,
        env=invocation.env | temp_vars | ({MARKER_VAR: request.marker} if request.marker else {}),
        timeout_s=request.timeout_s,
        log_path=request.log_path,
    )
    for folder in folders:
        _scrub(folder)
    result = agent.parse(request, outcome)
    return result.model_copy(update={"message": redact(result.message),
                                     "leftovers": outcome.leftovers})


def temp_dir(request: AgentRequest) -> Path:
    """The run's own temp folder: beside its log, ``<log name without .log>.tmp`` (absolute)."""
    return request.log_path.with_name(request.log_path.stem + ".tmp").absolute()


def _scrub(folder: Path) -> None:
    """Redact every regular file under ``folder`` (``planning.redaction.redact_bytes``)."""
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            cleaned = redact_bytes(data)
            if cleaned != data:
                path.write_bytes(cleaned)
