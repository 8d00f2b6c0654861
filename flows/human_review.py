"""The human reviewer: the review round's flow run pauses with a typed form a person answers.

``human_review`` builds a ``RunInput`` form with one field per task (``task_2_3``: verdict
``approve`` or ``reject``, and comments), pauses the current flow run with Prefect's
``pause_flow_run(wait_for_input=...)`` and turns the answer into verdicts. The Prefect UI's
Resume dialog renders the form; from code, ``resume_flow_run(flow_run_id, run_input={"task_2_3":
{"verdict": "reject", "comments": "..."}})`` does the same. While it waits, the run's status
names the flow run to resume. The answer is kept in a record file with what was reviewed (the
commits and earlier comments), so a resumed run replays it instead of asking again.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Literal

from prefect.context import FlowRunContext
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from pydantic import BaseModel, Field, create_model

from agents.review_prompt import ReviewItem, Verdict
from planning.disk import write_text
from planning.status import StatusStore
from tasks.review import ReviewFailed

POLL_INTERVAL_S = 2
"""How often a paused review checks whether it was answered, seconds."""


class TaskDecision(BaseModel):
    """A person's decision on one task."""

    verdict: Literal["approve", "reject"] = Field("approve", description="approve, or reject to send the task to the fixer")
    comments: str = Field("", description="What must change (given to the fixer with a rejection)")


def form_field(task_id: str) -> str:
    """The form field of task ``task_id``: ``task_`` + the id with non-word characters as ``_``
    (``2.3`` -> ``task_2_3``)."""
    return "task_" + re.sub(r"\W", "_", task_id)


def review_form(items: list[ReviewItem]) -> type[RunInput]:
    """A ``RunInput`` subclass with one ``TaskDecision`` field per item (titled with the task's
    id and title), every task approved by default."""
    fields = {
        form_field(item.task.id): (TaskDecision, Field(default_factory=TaskDecision,
                                                       title=f"Task {item.task.id}: {item.task.title}"))
        for item in items
    }
    return create_model("ReviewDecision", __base__=RunInput, **fields)


def human_review(items: list[ReviewItem], title: str, timeout_s: float,
                 store: StatusStore, record: Path) -> dict[str, Verdict]:
    """Pause the current flow run until a person answers the review form of ``items``.

    Args:
        items: the tasks to judge, in stack order (with earlier comments in ``history``).
        title: what is reviewed (``Phase 2, review round 1``), shown on the form.
        timeout_s: seconds to wait for the answer.
        store: the run's status; its ``output`` names the paused flow run while it waits.
        record: a JSON file keeping the answer; when it holds an answer to the same ``items``
            (same commits, same earlier comments), that answer is returned without pausing.

    Returns task id -> ``Verdict``. Raises ``ReviewFailed`` when nobody answers in time.
    """
    key = _items_key(items)
    kept = _kept_answer(record, key)
    if kept is not None:
        return kept
    flow_run = FlowRunContext.get().flow_run
    store.update(output=f"{title}: waiting for a human review: resume flow run {flow_run.name}"
                        f" ({flow_run.id}) in the Prefect UI within {timeout_s:g} s")
    form = review_form(items).with_initial_data(description=_description(items, title))
    try:
        answer = pause_flow_run(wait_for_input=form, timeout=max(1, round(timeout_s)),
                                poll_interval=POLL_INTERVAL_S, key=flow_run.name)
    except FlowPauseTimeout:
        raise ReviewFailed(f"no human review within {timeout_s:g} s (flow run {flow_run.name})") from None
    verdicts = {}
    for item in items:
        decision: TaskDecision = getattr(answer, form_field(item.task.id))
        comments = decision.comments.strip()
        if decision.verdict == "reject" and not comments:
            comments = "rejected by the human reviewer without comments"
        verdicts[item.task.id] = Verdict(task_id=item.task.id, approved=decision.verdict == "approve",
                                         comments=comments)
    write_text(record, json.dumps({"key": key, "verdicts": {task_id: verdict.model_dump(mode="json")
                                                           for task_id, verdict in verdicts.items()}}))
    return verdicts


def _kept_answer(record: Path, key: str) -> dict[str, Verdict] | None:
    """The verdicts ``record`` keeps for ``key``; None when it has none (missing, unreadable, or
    another key)."""
    try:
        kept = json.loads(record.read_text())
        if kept["key"] == key:
            return {task_id: Verdict.model_validate(v) for task_id, v in kept["verdicts"].items()}
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def _items_key(items: list[ReviewItem]) -> str:
    """A hash of what a person judged: each task, its commits and its earlier comments."""
    parts = [item.model_dump(mode="json", exclude={"task": {"line"}}) for item in items]
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _description(items: list[ReviewItem], title: str) -> str:
    lines = [f"**{title}**: approve or reject each task; a rejected task goes back to its agent"
             " with your comments.", ""]
    for item in items:
        lines.append(f"- Task {item.task.id} ({item.task.title}): branch `{item.branch}`,"
                     f" `git diff {item.parent[:10]} {item.tip[:10]}`")
        lines += [f"  - earlier comment: {comment}" for comment in item.history]
    return "\n".join(lines)
