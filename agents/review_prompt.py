"""What a reviewer agent reads and what it must answer: the review prompt and the verdict parser.

The answer format (stated in the prompt): one section per reviewed task, headed by a markdown
heading naming the task id, holding exactly one verdict line; the section's other lines are the
reasons::

    ### Task 2.3
    VERDICT: REJECTED
    - sentence_stats() crashes on an empty string

Headings may carry the title after a colon (``## Task 2.3: sentence statistics``); bold or
backticks around the heading or the verdict are ignored, case too. Any text before the first
task heading is ignored. An answer is malformed (``MalformedVerdict``) when a reviewed task has
no section, a section names a task that was not reviewed or comes twice, or a section holds no
verdict line or more than one.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel

from planning.models import PlanTask

MAX_DIFF_CHARS = 20_000
"""How many characters of one task's diff go into the review prompt; the rest is cut."""

_HEADING = re.compile(r"^#{1,6}\s*task\s+(?P<id>[^\s:]+?)\s*(?::.*)?$", re.IGNORECASE)
_VERDICT = re.compile(r"verdict\s*:\s*(?P<word>approved|rejected)\b", re.IGNORECASE)


class MalformedVerdict(ValueError):
    """A reviewer's answer does not follow the verdict format; the message says what is wrong."""


class ReviewItem(BaseModel):
    """One task under review: the plan ``task``, its ``branch``, ``parent`` (the commit its
    changes sit on in the stack), ``tip`` (its stacked commit), and ``history``, the earlier
    review comments on it in this loop, oldest first."""

    task: PlanTask
    branch: str
    parent: str
    tip: str
    history: list[str] = []


class Verdict(BaseModel):
    """One reviewer's judgement of one task: ``approved``, and ``comments`` (the reasons)."""

    task_id: str
    approved: bool
    comments: str = ""


def build_review_prompt(items: list[ReviewItem], diffs: list[str], plan_name: str,
                        plan_path: Path | None, spec: str | None, retry_error: str | None = None) -> str:
    """The reviewer agent's prompt in markdown.

    Args:
        items: the tasks to judge, in stack order.
        diffs: each item's unified diff from ``parent`` to ``tip`` (cut at ``MAX_DIFF_CHARS``).
        plan_name, plan_path, spec: the plan's name, file and spec path (None when unknown).
        retry_error: why the previous answer could not be read, for the one retry; else None.

    Returns:
        The role, the context paths, per task its description, acceptance criteria, earlier
        comments and diff, then the exact answer format.
    """
    sections = [f"# Review of {len(items)} task(s) of the plan **{plan_name}**",
                "You are the reviewer. Judge whether each task's changes below implement the"
                " task as the plan describes it (and the spec, when one is named). Do not change"
                " any file; the working directory holds the stack with every task applied."]
    context = [f"- Plan: `{plan_path}`"] if plan_path else []
    context += [f"- Spec: `{spec}`"] if spec else []
    if context:
        sections.append("## Context\n\n" + "\n".join(context))
    for item, diff in zip(items, diffs):
        sections.append(_task_section(item, diff))
    sections.append(answer_format([item.task.id for item in items]))
    if retry_error:
        sections.append(f"## Your previous answer could not be read\n\n{retry_error}\n\n"
                        "Answer again, following the format exactly.")
    return "\n\n".join(sections) + "\n"


def answer_format(task_ids: list[str]) -> str:
    """The answer-format section of the review prompt for ``task_ids``."""
    example = task_ids[0]
    return (
        "## How to answer\n\n"
        f"For each task ({', '.join(task_ids)}), write a section headed `### Task <id>`, then"
        " exactly one line `VERDICT: APPROVED` or `VERDICT: REJECTED`, then your reasons (for a"
        " rejection: what must change). Every task gets exactly one section. Example:\n\n"
        f"```\n### Task {example}\nVERDICT: REJECTED\n- the empty input case is not handled\n```"
    )


def parse_verdicts(answer: str, task_ids: list[str]) -> dict[str, Verdict]:
    """Read one verdict per task of ``task_ids`` from a reviewer's ``answer`` (format above).

    Returns task id -> ``Verdict``. Raises ``MalformedVerdict`` naming every problem found.
    """
    sections: dict[str, list[str]] = {}
    problems: list[str] = []
    current: list[str] | None = None
    for line in answer.splitlines():
        plain = line.replace("*", "").replace("`", "").strip()
        heading = _HEADING.match(plain)
        if heading:
            task_id = heading["id"]
            if task_id not in task_ids:
                problems.append(f"section `{plain}` names no reviewed task ({', '.join(task_ids)})")
                current = None
            elif task_id in sections:
                problems.append(f"task {task_id} has two sections")
                current = None
            else:
                current = sections[task_id] = []
        elif current is not None:
            current.append(line.rstrip())
    verdicts = {}
    for task_id in task_ids:
        if task_id not in sections:
            problems.append(f"task {task_id} has no `### Task {task_id}` section")
            continue
        lines = sections[task_id]
        found = [(index, _VERDICT.search(line.replace("*", "").replace("`", "")))
                 for index, line in enumerate(lines)]
        found = [(index, match) for index, match in found if match]
        if len(found) != 1:
            problems.append(f"task {task_id} has {len(found)} VERDICT lines; it needs exactly one")
            continue
        index, match = found[0]
        reasons = "\n".join(line for i, line in enumerate(lines) if i != index).strip()
        verdicts[task_id] = Verdict(task_id=task_id, approved=match["word"].lower() == "approved",
                                    comments=reasons)
    if problems:
        raise MalformedVerdict("; ".join(problems))
    return verdicts


def _task_section(item: ReviewItem, diff: str) -> str:
    task = item.task
    lines = [f"## Task {task.id}: {task.title}", "",
             f"Branch `{item.branch}`, commits `{item.parent[:10]}..{item.tip[:10]}`."]
    if task.body.strip():
        lines += ["", task.body.strip()]
    if task.acceptance_criteria:
        lines += ["", "Acceptance criteria:"] + [f"- {c}" for c in task.acceptance_criteria]
    if item.history:
        lines += ["", "Earlier review comments (the fixer was asked to address them):"]
        lines += [f"- {comment.strip()}" for comment in item.history]
    if len(diff) > MAX_DIFF_CHARS:
        cut = len(diff) - MAX_DIFF_CHARS
        diff = diff[:MAX_DIFF_CHARS] + (f"\n[diff cut: {cut} more characters; run"
                                        f" `git diff {item.parent[:10]} {item.tip[:10]}`]")
    lines += ["", "```diff", diff or "(no changes)", "```"]
    return "\n".join(lines)
