"""``run_author_agent``: one agent run that writes a document (a spec or a plan) in a worktree.

Unlike a plan task it does not commit and runs no gates: the authoring flow checks the
document, hands the findings back in the next attempt's prompt, and commits once it is
accepted. Not cached: an authoring run resumes from the document committed on its branch.
"""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel

from agents.base import AgentRequest, run_agent
from agents.failures import Failure
from planning.models import PlanTask
from tasks.agent_setup import resolve_agent
from tasks.errors import AgentFailed
from tasks.limits import agent_slot
from tasks.plan_task import should_retry


class AuthorStep(BaseModel):
    """One authoring agent run.

    ``step``: ``spec`` or ``plan`` (names the task run and the logs); ``attempt``:
    1-based, counted over every run of the step in the run id (revisions go on counting); ``document``: the path the agent writes, relative to ``worktree``; ``prompt``:
    markdown; ``agent``/``agent_command``/``agent_block``: as in ``TaskSpec``; ``timeout_s``:
    the agent's limit in seconds (unless its configuration sets one); ``logs``: the run's log
    folder.
    """

    run_id: str
    step: str
    attempt: int
    worktree: Path
    branch: str
    document: str
    prompt: str
    agent: str = "shell"
    agent_command: str | None = None
    agent_block: str | None = None
    timeout_s: float = 1800.0
    logs: Path


class AuthorRun(BaseModel):
    """A finished authoring agent run: its final ``message`` and the usage it reported
    (``tokens_in``/``tokens_out`` tokens, ``cost_usd`` USD or None)."""

    message: str
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float | None = None


@task(name="author-agent", task_run_name="{step.step}-attempt-{step.attempt}",
      cache_policy=NO_CACHE, retry_condition_fn=should_retry)
def run_author_agent(step: AuthorStep) -> AuthorRun:
    """Run the agent on ``step.prompt`` in ``step.worktree``; returns its ``AuthorRun``.

    The agent sees a task ``{step}`` titled after the document, whose only file is
    ``step.document`` (the shell agent gets it in ``PLANFLOW_TASK_FILES``). Raises
    ``AgentFailed`` (worktree and branch kept; retried when the failure class allows) when the
    agent fails or times out, ``AgentConfigError`` when it cannot be built.
    """
    agent = resolve_agent(step.agent, step.agent_block, step.agent_command, None)
    log_path = step.logs / f"{step.step}.attempt-{step.attempt}.log"
    request = AgentRequest(
        run_id=step.run_id,
        task=PlanTask(id=step.step, title=f"write {step.document}", files=[step.document]),
        prompt=step.prompt,
        worktree=step.worktree,
        log_path=log_path,
        prompt_path=step.logs / f"{step.step}.attempt-{step.attempt}.prompt.md",
        timeout_s=agent.settings.timeout_s or step.timeout_s,
        attempt=step.attempt,
    )
    with agent_slot():
        result = run_agent(agent, request)
    if result.status != "succeeded":
        failure = result.failure or Failure.error
        what = f"{agent.name} agent exited {result.exit_code} (failure: {failure.value})"
        if result.status == "timeout":
            what = f"{agent.name} agent timed out after {request.timeout_s:g} s (failure: timeout)"
        raise AgentFailed(step.step, what, step.worktree, step.branch, log_path, result.message,
                          retryable=failure.retryable)
    return AuthorRun(message=result.message[-2000:], tokens_in=result.tokens_in,
                     tokens_out=result.tokens_out, cost_usd=result.cost_usd)
