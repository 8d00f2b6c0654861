"""Parser for spec-kit's ``tasks.md`` (github/spec-kit, and autospec's early specs).

    # Tasks: Feature name
    ## Phase 1: Setup
    - [ ] T001 Create the project structure in src/
    - [ ] T002 [P] [US1] Add the model in src/models/user.py
    - [x] T003 [P] Add the service in src/services/user.py
    **Checkpoint**: the model and service exist

Tasks run in order; a run of consecutive ``[P]`` tasks may run at the same time. This is
expressed with dependencies inside the phase (a phase with ``[P]`` tasks is parallel): a
``[P]`` task depends on the last ordered task before its run, an ordered task on every task
of the run or task just before it. ``[x]`` tasks are done. Other ``[Tag]`` markers (user
story labels) stay in the task's body; a line longer than 72 characters gets its first clause as
title (``models.short_title``) and stays whole in the body. Paths named in a task's text (and its indented
continuation lines) become its files; ``**Checkpoint**`` lines become phase notes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from planning import markdown as md
from planning.errors import PlanError
from planning.models import Phase, Plan, PlanTask, Strategy, short_title

_PHASE = re.compile(r"^##\s+Phase\s+([\d.]+)\s*[:.\-–—]?\s*(.*?)\s*$", re.I)
_TASK = re.compile(r"^[-*]\s+\[([ xX])\]\s+\*{0,2}([A-Z]+\d+[A-Za-z]?)\b\*{0,2}:?\s*(.*?)\s*$")
_TAGS = re.compile(r"^(?:\[[^\]]+\]\s*)*")
_CHECKPOINT = re.compile(r"^\*\*Checkpoint\*\*\s*:?\s*(.*?)\s*$", re.I)
_TITLE = re.compile(r"^#\s+(?:Tasks\s*:\s*)?(.+?)\s*$", re.I)

TASK_LINE = re.compile(r"^\s*[-*]\s+\[[ xX]\]\s+\*{0,2}T\d+\b", re.M)
"""A spec-kit task line (used to detect the format)."""


@dataclass
class _Task:
    id: str
    done: bool
    parallel: bool
    text: str
    line: int
    more: list[str] = field(default_factory=list)


@dataclass
class _Phase:
    name: str
    line: int
    tasks: list[_Task] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def parse_speckit(text: str, source: Path | None = None) -> Plan:
    """Parse a spec-kit ``tasks.md`` into a :class:`Plan`.

    Args: ``text`` the whole file; ``source`` its path (error locations, ``Plan.source``).
    Returns the plan, phases numbered by position. Raises :class:`PlanError` with file and
    line for a task before the first ``## Phase N:`` heading, or a file without tasks.
    """
    lines = md.scan_lines(text.splitlines(), 1)
    title, phases, current, task = None, [], None, None
    for line in lines:
        raw = line.text if line.kind == "text" else ""
        if title is None and (match := _TITLE.match(raw)):
            title = match.group(1)
        if match := _PHASE.match(raw):
            current, task = _Phase(match.group(2) or f"Phase {match.group(1)}", line.no), None
            phases.append(current)
        elif raw.startswith("#"):
            current = None if raw.startswith("## ") else current
            task = None
        elif match := _TASK.match(raw):
            if current is None:
                raise PlanError(f"task {match.group(2)} is outside any phase", source, line.no,
                                fix="put it under a `## Phase N: Name` heading",
                                code="task-outside-phase")
            task = _new_task(match, line.no)
            current.tasks.append(task)
        elif current is not None and (match := _CHECKPOINT.match(raw.strip())):
            current.notes.append(match.group(1))
            task = None
        elif task is not None and line.text[:1].isspace() and line.text.strip():
            task.more.append(line.text.strip())
        elif task is not None and line.text.strip():
            task = None
    if not any(phase.tasks for phase in phases):
        raise PlanError("no tasks found", source, 1,
                        fix="write tasks as `- [ ] T001 Description` under `## Phase N:` headings",
                        code="no-tasks")
    return Plan(name=title or (source.parent.name if source else "plan"), source=source,
                phases=[_phase(draft, number) for number, draft in enumerate(phases, start=1)])


def _new_task(match: re.Match, line: int) -> _Task:
    rest = match.group(3)
    tags = _TAGS.match(rest).group(0)
    parallel = any(tag.strip().upper() == "P" for tag in re.findall(r"\[([^\]]+)\]", tags))
    return _Task(match.group(2), match.group(1) != " ", parallel, rest, line)


def _phase(draft: _Phase, number: int) -> Phase:
    parallel = any(task.parallel for task in draft.tasks)
    tasks, group, previous = [], [], []
    for task in draft.tasks:
        if task.parallel:
            deps = previous
            group.append(task.id)
        else:
            deps = group or previous
            previous, group = [task.id], []
        tasks.append(_task(task, deps if parallel else []))
    return Phase(number=number, name=draft.name,
                 strategy=Strategy.parallel if parallel else Strategy.sequential,
                 tasks=tasks, notes=draft.notes, line=draft.line)


def _task(task: _Task, deps: list[str]) -> PlanTask:
    body = "\n".join([task.text] + task.more)
    title = short_title(re.sub(r"^(?:\[[^\]]+\]\s*)+", "", task.text)) or task.id
    return PlanTask(id=task.id, title=title, body=body, files=md.paths_in(body),
                    dependencies=list(deps), status="done" if task.done else "pending",
                    line=task.line)
