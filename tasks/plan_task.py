"""``run_plan_task``: one plan task as a retried, cached Prefect task.

worktree from base -> agent -> commit on the task branch -> quality gates -> remove worktree.

The agent's work is committed before the gates run, so a failed gate loses nothing: the
commit stays on the task branch and the worktree stays for inspection. The next attempt
salvages both (``Repository.prepare_worktree``) and starts again from the base.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from prefect import task
from prefect.context import TaskRunContext
from pydantic import BaseModel, Field

from agents.base import AgentRequest, run_agent
from agents.failures import Failure
from agents.prompt import build_prompt
from gitops.names import branch_name, worktree_path
from gitops.repo import Repository, open_repository
from planning.handoff import ContextRecord, parse_notes
from planning.disk import DiskFull, free_bytes, min_free_bytes
from planning.models import PlanTask
from planning.redaction import scrub
from planning.scope import files_outside
from planning.status import TaskState, open_store
from planning.worktree_config import WorktreeConfig
from tasks.agent_setup import resolve_agent
from tasks.audit import AgentAudit
from tasks.defaults import DEFAULT_RETRIES, WorkKeyPolicy, result_serializer, result_storage, work_key
from tasks.errors import AgentFailed, BudgetReached, GateFailed, NoChanges, TaskRunError
from tasks.gates import GateFeedback, run_gates
from tasks.landed import land, landed
from tasks.limits import agent_slot
from tasks.run_log import log_tail, run_logger
from tasks.worktree_setup import ready_worktree


class TaskSpec(BaseModel):
    """Everything one plan-task run needs.

    ``repo``: the repository path; ``base``: the commit sha the task starts from; ``agent`` and
    ``agent_command``: the agent name and the shell agent's fallback command (another CLI's
    executable); ``agent_block``: a saved ``AgentConfig`` block used instead of ``agent``;
    ``timeout_s``: the agent's (unless its configuration sets one) and each gate's limit in
    seconds; ``run_gates``: run the task's quality gates; ``status_path``: the run's status
    file, where the task marks itself running and records its usage; ``budget_usd``: the task
    does not start once the run's reported cost passes this many USD; ``handoff``: the merged
    context of earlier phases for the prompt (markdown, bounded; part of the cache key);
    ``phase``: the number of the task's phase (for its context record).

    A fix after a review round (``flows.review``) sets ``start``, the commit the worktree
    starts from (the task's stacked tip; default: ``base``, which stays the commit the task's
    changes are measured against), ``feedback`` (every review comment of the loop so far, oldest
    first) and ``review_round`` (1-based; 0 for the task's first run).

    ``worktree``: what the worktree gets before the agent starts (copied files, shared folders,
    a setup command; ``tasks.worktree_setup``); not part of the cache key, since it prepares
    the work without defining it.
    """

    run_id: str
    repo: Path
    plan_name: str
    plan_path: Path | None = None
    spec_path: str | None = None
    task: PlanTask
    base: str
    agent: str = "shell"
    agent_command: str | None = None
    timeout_s: float = 1800.0
    run_gates: bool = True
    status_path: Path | None = None
    agent_block: str | None = None
    budget_usd: float | None = None
    handoff: str | None = None
    phase: int = 0
    start: str | None = None
    feedback: list[str] = Field(default_factory=list)
    review_round: int = 0
    worktree: WorktreeConfig | None = None

    def cache_parts(self) -> dict[str, Any]:
        """What defines the work (the cache key): the task's content, its base commit, the
        agent configuration and the run id, and for a fix its start commit, round and review
        feedback; not paths or line numbers."""
        parts = {
            "run_id": self.run_id,
            "task": self.task.model_dump(mode="json", exclude={"line"}),
            "base": self.base,
            "agent": [self.task.agent or self.agent_block or self.agent, self.agent_command],
            "gates": self.run_gates,
        }
        if self.handoff:
            parts["handoff"] = self.handoff
        if self.review_round:
            parts["review"] = {"round": self.review_round, "start": self.start,
                               "feedback": self.feedback}
        return parts


class TaskOutcome(BaseModel):
    """A finished task: ``commit`` on ``branch`` (before stacking), ``files_changed`` relative to
    ``base``, ``duration_s`` in seconds, the agent's ``log_path`` and final ``message``;
    ``outside_files``: changed files the task's declared files do not cover (a warning);
    ``agent_warnings``: what the agent did wrong and planflow repaired (``tasks.audit``);
    ``context``: the task's context record for later phases; ``recovered``: taken from the
    record of work that landed (``tasks.landed``) without calling an agent; ``worker`` the Prefect
    worker that ran a dispatched task and ``cached`` when that worker found it in the cache
    (``flows.remote``; None and False for a task run in the parent's process)."""

    task_id: str
    branch: str
    base: str
    commit: str
    files_changed: list[str]
    duration_s: float
    log_path: Path
    message: str = ""
    attempts: int = 1
    outside_files: list[str] = Field(default_factory=list)
    agent_warnings: list[str] = Field(default_factory=list)
    context: ContextRecord | None = None
    recovered: bool = False
    worker: str | None = None
    cached: bool = False

    @property
    def warnings(self) -> list[str]:
        """Human-readable warnings about this result (empty when none)."""
        warnings = [f"the agent {what}" for what in self.agent_warnings]
        if not self.outside_files:
            return warnings
        return warnings + ["changed files outside the task's declared files: "
                           + ", ".join(self.outside_files)]


FULL_BELOW_BYTES = 1_000_000
"""An agent that fails while its worktree's disk has less free than this failed for lack of
space (``DiskFull``), whatever it printed."""


def should_retry(task_obj: Any, task_run: Any, state: Any) -> bool:
    """Prefect ``retry_condition_fn``: retry agent crashes, timeouts and failed gates, not
    plan or configuration errors."""
    try:
        state.result()
    except Exception as exc:  # the task's own exception, re-raised by Prefect
        return bool(getattr(exc, "retryable", False))
    return False


def _attempt() -> int:
    context = TaskRunContext.get()
    return context.task_run.run_count if context else 1


def _cache_key(spec: TaskSpec) -> str:
    """The task run's cache key (``WorkKeyPolicy``'s), also outside a task run (``.fn``)."""
    context = TaskRunContext.get()
    return work_key(context.task.name if context else "run-plan-task", spec.cache_parts())


@task(
    name="run-plan-task",
    task_run_name="{spec.task.id} {spec.task.slug}",
    cache_policy=WorkKeyPolicy(param="spec"),
    persist_result=True,
    result_storage=result_storage(),
    result_serializer=result_serializer(),
    retries=DEFAULT_RETRIES,
    retry_condition_fn=should_retry,
)
def run_plan_task(spec: TaskSpec) -> TaskOutcome:
    """Run one plan task in its own worktree and commit the result on its branch.

    Work that landed under the same cache key (keep ref and record, ``tasks.landed``: a run
    killed before Prefect persisted the result) is returned as it was recorded, without
    calling an agent.

    Logs (Prefect's run logger) the attempt, a salvaged earlier attempt, the outcome and its
    warnings, or the failure with the last lines of the agent's log.

    Returns a ``TaskOutcome``. Raises ``DiskFull`` when the agent failed on a full disk,
    ``SetupFailed`` when the worktree could not be made ready, ``AgentFailed``, ``GateFailed``,
    ``NoChanges`` or
    ``AgentMisbehaved`` (``tasks.audit``; worktree and branch kept), ``AgentConfigError`` when the agent cannot be built, ``BudgetReached``
    when the run's cost passed its budget before the start, ``GitError`` when git fails.
    """
    logger = run_logger()
    try:
        outcome = _run_plan_task(spec, logger)
    except TaskRunError as error:
        tail = "" if error.output.strip() else log_tail(error.log_path)
        logger.error(f"task {spec.task.id}: attempt {_attempt()} failed: {error}"
                     + (f"\n--- last lines of the agent's log ---\n{tail}" if tail else ""))
        raise
    except BudgetReached as stop:
        logger.warning(str(stop))
        raise
    for warning in outcome.warnings:
        logger.warning(f"task {spec.task.id}: {warning}")
    how = "recovered from its landed record" if outcome.recovered else f"attempt {outcome.attempts}"
    logger.info(f"task {spec.task.id} done ({how}): commit {outcome.commit[:10]} on branch"
                f" {outcome.branch}, {len(outcome.files_changed)} file(s) changed,"
                f" {outcome.duration_s:g} s")
    return outcome


def _run_plan_task(spec: TaskSpec, logger: Any) -> TaskOutcome:
    """``run_plan_task``'s work (see there), logging the start and salvage to ``logger``."""
    started = time.monotonic()
    plan_task = spec.task
    repo = open_repository(spec.repo)
    branch = branch_name(spec.run_id, plan_task)
    worktree = worktree_path(repo.root, spec.run_id, plan_task.ref_id)
    key = _cache_key(spec)
    done = landed(repo, spec.run_id, plan_task.ref_id, key, TaskOutcome.model_validate_json)
    if done is not None:
        return done.model_copy(update={"recovered": True})
    logs = repo.state_dir / "runs" / spec.run_id / "logs"
    attempt = _attempt()
    store = open_store(spec.status_path) if spec.status_path else None
    if store and spec.budget_usd is not None and store.status.cost_usd() > spec.budget_usd:
        raise BudgetReached(f"task {plan_task.id} not started: the run's reported cost"
                            f" ${store.status.cost_usd():.4f} passed the budget ${spec.budget_usd}")
    if store:
        store.update_task(plan_task.id, state=TaskState.running)
    stem = f"task-{plan_task.ref_id}" + (f".fix-{spec.review_round}" if spec.review_round else "")
    log_path = logs / f"{stem}.attempt-{attempt}.log"
    start = spec.start or spec.base
    gate_feedback = GateFeedback(logs / f"{stem}.gate-failure.md")
    gate_failure = gate_feedback.read(attempt)

    agent = resolve_agent(spec.agent, spec.agent_block, spec.agent_command, plan_task.agent)
    logger.info(f"task {plan_task.id} {plan_task.title!r}: attempt {attempt}, {agent.name} agent,"
                f" from {start[:10]} on branch {branch}")
    _log_salvage(logger, repo, worktree, branch, start)
    repo.prepare_worktree(worktree, branch, start)
    ready_worktree(spec.worktree, repo, worktree, branch, plan_task.id, log_path, spec.timeout_s, store)
    audit = AgentAudit(repo, plan_task.id, worktree, branch, start,
                       logs.parent / "oversized" / f"task-{plan_task.ref_id}",
                       logs.parent / "nested" / f"task-{plan_task.ref_id}")
    request = AgentRequest(
        run_id=spec.run_id,
        task=plan_task,
        prompt=build_prompt(plan_task, spec.plan_name, spec.plan_path, spec.spec_path,
                            handoff=spec.handoff, gate_failure=gate_failure,
                            feedback=spec.feedback),
        worktree=worktree,
        log_path=log_path,
        prompt_path=logs / f"{stem}.prompt.md",
        plan_path=spec.plan_path,
        timeout_s=agent.settings.timeout_s or spec.timeout_s,
        attempt=attempt,
        marker=audit.marker,
    )
    with agent_slot():
        result = run_agent(agent, request)
    review = audit.finish(log_path, result.leftovers)
    if store:
        store.add_usage(plan_task.id, attempt, result.tokens_in, result.tokens_out,
                        result.cost_usd, result.requests, result.tokens_cached)
    if result.status != "succeeded":
        if free_bytes(worktree) < FULL_BELOW_BYTES:
            raise DiskFull(worktree, min_free_bytes(), f"task {plan_task.id}'s agent ran (it failed)")
        failure = result.failure or Failure.error
        what = f"{agent.name} agent exited {result.exit_code} (failure: {failure.value})"
        if result.status == "timeout":
            what = f"{agent.name} agent timed out after {request.timeout_s:g} s (failure: timeout)"
        raise AgentFailed(plan_task.id, what, worktree, branch, log_path, result.message,
                          retryable=failure.retryable)

    message = f"[{spec.run_id}] task {plan_task.id}: {plan_task.title}"
    if spec.review_round:
        message += f" (review fix, round {spec.review_round})"
    commit = repo.commit_all(worktree, message) or review.agent_tip
    if commit is None and not plan_task.allow_empty:
        raise NoChanges(plan_task.id, "the agent changed no file", worktree, branch, log_path,
                        result.message)
    commit = commit or start
    gates = []
    if spec.run_gates:
        try:
            gates = run_gates(plan_task, worktree, branch, spec.timeout_s, logs / stem)
        except GateFailed as failed:
            gate_feedback.record(attempt, failed)
            raise
    files_changed = repo.changed_files(spec.base, commit)
    decisions, pending = parse_notes(result.message)
    context = ContextRecord(
        task_id=plan_task.id, phase=spec.phase, title=plan_task.title, files=files_changed,
        decisions=decisions, pending=pending, gates=gates,
        errors=[gate_failure.splitlines()[0]] if gate_failure else [],
        tokens_in=result.tokens_in, tokens_out=result.tokens_out,
    )
    outcome = scrub(TaskOutcome(
        task_id=plan_task.id,
        branch=branch,
        base=spec.base,
        commit=commit,
        files_changed=files_changed,
        duration_s=round(time.monotonic() - started, 3),
        log_path=log_path,
        message=result.message[-2000:],
        attempts=attempt,
        outside_files=files_outside(plan_task.files, files_changed),
        agent_warnings=review.warnings,
        context=context,
    ))
    land(repo, spec.run_id, plan_task.ref_id, key, outcome.model_dump_json(), commit)
    repo.remove_worktree(worktree)
    return outcome



def _log_salvage(logger: Any, repo: Repository, worktree: Path, branch: str, start: str) -> None:
    """Log what ``prepare_worktree`` is about to salvage: an earlier attempt's worktree and its
    branch's commits that ``start`` lacks (kept under ``refs/planflow/salvage/``)."""
    if worktree.exists():
        logger.warning(f"an earlier attempt's worktree {worktree} is salvaged and replaced")
    old = repo.resolve(f"refs/heads/{branch}")
    if old and old != start and not repo.contains(start, old):
        logger.warning(f"branch {branch} held commit {old[:10]} of an earlier attempt: salvaged"
                       " under refs/planflow/salvage/ before the branch is reset")
