"""Parser for droidz's ``tasks.md`` (korallis/Droidz), both generations.

First generation (``workflows/specification/create-tasks.md``)::

    ## Phase 1: Foundation (Sequential)
    ### Task 1.1: Database Schema
    - [ ] Create the users table
    - Dependencies: None
    ## Phase 2: Parallel Implementation
    ### Task Group A: Profile page
    - [ ] Create src/profile.tsx
    - Dependencies: Phase 1 complete
    - Estimated: M

Second generation (``agents/tasks-list-creator.md``): ``## Task Group N: Name`` sections (the
phases, sequential) with ``### Task N.M: Title`` tasks and bullet fields ``- **Description**:``,
``- **Dependencies**:``, ``- **Acceptance Criteria**:`` (nested list), ``- **Complexity**:``
Small/Medium/Large. Spec files' ``### Task Breakdown`` sections with ``#### Task N: Title``
tasks (``- **Estimated effort**: 2 hours``) form one parallel phase ordered by dependencies.

A phase whose heading says "parallel" is parallel. ``- [ ]`` lines are the task's steps (and
its acceptance criteria); a task whose steps are all ``[x]`` is done. Files come from a
``Files`` field, else from paths named in the task. Dependencies on tasks are kept;
"Phase 1 complete" and "All tasks" are met by phase order. Bracketed template placeholders
(``[S/M/L]``, ``Small/Medium/Large``) count as unset. A document whose tasks sit in a ```` ```markdown ```` block is
read from that block.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from planning import markdown as md
from planning.errors import PlanError
from planning.models import Phase, Plan, PlanTask, Size, Strategy
from planning.references import resolve_reference

_PHASE = re.compile(r"^##\s+(?:Phase|Task\s+Group)\s+([\w.]+)\s*[:.\-–—]?\s*(.*?)\s*$", re.I)
_BREAKDOWN = re.compile(r"^#{2,3}\s+Task\s+Breakdown\s*$", re.I)
_TASK = re.compile(r"^#{3,4}\s+Task(?:\s+Group)?\s+([\w.-]*\w)\s*[:.\-–—]\s*(.*?)\s*$", re.I)
_FIELD = re.compile(r"^[-*]\s+(?:\*\*)?([A-Za-z][A-Za-z ]*?)(?:\*\*)?\s*:(?:\*\*)?\s*(.*?)\s*$")
_STEP = re.compile(r"^\s*[-*]\s+\[([ xX])\]\s+(.+?)\s*$")
_NESTED = re.compile(r"^\s+[-*]\s+(.+?)\s*$")
_SIZES = {"s": Size.S, "small": Size.S, "m": Size.M, "medium": Size.M, "l": Size.L,
          "large": Size.L, "xl": Size.XL, "extra large": Size.XL}

HEADINGS = re.compile(r"^(?:##\s+Task\s+Group\s|#{3,4}\s+Task\s+Group\s|[-*]\s+(?:\*\*)?Dependencies(?:\*\*)?:)",
                      re.I | re.M)
"""Lines only droidz task lists have (used to detect the format)."""


@dataclass
class _PhaseDraft:
    name: str
    strategy: Strategy
    line: int
    tasks: list[md.TaskDraft] = field(default_factory=list)


def parse_droidz(text: str, source: Path | None = None) -> Plan:
    """Parse a droidz ``tasks.md`` (either generation) into a :class:`Plan`.

    Args: ``text`` the whole file; ``source`` its path. Returns the plan, phases numbered by
    position. Raises :class:`PlanError` with file and line when there are no tasks, a task
    comes before any phase heading, or a Complexity/Estimated value is not a size.
    """
    outer = md.scan_lines(text.splitlines(), 1)
    lines = outer if _has_tasks(outer) else md.embedded_block(outer, _has_tasks)
    if lines is None:
        raise PlanError("no `### Task N.M: Title` headings found", source, 1,
                        fix="write tasks as `### Task 1.1: Title` under `## Phase 1: Name`",
                        code="no-tasks")
    phases = [_phase(draft, number, source) for number, draft in
              enumerate(_walk(lines, source), start=1) if draft.tasks]
    ids = [task.id for phase in phases for task in phase.tasks]
    for task in (task for phase in phases for task in phase.tasks):
        task.dependencies = [resolve_reference(ref, ids) for ref in task.dependencies]
    title = next((line.text[2:].strip() for line in lines
                  if line.kind == "text" and line.text.startswith("# ")), None)
    return Plan(name=title or (source.stem if source else "tasks"), source=source, phases=phases)


def _has_tasks(lines: list[md.Line]) -> bool:
    return any(line.kind == "text" and _TASK.match(line.text) for line in lines)


def _walk(lines: list[md.Line], source: Path | None) -> list[_PhaseDraft]:
    phases: list[_PhaseDraft] = []
    task: md.TaskDraft | None = None
    for line in lines:
        text = line.text if line.kind == "text" else ""
        if match := _PHASE.match(text):
            heading = text.lower()
            strategy = Strategy.parallel if "parallel" in heading and "(sequential)" not in heading \
                else Strategy.sequential
            phases.append(_PhaseDraft(match.group(2) or match.group(1), strategy, line.no))
            task = None
        elif _BREAKDOWN.match(text):
            phases.append(_PhaseDraft("Tasks", Strategy.parallel, line.no))
            task = None
        elif match := _TASK.match(text):
            if not phases:
                raise PlanError(f"task {match.group(1)} is outside any phase", source, line.no,
                                fix="put it under a `## Phase N: Name` heading",
                                code="task-outside-phase")
            task = md.TaskDraft(match.group(1), match.group(2), line.no)
            phases[-1].tasks.append(task)
        elif text.startswith("#") or text.strip() == "---":
            task = None
        elif task is not None:
            task.lines.append(line)
    return phases


def _phase(draft: _PhaseDraft, number: int, source: Path | None) -> Phase:
    return Phase(number=number, name=draft.name, strategy=draft.strategy,
                 tasks=[_task(task, source) for task in draft.tasks], line=draft.line)


def _task(draft: md.TaskDraft, source: Path | None) -> PlanTask:
    fields: dict[str, tuple[int, str, list[str]]] = {}
    steps: list[tuple[bool, str]] = []
    current = None
    for line in draft.lines:
        if line.kind != "text":
            continue
        if step := _STEP.match(line.text):
            steps.append((step.group(1) != " ", step.group(2)))
            current = None
        elif (match := _FIELD.match(line.text)) and not line.text[:1].isspace():
            current = match.group(1).strip().lower()
            fields.setdefault(current, (line.no, match.group(2), []))
        elif current and (nested := _NESTED.match(line.text)):
            fields[current][2].append(nested.group(1))
    body = md.body_text(draft.lines)
    size, hours = _estimate(fields, source)
    criteria = fields.get("acceptance criteria", (0, "", []))[2]
    files_field = fields.get("files")
    files = ([path for item in files_field[2] + [files_field[1]] for path in md.paths_in(item)[:1]]
             if files_field else md.paths_in(body))
    return PlanTask(
        id=draft.id,
        title=draft.title or draft.id,
        body=body,
        files=list(dict.fromkeys(files)),
        dependencies=_dependencies(fields.get("dependencies")),
        size=size,
        hours=hours,
        acceptance_criteria=criteria or [text for _, text in steps],
        status="done" if steps and all(done for done, _ in steps) else "pending",
        line=draft.line,
    )


def _estimate(fields: dict, source: Path | None) -> tuple[Size | None, float | None]:
    size = hours = None
    for key in ("complexity", "estimated"):
        if key in fields and (value := fields[key][1].strip().lower()) and not _placeholder(value):
            if value not in _SIZES:
                raise PlanError(f"unknown {key} value {fields[key][1]!r}", source, fields[key][0],
                                fix="write S, M, L or XL (or Small, Medium, Large)",
                                code="bad-enum")
            size = _SIZES[value]
    if "estimated effort" in fields and (match := re.match(r"~?([\d.]+)\s*h", fields["estimated effort"][1])):
        hours = float(match.group(1)) if match.group(1).replace(".", "", 1).isdigit() else None
    return size, hours


def _placeholder(value: str) -> bool:
    """Template text such as ``[S/M/L]`` or ``Small/Medium/Large``."""
    return value.startswith("[") or "/" in value


def _dependencies(entry: tuple[int, str, list[str]] | None) -> list[str]:
    if entry is None:
        return []
    text = " ".join([entry[1]] + entry[2])
    if re.match(r"\s*(?:none|\[\s*\])", text, re.I):
        return []
    refs = re.findall(r"Task(?:\s+Group)?\s+([\w.-]*\w)", text, re.I)
    if not refs and not re.search(r"phase|all|complete", text, re.I):
        refs = re.findall(r"[\w.-]*\d[\w.-]*", text)
    return list(dict.fromkeys(refs))
