"""The markdown prompt handed to a resolver agent for a stacking conflict."""

from __future__ import annotations

from planning.models import PlanTask

SIDE_MAX_CHARS = 4000
"""Each side of a conflicting file is shown up to this many characters (its end is cut)."""


def build_conflict_prompt(task: PlanTask, other: PlanTask | None, plan_name: str,
                          sides: dict[str, tuple[str, str]]) -> str:
    """The resolver's prompt in markdown.

    Args:
        task: the task whose commits were being applied when stacking conflicted.
        other: the earlier task of the stack whose changes touch the same files; None when the
            conflict is with the base.
        plan_name: the plan's name, for context.
        sides: conflicting path -> (ours: the stack so far, theirs: ``task``'s version).

    Returns:
        Markdown: what happened, both tasks' descriptions, each file's two sides, the quality
        gates both tasks must pass, and the working rules.
    """
    against = f"task {other.id} ({other.title})" if other else "the base"
    sections = [
        f"# Resolve a stacking conflict: task {task.id} against {against}",
        f"Part of the plan **{plan_name}**. Two tasks were done in parallel on their own branches."
        f" Applying task {task.id}'s changes on top of {against} conflicted. The files below"
        " hold git's conflict markers in this directory. Edit them so that the result keeps the"
        " intent of both tasks, and remove every conflict marker.",
    ]
    for label, described in (("The earlier task", other), ("The task being applied", task)):
        if described is not None:
            sections.append(_describe(label, described))
    for path, (ours, theirs) in sides.items():
        sections.append(
            f"## `{path}`\n\nEarlier side (the stack so far):\n```\n{_cut(ours)}\n```\n\n"
            f"Side of task {task.id}:\n```\n{_cut(theirs)}\n```"
        )
    gates = [gate for t in (other, task) if t is not None for gate in t.quality_gates]
    if gates:
        sections.append("## Quality gates the result must pass\n\n"
                        + "\n\n".join(f"```bash\n{gate.strip()}\n```" for gate in gates))
    sections.append(
        "## Rules\n\n"
        "- Work only in this directory (the current working directory).\n"
        "- Edit only the conflicting files unless a gate needs more.\n"
        "- Do not commit, run `git cherry-pick`, push or create branches: planflow does that."
    )
    return "\n\n".join(sections) + "\n"


def _describe(label: str, task: PlanTask) -> str:
    lines = [f"## {label}: {task.id} {task.title}"]
    if task.body.strip():
        lines.append(task.body.strip())
    if task.files:
        lines.append("Files: " + ", ".join(f"`{path}`" for path in task.files))
    if task.acceptance_criteria:
        lines.append("\n".join(f"- [ ] {criterion}" for criterion in task.acceptance_criteria))
    return "\n\n".join(lines)


def _cut(text: str) -> str:
    return text if len(text) <= SIDE_MAX_CHARS else text[:SIDE_MAX_CHARS] + "\n… (cut)"
