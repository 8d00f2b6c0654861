"""The rules an agent-written spec and plan must meet before planflow accepts them.

A spec (``specs/{run_id}-{slug}/spec.md``) needs the sections of ``SPEC_SECTIONS``; when the
repository has conventions files (``CLAUDE.md``, ``AGENTS.md``...), its architecture section
must name one. A plan (``plan.md`` next to the spec) must pass ``validate_plan`` with file
conflicts as errors, and every task must list explicit files (``plan_issues``). The accepted
plan gets the run id in its front matter and planflow's own execution summary
(``finish_plan``). Findings are plain sentences an agent can act on.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path

from planning.errors import Issue
from planning.markdown import scan_lines
from planning.models import Plan, slugify
from planning.schedule import build_schedule, summary_markdown
from planning.validate import validate_plan

SPEC_SECTIONS: dict[str, tuple[str, ...]] = {
    "Summary": ("summary", "overview"),
    "Requirements": ("requirements",),
    "Architecture": ("architecture",),
    "Test Plan": ("test plan", "testing"),
    "Out of Scope": ("out of scope", "non-goals"),
}
"""Each section a spec must have: its name and the heading words that count as it
(case-insensitive, any heading level below the title)."""

CONVENTION_FILES = (
    "CLAUDE.md", "AGENTS.md", "GEMINI.md", "CONTRIBUTING.md", "ARCHITECTURE.md", "STYLE.md",
    ".cursorrules", ".github/copilot-instructions.md", ".specify/memory/constitution.md",
    "docs/constitution.md",
)
"""Files where a repository writes down its own conventions, in the order a spec names them."""

_HEADING = re.compile(r"^(#{2,4})\s+(.+?)\s*#*\s*$")
_GLOB = re.compile(r"[*?\[\]{}]")
_SUMMARY = re.compile(r"^## Execution Summary\s*$.*?(?=^## |\Z)", re.M | re.S)
_RUN_FOLDER = re.compile(r"^([0-9a-f]{6})-(.+)$")
_FRONT = re.compile(r"\A---\n(.*?\n)---\n", re.S)


def new_run_id() -> str:
    """A fresh run id: 6 random hex characters."""
    return secrets.token_hex(3)


def spec_folder(run_id: str, request: str) -> str:
    """``specs/{run_id}-{slug}``, the slug from the request's first whole words (at most 30
    characters, unless the first word alone is longer)."""
    words = slugify(request, 200).split("-")
    slug = words[0]
    for word in words[1:]:
        if len(slug) + 1 + len(word) > 30:
            break
        slug += "-" + word
    return f"specs/{run_id}-{slug[:40]}"


def folder_run_id(path: str | Path) -> tuple[str | None, str]:
    """``(run id, feature slug)`` of a document in a ``specs/{run_id}-{slug}/`` folder;
    ``(None, folder name)`` when the folder is not named that way."""
    name = Path(path).parent.name
    match = _RUN_FOLDER.match(name)
    return (match.group(1), match.group(2)) if match else (None, name)


def conventions_in(root: Path) -> list[str]:
    """The ``CONVENTION_FILES`` that exist under directory ``root``, in that order."""
    return [name for name in CONVENTION_FILES if (root / name).is_file()]


def spec_findings(text: str, conventions: list[str]) -> list[str]:
    """What ``text`` (a spec's markdown) lacks: one sentence per missing section of
    ``SPEC_SECTIONS``, and one when ``conventions`` (repository-relative paths) is not empty
    and the architecture section names none of them. An empty list: the spec is accepted."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in scan_lines(text.splitlines(), 1):
        match = _HEADING.match(line.text) if line.kind == "text" else None
        if match:
            current = sections.setdefault(match.group(2).strip().lower(), [])
        elif current is not None:
            current.append(line.text)
    findings = []
    for name, words in SPEC_SECTIONS.items():
        if not any(word in heading for heading in sections for word in words):
            findings.append(f"the section `## {name}` is missing")
    architecture = "\n".join(
        "\n".join(body) for heading, body in sections.items() if "architecture" in heading)
    if conventions and architecture and not any(name in architecture for name in conventions):
        findings.append("the `## Architecture` section names none of the repository's conventions"
                        f" files ({', '.join(conventions)}); say which of their rules apply")
    return findings


def plan_issues(plan: Plan) -> list[Issue]:
    """The errors of an agent-written plan: ``validate_plan`` with file conflicts and
    requirement findings as errors, ``no-files`` and ``requirements-not-traced`` (the spec
    numbers requirements, no task cites one) as errors, and ``vague-file`` for a file that is
    not one explicit file (a glob or a folder; paths outside the repository are
    ``validate_plan``'s own errors). Warnings are left out. Never raises."""
    issues = [issue.model_copy(update={"severity": "error"})
              if issue.code in ("no-files", "requirements-not-traced") else issue
              for issue in validate_plan(plan, strict=True)]
    for task in plan.tasks():
        for path in task.files:
            if _GLOB.search(path) or path.endswith("/"):
                issues.append(Issue(
                    code="vague-file", message=f"task {task.id} lists {path!r}, not one explicit file",
                    file=plan.source, line=task.line,
                    fix="list each file the task creates or modifies, relative to the repository root"))
    return [issue for issue in issues if issue.severity == "error"]


def finish_plan(text: str, plan: Plan, run_id: str, feature: str, max_parallel: int) -> str:
    """``text`` (a valid plan's markdown) with ``runId: run_id`` and ``feature`` in its front
    matter (added, or replacing the agent's) and an ``## Execution Summary`` computed by
    ``build_schedule`` for ``max_parallel`` agents (replacing the agent's own, else appended).
    Raises PlanError as ``build_schedule`` does (a dependency cycle)."""
    summary = summary_markdown(build_schedule(plan, max_parallel))
    body = _FRONT.sub("", text, count=1)
    match = _FRONT.match(text)
    kept = [line for line in (match.group(1).splitlines() if match else [])
            if not re.match(r"^(runId|feature)\s*:", line)]
    front = "\n".join([f"runId: {run_id}", f"feature: {feature}", *kept])
    if _SUMMARY.search(body):
        body = _SUMMARY.sub(lambda _: summary + "\n", body, count=1).rstrip() + "\n"
    else:
        body = body.rstrip() + "\n\n" + summary
    return f"---\n{front}\n---\n{body}"
