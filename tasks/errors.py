"""Why a plan task run failed.

    TaskRunError          a plan task did not produce verified work; keeps its worktree and branch
    ├── AgentFailed       the agent failed or timed out (retried unless its failure class says
    │                     another attempt cannot help: auth, max turns, budget)
    ├── GateFailed        a quality-gate command failed in the task's worktree (retried)
    ├── SetupFailed       the worktree could not be made ready: a file to copy, a shared
    │                     folder's build or the setup command failed (failure class ``setup``;
    │                     retried)
    ├── NoChanges         the agent changed no file and the task does not allow that (not retried)
    ├── AgentMisbehaved   the agent left its work where it cannot be used: it rewrote its branch
    │                     off the task's base, deleted its worktree (not retried)
    └── ResolutionFailed  a resolver agent did not settle a stacking conflict (its agent failed,
                          markers remain, or a quality gate of either task failed; not retried)

Every error carries the task id, the worktree and branch where the work stays, the log path
and the last output, so the message says what, where and what next; what and the output are
redacted (``planning.redaction``), since the message reaches the status, Prefect's state and
the result file.
"""

from __future__ import annotations

from pathlib import Path

from planning.redaction import redact


class TaskRunError(Exception):
    """Base of task failures. ``retryable`` tells ``should_retry`` whether another attempt can help."""

    retryable = False

    def __init__(self, task_id: str, what: str, worktree: Path, branch: str, log_path: Path | None,
                 output: str = "") -> None:
        what, output = redact(what), redact(output)
        self.task_id = task_id
        self.what = what
        self.worktree = worktree
        self.branch = branch
        self.log_path = log_path
        self.output = output
        text = f"task {task_id}: {what}; worktree {worktree} and branch {branch} are kept"
        if log_path:
            text += f"; log: {log_path}"
        if output.strip():
            text += "\n--- last output ---\n" + output.strip()[-2000:]
        super().__init__(text)


class AgentFailed(TaskRunError):
    """The agent failed or was killed at its timeout. ``retryable`` comes from the failure
    class (``agents.failures.Failure.retryable``) when given."""

    retryable = True

    def __init__(self, *args, retryable: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.retryable = retryable


class BudgetReached(Exception):
    """The run's reported cost passed ``--budget-usd`` before this task started; not retried."""

    retryable = False


class GateFailed(TaskRunError):
    """A quality-gate command exited non-zero; ``script`` is the gate's command."""

    retryable = True

    def __init__(self, *args, script: str = "", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.script = script


class SetupFailed(TaskRunError):
    """Preparing the worktree before the agent failed (``tasks.worktree_setup``)."""

    retryable = True


class NoChanges(TaskRunError):
    """The agent finished but changed nothing."""


class AgentMisbehaved(TaskRunError):
    """The agent broke its worktree or branch beyond repair (``tasks.audit``); what it left
    is kept."""


class ResolutionFailed(TaskRunError):
    """A resolver agent did not settle a stacking conflict; its worktree is kept."""
