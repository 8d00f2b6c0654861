"""The plan model every parser produces and every later stage reads.

Shapes (pydantic v2, all JSON-serializable so a plan can be a flow parameter):

    Plan ── phases: list[Phase] ── tasks: list[PlanTask]

Task ids are kept as the plan writes them (``1.1``, ``1-1``, ``3``, ``T003``); dependencies
hold resolved task ids once a parser has matched them, or the reference as written when
nothing matched (validation then reports it as unknown). ``line`` fields are 1-based line
numbers in ``Plan.source`` so that every error can name ``file:line``.
"""

from __future__ import annotations

import hashlib
import re
from enum import Enum
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from planning.errors import Issue

SIZE_HOURS = {"S": 1.0, "M": 2.0, "L": 4.0, "XL": 8.0}
"""Default hours per size when a plan gives a size but no hours."""

XL_HOURS = 8.0
"""A task estimated above this many hours counts as XL (too big for one agent run)."""


class Strategy(str, Enum):
    """How the tasks of a phase run: one after another, or at the same time."""

    sequential = "sequential"
    parallel = "parallel"


class Size(str, Enum):
    """T-shirt size of a task (spectacular's ``**Complexity**: M (4h)``)."""

    S = "S"
    M = "M"
    L = "L"
    XL = "XL"


def slugify(text: str, max_length: int = 40) -> str:
    """Lowercase ``text`` to ``a-z0-9`` words joined by dashes, cut at ``max_length`` chars.

    Used for branch names (``{run_id}-task-{id}-{slug}``); returns ``"task"`` for text with
    no letters or digits.
    """
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    slug = slug[:max_length].rstrip("-")
    return slug or "task"


SHORT_TITLE = 72
"""Longest title a parser derives from a long one-line task (characters)."""


def short_title(text: str, limit: int = SHORT_TITLE) -> str:
    """``text`` on one line when it fits in ``limit`` characters, else its first clause (up to
    the first ``. ``, ``;``, ``:``, ``,``, `` - `` or `` (``), cut at a word to ``limit``.

    Used for spec-kit task lines, which run past 250 characters: the short title names the
    branch and the UI, the whole line stays the task's description.
    """
    text = re.sub(r"[ \t]+", " ", text).strip()  # other control characters stay, for safety's check
    if len(text) <= limit:
        return text
    clause = re.split(r"(?<=[^\s.])[.;:](?=\s)|,\s|\s[-–—]\s|\s\(", text, maxsplit=1)[0].strip()
    if len(clause) > limit:
        head = clause[: limit + 1]
        cut = head.rsplit(" ", 1)[0] if " " in head else head[:limit]
        clause = cut if len(cut) >= limit // 2 else clause[:limit]
    return clause.rstrip(" ,;:-") or text[:limit]


class PlanTask(BaseModel):
    """One unit of agent work.

    Fields: ``id`` as written in the plan; ``title``; ``body`` (the description and steps, markdown);
    ``files`` (repository-relative paths the task may touch); ``dependencies`` (task ids);
    ``size`` and ``hours`` (estimate, hours); ``acceptance_criteria`` (one string each);
    ``quality_gates`` (shell scripts run in the task's worktree after the agent, each must exit 0);
    ``agent`` (agent name overriding the run's default); ``run`` (the command the ``shell``
    agent runs for this task); ``allow_empty`` (a task that may finish without changing a file);
    ``status``: ``pending`` (to run), ``done`` (the plan marks it finished: skipped, its
    dependents run) or ``blocked`` (not run, nor anything that depends on it) with
    ``blocked_reason``; ``line`` (where the task starts in the plan file).
    """

    model_config = ConfigDict(extra="forbid")

    id: str
    title: str
    body: str = ""
    files: list[str] = Field(default_factory=list)
    dependencies: list[str] = Field(default_factory=list)
    size: Size | None = None
    hours: float | None = None
    acceptance_criteria: list[str] = Field(default_factory=list)
    quality_gates: list[str] = Field(default_factory=list)
    agent: str | None = None
    run: str | None = None
    allow_empty: bool = False
    status: Literal["pending", "done", "blocked"] = "pending"
    blocked_reason: str | None = None
    line: int | None = None

    @property
    def slug(self) -> str:
        """The title as a branch-name slug."""
        return slugify(self.title)

    @property
    def ref_id(self) -> str:
        """The id usable in git ref and path names (dots become dashes: ``2.1`` -> ``2-1``)."""
        return re.sub(r"[^A-Za-z0-9_-]+", "-", self.id)

    @property
    def estimate_hours(self) -> float | None:
        """``hours`` when given, else the size's default hours, else None."""
        if self.hours is not None:
            return self.hours
        return SIZE_HOURS[self.size.value] if self.size else None


class Phase(BaseModel):
    """A group of tasks run as one subflow; phases run in order.

    ``number`` is 1-based as in the plan; ``max_parallel`` caps concurrent agents in a parallel
    phase (None: the run's ``--max-parallel``); ``notes`` keeps phase-level remarks of the plan
    (spec-kit's ``**Checkpoint**`` lines).
    """

    model_config = ConfigDict(extra="forbid")

    number: int
    name: str
    strategy: Strategy = Strategy.sequential
    max_parallel: int | None = Field(default=None, ge=1)
    tasks: list[PlanTask] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    line: int | None = None

    @property
    def label(self) -> str:
        """``Phase 2 (parallel)``: how status output names a phase."""
        return f"Phase {self.number} ({self.strategy.value})"


class Lane(BaseModel):
    """Tasks of one wave of parallel phase ``phase`` that declare common ``files``: they run
    one after the other, in the order of ``tasks`` (``planning.conflicts.serialize_conflicts``)."""

    phase: int
    tasks: list[str]
    files: list[str]

    def describe(self) -> str:
        """``phase 2: 2.1 → 2.3 (src/app.py)``."""
        return f"phase {self.phase}: {' → '.join(self.tasks)} ({', '.join(self.files)})"


class Plan(BaseModel):
    """A whole implementation plan.

    ``run_id`` is the 6-hex run id when the plan carries one (spectacular front matter
    ``runId`` or a ``specs/{run_id}-slug/`` folder), else None and the caller assigns one.
    ``source`` is the file the plan was read from; ``spec`` a spec path the plan names;
    ``parse_warnings`` what a parser noticed but could read past (e.g. unknown fields of a
    foreign format), reported by validation; ``lanes`` the tasks serialization put one after
    the other because they declare common files (empty until then).
    """

    model_config = ConfigDict(extra="forbid")

    name: str
    run_id: str | None = None
    source: Path | None = None
    spec: str | None = None
    phases: list[Phase] = Field(default_factory=list)
    parse_warnings: list[Issue] = Field(default_factory=list)
    lanes: list[Lane] = Field(default_factory=list)

    def tasks(self) -> list[PlanTask]:
        """All tasks in plan order."""
        return [task for phase in self.phases for task in phase.tasks]

    def task(self, task_id: str) -> PlanTask:
        """The task with id ``task_id``; KeyError when there is none."""
        for task in self.tasks():
            if task.id == task_id:
                return task
        raise KeyError(task_id)

    def phase_of(self, task_id: str) -> Phase:
        """The phase holding task ``task_id``; KeyError when there is none."""
        for phase in self.phases:
            if any(task.id == task_id for task in phase.tasks):
                return phase
        raise KeyError(task_id)

    def default_run_id(self) -> str:
        """The plan's own run id, else 6 hex characters derived from its source path (so running
        the same plan file again resumes the same run), else from its name."""
        if self.run_id:
            return self.run_id
        origin = str(self.source.resolve()) if self.source else self.name
        return hashlib.sha256(origin.encode()).hexdigest()[:6]
