"""The machine reviewers of a review round, as Prefect tasks: ``agent_review`` and ``command_review``.

Both look at the stack tip in a detached worktree ``.worktrees/{run_id}-review-{scope}``
(removed afterwards, its stray changes salvaged) and return a ``ReviewAnswer``: one ``Verdict``
per task. An agent's verdicts are cached by what defines them (the stacked commits, the earlier
comments, the reviewer configuration), so a resumed run replays them without calling the agent;
a command's are not (its environment may have been fixed since).

Errors: ``ReviewFailed`` when the reviewer cannot give a verdict (the agent failed or timed
out, or answered in a malformed way twice); ``AgentConfigError`` when the agent cannot be built.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel

from agents.base import Agent, AgentRequest, AgentResult, run_agent
from agents.process import base_env, run_process
from agents.review_prompt import MalformedVerdict, ReviewItem, Verdict, build_review_prompt, parse_verdicts
from gitops.repo import Repository, open_repository
from planning.models import PlanTask
from planning.status import ReviewUsage, open_store
from tasks.agent_setup import resolve_agent
from tasks.defaults import WorkKeyPolicy, result_serializer, result_storage
from tasks.limits import agent_slot


class ReviewFailed(Exception):
    """A reviewer gave no usable verdict; the message says why and where its log is."""


class ReviewJob(BaseModel):
    """One review round's input.

    ``scope``: ``phase-N`` or ``end``; ``round``: 1-based; ``tip``: the stack tip reviewed;
    ``items``: the tasks in stack order; ``agent``/``agent_block``: the run's agent;
    ``reviewer_agent``: the reviewer's adapter or AgentConfig block (None: the run's agent);
    ``command``: the review command (reviewer ``command``) or the reviewer agent's command;
    ``timeout_s``: the reviewer's limit, seconds; ``status_path``: the run's status file, where
    the reviewer agent's usage is recorded (None: not recorded).
    """

    run_id: str
    repo: Path
    scope: str
    round: int
    plan_name: str
    plan_path: Path | None = None
    spec_path: str | None = None
    tip: str
    items: list[ReviewItem]
    agent: str = "shell"
    agent_block: str | None = None
    reviewer_agent: str | None = None
    command: str | None = None
    timeout_s: float = 1800.0
    status_path: Path | None = None

    def cache_parts(self) -> dict[str, Any]:
        """What defines an agent's verdicts: the reviewed commits and tasks, the earlier
        comments, the reviewer configuration; not paths."""
        return {
            "run_id": self.run_id,
            "scope": self.scope,
            "round": self.round,
            "tip": self.tip,
            "items": [item.model_dump(mode="json", exclude={"task": {"line"}}) for item in self.items],
            "reviewer": [self.reviewer_agent, self.agent_block, self.agent, self.command],
        }

    def log_stem(self, repo: Repository) -> Path:
        """``<state dir>/runs/{run_id}/logs/review-{scope}-round-{round}``."""
        return repo.state_dir / "runs" / self.run_id / "logs" / f"review-{self.scope}-round-{self.round}"


class ReviewAnswer(ReviewUsage):
    """A reviewer's answer: ``verdicts`` by task id, with its round, the ``log_path`` of its
    (last) run and its usage (``ReviewUsage``; ``attempts`` is 2 when the agent's first answer
    was malformed)."""

    verdicts: dict[str, Verdict]


@task(name="review-agent", task_run_name="review-agent-{job.scope}-round-{job.round}",
      cache_policy=WorkKeyPolicy(param="job"), persist_result=True, result_storage=result_storage(),
      result_serializer=result_serializer())
def agent_review(job: ReviewJob) -> ReviewAnswer:
    """Ask the reviewer agent for one verdict per task of ``job``; a malformed answer is asked
    again once, with what was wrong with it. The agent's usage goes into the run's status
    (``RunStatus.reviews``), also when it fails; a verdict replayed from the cache spent nothing.

    Returns a ``ReviewAnswer``. Raises ``ReviewFailed`` when the agent fails or times out, or
    answers in a malformed way twice; ``AgentConfigError`` when the agent cannot be built.
    """
    repo = open_repository(job.repo)
    agent = resolve_agent(job.agent, job.agent_block, job.command, job.reviewer_agent)
    ids = [item.task.id for item in job.items]
    diffs = [repo.diff(item.parent, item.tip) for item in job.items]
    answer = ReviewAnswer(verdicts={}, scope=job.scope, round=job.round, log_path=str(job.log_stem(repo)))
    error = None
    try:
        with _tip_worktree(repo, job) as worktree:
            for attempt in (1, 2):
                result = _ask(agent, job, repo, worktree, diffs, attempt, error)
                answer = _add_usage(answer, result, attempt)
                if result.status != "succeeded":
                    raise ReviewFailed(f"the {agent.name} reviewer {result.status} (exit {result.exit_code});"
                                       f" log: {result.log_path}\n{result.message[-2000:]}")
                try:
                    return answer.model_copy(update={"verdicts": parse_verdicts(result.message, ids)})
                except MalformedVerdict as exc:
                    error = str(exc)
    finally:
        _record_usage(job, answer)
    raise ReviewFailed(f"the {agent.name} reviewer answered in a malformed way twice ({error});"
                       f" log: {answer.log_path}")


@task(name="review-command", task_run_name="review-command-{job.scope}-round-{job.round}",
      cache_policy=NO_CACHE)
def command_review(job: ReviewJob) -> ReviewAnswer:
    """Run ``job.command`` with bash on the stack tip: exit 0 approves every task; any other
    exit rejects every task with the command's last output as the comment.

    The command sees ``PLANFLOW_RUN_ID``, ``PLANFLOW_REVIEW_TASKS`` (task ids, one per line)
    and ``PLANFLOW_REVIEW_ROUND``. Returns a ``ReviewAnswer``; raises ``GitError`` when the
    worktree cannot be made.
    """
    repo = open_repository(job.repo)
    stem = job.log_stem(repo)
    log_path = stem.with_name(f"{stem.name}.command.log")
    env = base_env({"PLANFLOW_RUN_ID": job.run_id, "PLANFLOW_REVIEW_ROUND": str(job.round),
                    "PLANFLOW_REVIEW_TASKS": "\n".join(item.task.id for item in job.items)})
    with _tip_worktree(repo, job) as worktree:
        outcome = run_process(["bash", "-e", "-c", job.command or ""], worktree, env,
                              job.timeout_s, log_path)
    approved = outcome.exit_code == 0 and not outcome.timed_out
    ended = "timed out" if outcome.timed_out else f"exited {outcome.exit_code}"
    comments = "" if approved else (f"the review command `{job.command}` {ended} on the stack"
                                     f" tip {job.tip[:10]}:\n{outcome.output_tail[-2000:].strip()}")
    verdicts = {item.task.id: Verdict(task_id=item.task.id, approved=approved, comments=comments)
                for item in job.items}
    return ReviewAnswer(verdicts=verdicts, scope=job.scope, round=job.round, attempts=1,
                        log_path=str(log_path))


def _ask(agent: Agent, job: ReviewJob, repo: Repository, worktree: Path, diffs: list[str],
         attempt: int, retry_error: str | None) -> AgentResult:
    """Run the reviewer agent once in ``worktree`` (attempt 2 is told ``retry_error``)."""
    stem = job.log_stem(repo)
    request = AgentRequest(
        run_id=job.run_id,
        task=PlanTask(id=f"review-{job.scope}-round-{job.round}",
                      title=f"review of {', '.join(item.task.id for item in job.items)}"),
        prompt=build_review_prompt(job.items, diffs, job.plan_name, job.plan_path,
                                   job.spec_path, retry_error=retry_error),
        worktree=worktree,
        log_path=stem.with_name(f"{stem.name}.attempt-{attempt}.log"),
        prompt_path=stem.with_name(f"{stem.name}.attempt-{attempt}.prompt.md"),
        plan_path=job.plan_path,
        timeout_s=agent.settings.timeout_s or job.timeout_s,
        attempt=attempt,
    )
    with agent_slot():
        return run_agent(agent, request)


@contextmanager
def _tip_worktree(repo: Repository, job: ReviewJob) -> Iterator[Path]:
    """A detached worktree at ``job.tip``, removed (stray changes salvaged) afterwards."""
    path = repo.root / ".worktrees" / f"{job.run_id}-review-{job.scope}"
    try:
        yield repo.detached_worktree(path, job.tip)
    finally:
        repo.remove_worktree(path)


def _record_usage(job: ReviewJob, answer: ReviewAnswer) -> None:
    """Add the reviewer agent's usage in ``answer`` to the run's status (when the agent ran and
    ``job.status_path`` is set)."""
    if answer.attempts and job.status_path is not None:
        open_store(job.status_path).add_review(ReviewUsage(**answer.model_dump(exclude={"verdicts"})))


def _add_usage(answer: ReviewAnswer, result: AgentResult, attempt: int) -> ReviewAnswer:
    cost = answer.cost_usd
    if result.cost_usd is not None:
        cost = round((cost or 0.0) + result.cost_usd, 6)
    return answer.model_copy(update={
        "log_path": str(result.log_path), "attempts": attempt, "cost_usd": cost,
        "tokens_in": answer.tokens_in + result.tokens_in,
        "tokens_out": answer.tokens_out + result.tokens_out,
        "turns": answer.turns + (result.requests or 0),
    })
