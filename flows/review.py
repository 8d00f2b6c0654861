"""The review loop of a phase (or of the whole run): review, fix the rejected tasks, review again.

``review_stack`` is the entry point ``execute_plan`` calls with a stacked phase. Each round is
its own subflow run ``review-{scope}-round-{k}`` (``review-phase-2-round-1``): the reviewer
(``agent``, ``command`` or ``human``) gives one verdict per task; when a task is rejected and
rounds remain, the fixer (the task's own agent, through ``run_plan_task``) re-works that task's
branch from its stacked tip with every comment of this loop so far, oldest first, and the tasks
are restacked on the phase base. The loop stops at the first round that approves every task,
after ``max_review_rounds`` rounds (the open comments become the run's output), or when a round
fails (the reviewer gave no verdict, a fix failed, restacking conflicted), or when the run's
cost passed its budget (no reviewer or fixer is started then). With ``escalate_to_human``, a
last round by a person decides instead of stopping.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import BaseModel, Field

from agents.base import AgentConfigError
from agents.review_prompt import ReviewItem, Verdict
from flows.context import ExecuteParams, RunContext
from flows.human_review import human_review
from flows.phase import collect_spec, over_budget, plan_task_runner, submit_spec
from flows.report import publish_markdown
from flows.stacking import stack_outcomes
from gitops.errors import StackConflict
from gitops.names import branch_name
from gitops.repo import Repository, open_repository
from planning.models import PlanTask
from planning.status import TaskState, open_store
from tasks.plan_task import TaskOutcome
from tasks.review import ReviewFailed, ReviewJob, agent_review, command_review
from tasks.run_log import run_logger


class ReviewOutcome(BaseModel):
    """The end of a review loop: ``approved`` when every task passed; ``tip`` the stack tip
    after the fixes; ``output`` why the loop stopped (empty when approved); ``open_comments``
    the last comments of each still-rejected task; ``stopped`` when the run's cost passed its
    budget before a reviewer or fixer was started."""

    approved: bool
    tip: str
    stopped: bool = False
    output: str = ""
    open_comments: dict[str, str] = Field(default_factory=dict)


class RoundInput(BaseModel):
    """One review round: ``scope`` (``phase-2``, ``end``) and ``label`` (``Phase 2``) of what is
    reviewed, the round ``number`` (1-based), the reviewer ``kind``, the ``base`` the stack sits
    on, ``tasks`` in stack order, ``history`` (earlier comments by task id, oldest first) and
    ``fix`` (whether rejected tasks are fixed in this round)."""

    scope: str
    label: str
    number: int
    kind: str
    base: str
    tasks: list[PlanTask]
    history: dict[str, list[str]] = Field(default_factory=dict)
    fix: bool = True


class RoundResult(BaseModel):
    """A finished round: ``tip`` of the stack (after fixes), ``rejected`` comments by task id,
    ``error`` when the round failed, ``stopped`` when the budget kept it from starting its
    reviewer or its fixes."""

    tip: str
    rejected: dict[str, str] = Field(default_factory=dict)
    error: str | None = None
    stopped: bool = False


def review_enabled(params: ExecuteParams, frequency: str) -> bool:
    """True when the run has a reviewer and reviews at ``frequency`` (``phase`` or ``end``)."""
    return params.reviewer != "none" and params.review_frequency == frequency


def review_stack(ctx: RunContext, tasks: list[PlanTask], scope: str, label: str, base: str,
                 tip: str, branches: list[str]) -> ReviewOutcome:
    """Review the stacked ``branches`` (those of ``tasks``; others are ignored) on ``base`` until
    approved, at most ``max_review_rounds`` rounds (plus one human round with escalation).

    Args:
        tasks: the plan tasks the branches belong to.
        scope: ``phase-N`` or ``end``, used in the round subflows' names.
        label: ``Phase N`` or ``End of run``, used in the status.
        base: the commit the first branch sits on. tip: the stack tip.
        branches: the stacked branches, in stack order.

    Returns a ``ReviewOutcome``; when not approved, the still-rejected tasks are ``failed`` in
    the run's status with their open comments as the error; ``stopped`` when the run's cost
    passed its budget (``--budget-usd``) before a round's reviewer or fixes. Raises ``GitError``.
    """
    by_branch = {branch_name(ctx.run_id, task): task for task in tasks}
    stacked = [by_branch[branch] for branch in branches if branch in by_branch]
    params = ctx.params
    kinds = [params.reviewer] * params.max_review_rounds
    if params.escalate_to_human and params.reviewer != "human":
        kinds.append("human")
    if not stacked:
        return ReviewOutcome(approved=True, tip=tip)
    history: dict[str, list[str]] = {}
    result = RoundResult(tip=tip)
    for number, kind in enumerate(kinds, start=1):
        job = RoundInput(scope=scope, label=label, number=number, kind=kind, base=base,
                         tasks=stacked, history=history, fix=number < params.max_review_rounds)
        subflow = review_round.with_options(
            flow_run_name=f"review-{scope}-round-{number}",
            task_runner=ThreadPoolTaskRunner(max_workers=params.max_parallel),
        )
        result = subflow(ctx, job)
        if result.stopped:
            return ReviewOutcome(approved=False, stopped=True, tip=result.tip)
        if result.error:
            return ReviewOutcome(approved=False, tip=result.tip,
                                 output=f"{label}: review round {number} failed: {result.error}")
        if not result.rejected:
            return ReviewOutcome(approved=True, tip=result.tip)
        for task_id, comments in result.rejected.items():
            history.setdefault(task_id, []).append(_comment(number, kind, comments))
    return _rejected(ctx, label, len(kinds), result)


@flow(name="review-round")
def review_round(ctx: RunContext, job: RoundInput) -> RoundResult:
    """One review round (a subflow run named ``review-{scope}-round-{k}``): the verdicts, then,
    with ``job.fix``, the fixes of the rejected tasks and the restack.

    Returns a ``RoundResult``; a reviewer without a verdict, a failed fix or a restack conflict
    is its ``error`` (the failed fix is also ``failed`` in the run's status); it is ``stopped``
    when the run's cost passed its budget before the reviewer or the fixes. Raises ``GitError``.
    """
    repo = open_repository(ctx.repo)
    store = open_store(ctx.status_path)
    items = _items(repo, ctx, job)
    tip = items[-1].tip
    if over_budget(store, ctx.params.budget_usd):
        return RoundResult(tip=tip, stopped=True)
    title = f"{job.label}, review round {job.number}"
    store.update(output=f"{title}: the {job.kind} reviewer judges {', '.join(t.id for t in job.tasks)}")
    try:
        verdicts, usage = _verdicts(ctx, job, items, tip, title)
    except (ReviewFailed, AgentConfigError) as exc:
        run_logger().error(f"{title}: no verdict: {exc}")
        return RoundResult(tip=tip, error=str(exc))
    _publish(ctx, job, verdicts, usage)
    for task_id, verdict in verdicts.items():
        comments = f": {verdict.comments.strip()}" if verdict.comments.strip() else ""
        log = run_logger().info if verdict.approved else run_logger().warning
        log(f"{title}: task {task_id} {'approved' if verdict.approved else 'rejected'}{comments}")
    rejected = {task_id: verdict.comments or "rejected without reasons"
                for task_id, verdict in verdicts.items() if not verdict.approved}
    if not rejected or not job.fix:
        return RoundResult(tip=tip, rejected=rejected)
    if over_budget(store, ctx.params.budget_usd):
        return RoundResult(tip=tip, rejected=rejected, stopped=True)
    store.update(output=f"{title}: fixing task(s) {', '.join(rejected)}")
    return _fix(ctx, job, items, rejected)


def _verdicts(ctx: RunContext, job: RoundInput, items: list[ReviewItem], tip: str,
              title: str) -> tuple[dict[str, Verdict], str]:
    """The round's verdicts from its reviewer kind, and a line on the reviewer's usage and log;
    ``ReviewFailed`` when there are none."""
    params = ctx.params
    if job.kind == "human":
        store = open_store(ctx.status_path)
        record = ctx.status_path.parent / "reviews" / f"{job.scope}-round-{job.number}.human.json"
        verdicts = human_review(items, title, params.human_review_timeout_s, store, record)
        return verdicts, f"answered by a person; kept in {record}"
    review = ReviewJob(
        run_id=ctx.run_id, repo=ctx.repo, scope=job.scope, round=job.number,
        plan_name=ctx.plan_name, plan_path=ctx.plan_path, spec_path=ctx.spec_path, tip=tip,
        items=items, agent=params.agent, agent_block=params.agent_block,
        reviewer_agent=params.reviewer_agent, command=params.review_command,
        timeout_s=params.timeout_s, status_path=ctx.status_path,
    )
    reviewer = agent_review if job.kind == "agent" else command_review
    answer = reviewer(review)
    cost = "no cost reported" if answer.cost_usd is None else f"${answer.cost_usd}"
    usage = (f"{answer.tokens_in} tokens in, {answer.tokens_out} out, {cost},"
             f" {answer.attempts} run(s); log: {answer.log_path}")
    return answer.verdicts, usage


def _fix(ctx: RunContext, job: RoundInput, items: list[ReviewItem],
         rejected: dict[str, str]) -> RoundResult:
    """Run the fixer on each rejected task (in parallel, the subflow's limit) and restack."""
    started = []
    for item in items:
        if item.task.id not in rejected:
            continue
        feedback = [*item.history, _comment(job.number, job.kind, rejected[item.task.id])]
        spec = ctx.task_spec(item.task, item.parent).model_copy(
            update={"start": item.tip, "feedback": feedback, "review_round": job.number})
        named = plan_task_runner(ctx, task_run_name=f"fix-{item.task.id}-round-{job.number}")
        started.append((spec, submit_spec(ctx, named, spec)))
    fixed = {spec.task.id: collect_spec(ctx, spec, future) for spec, future in started}
    failed = [task_id for task_id, outcome in fixed.items() if outcome is None]
    if failed:
        return RoundResult(tip=items[-1].tip, rejected=rejected,
                           error=f"the fix of task(s) {', '.join(failed)} failed (see their errors)")
    repo = open_repository(ctx.repo)
    outcomes = [fixed.get(item.task.id) or _unchanged(repo, ctx, item) for item in items]
    try:
        tips = stack_outcomes(ctx, job.base, outcomes)
    except StackConflict as conflict:
        open_store(ctx.status_path).update(conflict=conflict.report())
        return RoundResult(tip=items[-1].tip, rejected=rejected,
                           error=f"restacking after the fixes conflicted\n{conflict.report()}")
    return RoundResult(tip=tips[-1], rejected=rejected)


def _items(repo: Repository, ctx: RunContext, job: RoundInput) -> list[ReviewItem]:
    """The round's tasks with their branches' current tips, each on the previous one."""
    items, parent = [], repo.require_commit(job.base)
    for task in job.tasks:
        branch = branch_name(ctx.run_id, task)
        tip = repo.require_commit(f"refs/heads/{branch}")
        items.append(ReviewItem(task=task, branch=branch, parent=parent, tip=tip,
                                history=job.history.get(task.id, [])))
        parent = tip
    return items


def _unchanged(repo: Repository, ctx: RunContext, item: ReviewItem) -> TaskOutcome:
    """The outcome of a task the round did not fix, as it stands in the stack."""
    status = open_store(ctx.status_path).status.task(item.task.id)
    return TaskOutcome(task_id=item.task.id, branch=item.branch, base=item.parent, commit=item.tip,
                       files_changed=repo.changed_files(item.parent, item.tip),
                       duration_s=status.duration_s or 0.0, log_path=Path(status.log_path or ""))


def _comment(number: int, kind: str, comments: str) -> str:
    """One review comment as the fixer and later reviewers read it."""
    return f"Review round {number} ({kind} reviewer): {comments.strip()}"


def _rejected(ctx: RunContext, label: str, rounds: int, last: RoundResult) -> ReviewOutcome:
    """The loop ran out of rounds: mark the still-rejected tasks failed with their comments."""
    store = open_store(ctx.status_path)
    lines = [f"{label}: review rejected task(s) {', '.join(last.rejected)} after {rounds} rounds;"
             " their branches are kept; open comments:"]
    for task_id, comments in last.rejected.items():
        lines.append(f"- task {task_id}: {comments}")
        store.update_task(task_id, state=TaskState.failed,
                          error=f"review rejected it after {rounds} rounds: {comments}")
    return ReviewOutcome(approved=False, tip=last.tip, output="\n".join(lines),
                         open_comments=last.rejected)


def _publish(ctx: RunContext, job: RoundInput, verdicts: dict[str, Verdict], usage: str) -> None:
    """A markdown artifact ``planflow-{run_id}-review-{scope}-round-{k}``: the verdicts, and
    the reviewer's ``usage`` line."""
    lines = [f"# {job.label}, review round {job.number} ({job.kind} reviewer)", "",
             "| task | verdict | comments |", "|---|---|---|"]
    for task_id, verdict in verdicts.items():
        comments = " ".join(verdict.comments.split()) or "-"
        lines.append(f"| {task_id} | {'approved' if verdict.approved else 'rejected'} | {comments} |")
    lines += ["", f"Reviewer: {usage}"]
    publish_markdown("\n".join(lines), key=f"planflow-{ctx.run_id}-review-{job.scope}-round-{job.number}",
                     description=f"Review verdicts, {job.label} round {job.number}")
