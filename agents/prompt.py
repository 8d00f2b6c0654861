"""The markdown prompt handed to a coding agent for one plan task."""

from __future__ import annotations

from pathlib import Path

from planning.models import PlanTask


def build_prompt(task: PlanTask, plan_name: str, plan_path: Path | None, spec: str | None) -> str:
    """The task prompt in markdown.

    Args:
        task: the task to implement.
        plan_name: the plan's name, for context.
        plan_path: the plan file, named so the agent can read the whole plan; None if unknown.
        spec: a spec path the plan names, or None.

    Returns:
        Markdown with the task id and title, the body, the files to create or modify, the
        acceptance criteria as a checklist, the context paths, and the working rules.
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
    sections.append(
        "## Rules\n\n"
        "- Work only in this directory (the current working directory).\n"
        "- Do not commit, push or create branches: planflow commits your changes."
    )
    return "\n\n".join(sections) + "\n"
