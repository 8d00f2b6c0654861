"""``record_context``: store finished tasks' context records with the run; ``publish_context``:
the merged context of every phase so far as files and a markdown artifact
(``planflow-{run_id}-context``), written when a phase's last task is recorded and at the end of
the run, not after every wave (it grows with the run); ``last_toucher``: which stacked task
last modified some files, from those records."""

from __future__ import annotations

import json

from flows.context import RunContext
from flows.report import publish_markdown
from gitops.repo import open_repository
from gitops.stack import own_commits
from planning.disk import write_text
from planning.handoff import load_records, merge_by_phase, render, save_record
from planning.status import TaskState, open_store
from tasks.plan_task import TaskOutcome


def record_context(ctx: RunContext, outcomes: list[TaskOutcome], tips: list[str],
                   overcome: dict[str, str] | None = None) -> None:
    """Save each outcome's context record, with its stacked commit from ``tips`` (same order)
    and the note ``overcome[task id]`` (e.g. a stacking conflict a resolver settled) added to
    its errors, under the run's ``context/`` folder; when one of their phases has no task
    pending or running any more, ``publish_context``. Outcomes without a record are
    skipped. Raises ``ValueError`` for a corrupt record file, ``OSError`` when the folder
    cannot be written."""
    overcome = overcome or {}
    phases = set()
    for outcome, tip in zip(outcomes, tips):
        if outcome.context is not None:
            errors = [*outcome.context.errors, *filter(None, [overcome.get(outcome.task_id)])]
            save_record(ctx.context_dir, outcome.context.model_copy(update={"commit": tip, "errors": errors}))
            phases.add(outcome.context.phase)
    if phases and _completes_phase(ctx, phases):
        publish_context(ctx)


def _completes_phase(ctx: RunContext, phases: set[int]) -> bool:
    """True when no task of one of ``phases`` is pending or running any more."""
    tasks = open_store(ctx.status_path).status.tasks
    return any(all(task.state not in (TaskState.pending, TaskState.running)
                   for task in tasks if task.phase == number) for number in phases)


def publish_context(ctx: RunContext) -> None:
    """Write the merged view of the run's context records (``merged.json``: one object per
    phase; ``context.md``) in its ``context/`` folder and publish it as the artifact
    ``planflow-{run_id}-context``. Raises ``ValueError`` for a corrupt record file, ``OSError``
    when the folder cannot be written."""
    phases = merge_by_phase(load_records(ctx.context_dir))
    markdown = render(phases, max_chars=None) or "No task has finished yet.\n"
    ctx.context_dir.mkdir(parents=True, exist_ok=True)
    write_text(ctx.context_dir / "merged.json",
               json.dumps([phase.model_dump(mode="json") for phase in phases], indent=2))
    write_text(ctx.context_dir / "context.md", markdown)
    publish_markdown(f"# Context of run {ctx.run_id}\n\n{markdown}", key=f"planflow-{ctx.run_id}-context",
                     description=f"Context records of run {ctx.run_id}, merged per phase")


def last_toucher(ctx: RunContext, tip: str, files: list[str]) -> str | None:
    """The id of the task of this run whose stacked commit (among those commit ``tip`` holds
    beyond the run's base) is the latest whose context record modified one of ``files``; None
    when no such task is stacked (e.g. the base itself changed them). Raises ``GitError``."""
    run_base = open_store(ctx.status_path).status.base
    if not run_base or tip == run_base:
        return None
    order = {c.sha: n for n, c in enumerate(own_commits(open_repository(ctx.repo), tip, [run_base]))}
    touching = [record for record in load_records(ctx.context_dir)
                if record.commit in order and set(record.files) & set(files)]
    return max(touching, key=lambda record: order[record.commit]).task_id if touching else None
