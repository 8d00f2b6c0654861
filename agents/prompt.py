"""The markdown prompt handed to a coding agent for one plan task."""

from __future__ import annotations

from pathlib import Path

from planning.models import PlanTask


def build_prompt(task: PlanTask, plan_name: str, plan_path: Path | None, spec: str | None,
                 *, handoff: str | None = None, gate_failure: str | None = None,
                 feedback: list[str] | None = None) -> str:
    """The task prompt in markdown.

    Args:
        task: the task to implement.
        plan_name: the plan's name, for context.
        plan_path: the plan file, named so the agent can read the whole plan; None if unknown.
        spec: a spec path the plan names, or None.
        handoff: the merged context of earlier phases (markdown, already bounded), or None.
        gate_failure: the failed quality gate of the previous attempt (what, command, output
            tail), or None.
        feedback: review comments the agent must address (a fix after a review round),
            oldest first; None or empty for a first run.

    Returns:
        Markdown with the task id and title, the body, the files to create or modify, the
        acceptance criteria as a checklist, the context paths, then when given the earlier
        phases' context, the previous attempt's gate failure and the review comments, and the
        working rules (which ask for ``DECISION:``/``PENDING:`` lines in the final message).
    """
    sections = [f"# Task {task.id}: {task.title}", f"Part of the plan **{plan_name}**."]
    if task.body.strip():
        sections.append(task.body.strip())
    if task.files:
        sections.append(
            "## Files to create or modify\n\n" + "\n".join(f"- `{path}`" for path in task.files)
        )
    if task.acceptance_criteria:
        sections.append(
            "## Acceptance criteria\n\n"
            + "\n".join(f"- [ ] {criterion}" for criterion in task.acceptance_criteria)
        )
    context = []
    if plan_path is not None:
        context.append(f"- Plan: `{plan_path}`")
    if spec:
        context.append(f"- Spec: `{spec}`")
    if context:
        sections.append("## Context\n\n" + "\n".join(context))
    if handoff:
        sections.append(handoff.strip())
    if gate_failure:
        sections.append("## Quality gate failure of the previous attempt\n\n"
                        "Your previous attempt did not pass this quality gate; fix the cause.\n\n"
                        + gate_failure.strip())
    if feedback:
        sections.append("## Review comments to address\n\n"
                        + "\n\n".join(f"{n}. {text.strip()}" for n, text in enumerate(feedback, 1)))
    sections.append(
        "## Rules\n\n"
        "- Work only in this directory (the current working directory).\n"
        "- Do not commit, push or create branches: planflow commits your changes.\n"
        "- End your final message with one line `DECISION: <text>` per design decision later"
        " tasks should know and one line `PENDING: <text>` per action left for later tasks"
        " (none when there are none)."
    )
    return "\n\n".join(sections) + "\n"
