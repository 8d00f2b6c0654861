"""Requirements tracing: which tasks of a plan cite which requirements of its spec.

The spec is the file the plan names (``Plan.spec``, or ``spec:`` in a markdown plan's front
matter; a relative path is looked up from the plan's folder, then from each folder above it),
when that is not found ``spec.md``, ``spec.yaml`` or ``spec.yml`` in the plan's folder (for a plan given as a
folder: in it, then beside it). A task's text is its title, description and acceptance
criteria, plus the plan file's lines from the task's first line to the next task or phase
(so fields a parser does not keep, such as Spec Kitty's ``**Requirement Refs**:`` or a
``requirement_refs:`` key, count too); the lines of a phase before its first task count for
every task of the phase. Ids and declaration shapes: ``planning.requirements``.

``validate_plan`` reports, through ``requirement_issues``, once some task cites a requirement
of the spec: ``uncovered-requirement``, a functional or non-functional requirement no task
cites (retired ones and constraints need none), and ``unknown-requirement``, a task citing an
id of a family the spec declares but not that id; warnings, errors with ``strict``. When the
spec declares requirements and no task cites one, the one warning ``requirements-not-traced``
says so.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from pydantic import BaseModel

from planning.errors import Issue, PlanError
from planning.markdown import front_matter
from planning.models import Plan
from planning.requirements import Requirement, cited_ids, declared_requirements

SPEC_NAMES = ("spec.md", "spec.yaml", "spec.yml")
"""Spec files looked for next to a plan that names none."""

MAX_SPEC_BYTES = 4 * 1024 * 1024
"""A larger spec file is not read (4 MiB, the limit of plan files)."""


class Trace(BaseModel):
    """A plan traced against its spec: the ``spec`` file, its ``requirements`` (file order),
    ``tasks`` (requirement id -> ids of the tasks citing it, plan order) and ``unknown``
    (task id -> ids it cites that the spec lacks, as written, for families the spec declares)."""

    spec: Path
    requirements: list[Requirement]
    tasks: dict[str, list[str]]
    unknown: dict[str, list[str]]

    def uncovered(self) -> list[Requirement]:
        """Functional and non-functional requirements, not retired, that no task cites."""
        return [req for req in self.requirements
                if req.kind != "constraint" and not req.retired and not self.tasks[req.id]]


def find_spec(plan: Plan) -> Path | None:
    """The spec file of ``plan`` (see the module docstring), or None when there is none."""
    if plan.source is None:
        return None
    source = Path(plan.source)
    folder = source if source.is_dir() else source.parent
    named = plan.spec or _front_matter_spec(source)
    candidates: list[Path] = []
    if named:
        reference = Path(named).expanduser()
        bases = [Path("/")] if reference.is_absolute() else [folder, *folder.resolve().parents]
        candidates += [base / reference for base in bases]
    places = [folder, folder.parent] if source.is_dir() else [folder]
    candidates += [place / name for place in places for name in SPEC_NAMES]
    return next((path for path in candidates if path.is_file()), None)


def trace_plan(plan: Plan) -> Trace | None:
    """``plan`` traced against its spec; None when it has no readable spec or the spec
    declares no requirement. Never raises."""
    spec = find_spec(plan)
    try:
        if spec is None or spec.stat().st_size > MAX_SPEC_BYTES:
            return None
        text = spec.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    requirements = declared_requirements(text, spec.suffix.lower() in (".yaml", ".yml"))
    if not requirements:
        return None
    by_key = {req.key: req.id for req in requirements}
    families = {req.id.split("-")[0] for req in requirements}
    tasks: dict[str, list[str]] = {req.id: [] for req in requirements}
    unknown: dict[str, list[str]] = {}
    for task_id, task_text in task_texts(plan).items():
        for key, written in cited_ids(task_text).items():
            if key in by_key:
                tasks[by_key[key]].append(task_id)
            elif key.split("-")[0] in families:
                unknown.setdefault(task_id, []).append(written)
    return Trace(spec=spec, requirements=requirements, tasks=tasks, unknown=unknown)


def requirement_issues(plan: Plan, strict: bool = False) -> list[Issue]:
    """The ``uncovered-requirement`` and ``unknown-requirement`` findings of ``plan``
    (warnings; errors with ``strict``); empty when it has no spec with requirements."""
    trace = trace_plan(plan)
    if trace is None:
        return []
    if not any(trace.tasks.values()):
        return [Issue(code="requirements-not-traced", severity="warning", file=plan.source,
                      message=f"{trace.spec} declares {len(trace.requirements)} requirements and"
                              " no task cites one, so none is traced",
                      fix="name the requirements each task implements in its description"
                          " (e.g. `**Requirements**: FR-001, FR-002`)")]
    severity = "error" if strict else "warning"
    issues = [
        Issue(code="uncovered-requirement", severity=severity, file=trace.spec, line=req.line,
              message=f"requirement {req.id}" + (f" ({req.text})" if req.text else "")
              + " is covered by no task of the plan",
              fix=f"name {req.id} in the description of the task that implements it, or add"
                  " a task for it")
        for req in trace.uncovered()
    ]
    lines = {task.id: task.line for task in plan.tasks()}
    issues += [
        Issue(code="unknown-requirement", severity=severity, file=plan.source, line=lines.get(task_id),
              message=f"task {task_id} cites {', '.join(keys)}, which {trace.spec.name} does not declare",
              fix=f"cite a requirement {trace.spec.name} declares, or declare it there")
        for task_id, keys in trace.unknown.items()
    ]
    return issues


def task_texts(plan: Plan) -> dict[str, str]:
    """Each task's text to look for citations in (module docstring), by task id."""
    texts = {task.id: "\n".join([task.title, task.body, *task.acceptance_criteria])
             for task in plan.tasks()}
    lines = _source_lines(plan)
    if not lines:
        return texts
    starts = sorted({phase.line for phase in plan.phases if phase.line}
                    | {task.line for task in plan.tasks() if task.line})
    following = dict(zip(starts, [*starts[1:], len(lines) + 1]))
    task_lines = Counter(task.line for task in plan.tasks())
    for phase in plan.phases:
        shared = "\n".join(lines[phase.line - 1:following[phase.line] - 1]) if phase.line else ""
        for task in phase.tasks:
            own = ""
            if task.line and task_lines[task.line] == 1:  # one task per line: its own lines
                own = "\n".join(lines[task.line - 1:following[task.line] - 1])
            texts[task.id] += "\n" + shared + "\n" + own
    return texts


def coverage_markdown(trace: Trace, branches: dict[str, str]) -> str:
    """A markdown section: one row per requirement and task citing it, with the task's
    branch (``branches``: task id -> branch name); ``-`` for a requirement no task cites."""
    live = [req for req in trace.requirements if not req.retired]
    covered = sum(1 for req in live if trace.tasks[req.id])
    lines = [f"## Requirements ({covered} of {len(live)} cited, from"
             f" `{trace.spec.name}`)", "", "| requirement | task | branch |", "|---|---|---|"]
    for req in trace.requirements:
        label = f"{req.id} {req.text}".strip().replace("|", "\\|")
        if req.retired:
            label = f"~~{req.id}~~ (retired)"
        rows = [(task_id, f"`{branches.get(task_id, '-')}`") for task_id in trace.tasks[req.id]]
        for task_id, branch in rows or [("-", "-")]:
            lines.append(f"| {label} | {task_id} | {branch} |")
    return "\n".join(lines) + "\n"


def _front_matter_spec(source: Path) -> str | None:
    """``spec:`` of a markdown plan's front matter, or None."""
    if source.suffix.lower() not in (".md", ".markdown") or not source.is_file():
        return None
    try:
        meta, _ = front_matter(source.read_text(encoding="utf-8", errors="replace").splitlines(), source)
    except (OSError, PlanError):
        return None
    return meta.get("spec") or None


def _source_lines(plan: Plan) -> list[str]:
    """The plan file's lines, or [] when it is not one readable file."""
    try:
        if plan.source is None or not Path(plan.source).is_file():
            return []
        return Path(plan.source).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
