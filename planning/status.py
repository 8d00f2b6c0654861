"""The status of a plan run: the model, its JSON file, and the one-line progress display.

The file lives at ``<git common dir>/planflow/runs/{run_id}/status.json`` (see
``status_path``) and is rewritten atomically on every change, so ``planflow status`` and the
progress display can read it from another thread or process at any time. The public JSON is
the architecture guide's shape (``run_id``, ``status``, ``phase``, ``completed_tasks``,
``failed_tasks``, ``output``) plus ``tasks``, ``reviews`` (the reviewer agents' ledger),
``stack`` and ``conflict``.
"""

from __future__ import annotations

import json
import threading
import time
from enum import Enum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from planning.disk import write_text
from planning.models import Plan

PROGRESS_MARKS = {"running": "*", "done": "+", "failed": "x", "skipped": "-", "pending": "o"}
"""One character per task state on the progress line (the seeds' convention)."""


class TaskState(str, Enum):
    """Where a task is in a run."""

    pending = "pending"
    running = "running"
    done = "done"
    failed = "failed"
    skipped = "skipped"


class TaskStatus(BaseModel):
    """One task of a run: ``duration_s`` in seconds (``setup_s`` of them preparing the
    worktree before the agent, last attempt: ``tasks.worktree_setup``); ``cached`` when the result came from the
    cache without calling an agent; ``error`` the failure text; ``reason`` why a task the plan
    marks done or blocked was skipped; ``warnings`` about a finished task's result (files
    changed outside its declared files, a stacking conflict resolved by an agent). The ledger,
    summed over the
    agent runs of this run (a cached task spent nothing), as ``agents.base.AgentResult``
    defines it: ``tokens_in`` (cached ones included), ``tokens_cached`` (None while no agent
    reported a cached figure), ``tokens_out``, ``cost_usd`` (USD; None while no agent reported
    a cost), ``turns`` (model requests), ``attempts``; ``worker`` the Prefect worker that ran a
    task dispatched to other machines (``flows.remote``)."""

    id: str
    name: str
    phase: int
    state: TaskState = TaskState.pending
    branch: str | None = None
    commit: str | None = None
    duration_s: float | None = None
    setup_s: float | None = None
    log_path: str | None = None
    cached: bool = False
    error: str | None = None
    reason: str | None = None
    warnings: list[str] = Field(default_factory=list)
    tokens_in: int = 0
    tokens_cached: int | None = None
    tokens_out: int = 0
    cost_usd: float | None = None
    turns: int = 0
    attempts: int = 0
    worker: str | None = None


class ReviewUsage(BaseModel):
    """The ledger of one reviewer agent's runs in a review round (``scope`` ``phase-2`` or
    ``end``, 1-based ``round``): ``tokens_in``/``tokens_out``, ``cost_usd`` (USD; None when
    not reported), ``turns``, ``attempts`` (2 when its first answer was malformed) and the
    ``log_path`` of its last run."""

    scope: str
    round: int
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float | None = None
    turns: int = 0
    attempts: int = 0
    log_path: str | None = None


class RunStatus(BaseModel):
    """A whole run. ``status``: running, completed or failed; ``phase``: the current phase label;
    ``base``: the commit the stack starts from; ``base_branch``: the branch the run started from
    (``planflow land``'s default target; None on a detached HEAD); ``stack``: the stacked
    branches in order, base first; times are UNIX seconds. ``stopped``: the run's cost passed
    ``--budget-usd`` and no new task was started (``output`` says so). ``flow_run_id``: the
    Prefect flow run that wrote this status (so a caller can tell its own run's status from a
    stale one)."""

    run_id: str
    plan: str
    status: Literal["running", "completed", "failed", "stopped"] = "running"
    phase: str | None = None
    base: str | None = None
    base_branch: str | None = None
    output: str = ""
    conflict: str | None = None
    stack: list[str] = Field(default_factory=list)
    tasks: list[TaskStatus] = Field(default_factory=list)
    reviews: list[ReviewUsage] = Field(default_factory=list)
    started_at: float = Field(default_factory=time.time)
    finished_at: float | None = None
    flow_run_id: str | None = None

    @classmethod
    def for_plan(cls, plan: Plan, run_id: str, base: str, flow_run_id: str | None = None) -> RunStatus:
        """A fresh status with every task of ``plan`` pending, written by flow run ``flow_run_id``."""
        tasks = [
            TaskStatus(id=task.id, name=task.slug, phase=phase.number)
            for phase in plan.phases
            for task in phase.tasks
        ]
        return cls(run_id=run_id, plan=str(plan.source or plan.name), base=base, tasks=tasks,
                   flow_run_id=flow_run_id)

    def task(self, task_id: str) -> TaskStatus:
        """The status of task ``task_id``; KeyError when the run has no such task."""
        for task in self.tasks:
            if task.id == task_id:
                return task
        raise KeyError(task_id)

    def cost_usd(self) -> float:
        """The run's reported cost so far, USD (tasks and reviewer agents; an agent run with
        no reported cost counts 0)."""
        return sum(entry.cost_usd or 0.0 for entry in [*self.tasks, *self.reviews])

    def totals(self) -> dict[str, Any]:
        """The run's ledger totals, tasks and reviewer agents: ``tokens_in``,
        ``tokens_cached`` (the tasks'; None when no task's agent reported one), ``tokens_out``,
        ``cost_usd`` (USD, None when no agent reported a cost), ``turns`` (model requests),
        ``attempts``, ``duration_s`` (the tasks' seconds, summed)."""
        entries = [*self.tasks, *self.reviews]
        costs = [entry.cost_usd for entry in entries if entry.cost_usd is not None]
        cached = [task.tokens_cached for task in self.tasks if task.tokens_cached is not None]
        return {
            "tokens_in": sum(entry.tokens_in for entry in entries),
            "tokens_cached": sum(cached) if cached else None,
            "tokens_out": sum(entry.tokens_out for entry in entries),
            "cost_usd": round(sum(costs), 6) if costs else None,
            "turns": sum(entry.turns for entry in entries),
            "attempts": sum(entry.attempts for entry in entries),
            "duration_s": round(sum(task.duration_s or 0.0 for task in self.tasks), 3),
        }

    def public(self) -> dict[str, Any]:
        """The JSON users ask for (architecture guide), with the per-task detail appended."""
        def brief(task: TaskStatus) -> dict[str, Any]:
            entry = {"id": task.id, "name": task.name, "branch": task.branch}
            entry |= {"worker": task.worker} if task.worker else {}
            entry |= {"warnings": task.warnings} if task.warnings else {}
            return entry | ({"error": task.error} if task.error else {})

        return {
            "run_id": self.run_id,
            "status": self.status,
            "phase": self.phase,
            "completed_tasks": [brief(t) for t in self.tasks if t.state == TaskState.done],
            "failed_tasks": [brief(t) for t in self.tasks if t.state == TaskState.failed],
            "output": self.output,
            "conflict": self.conflict,
            "stack": self.stack,
            "plan": self.plan,
            "base": self.base,
            "base_branch": self.base_branch,
            "tasks": [t.model_dump(mode="json") for t in self.tasks],
            "reviews": [r.model_dump(mode="json") for r in self.reviews],
            "totals": self.totals(),
        }

    def progress_line(self) -> str:
        """``Phase 2: 2.1 * 2.2 + 2.3 o`` for the current phase (``*`` running, ``+`` done,
        ``x`` failed, ``-`` skipped, ``o`` pending); the run's status when no phase is current."""
        phase_number = None
        for task in self.tasks:
            if task.state in (TaskState.running, TaskState.failed):
                phase_number = task.phase
                break
        if phase_number is None:
            pending = [t.phase for t in self.tasks if t.state == TaskState.pending]
            phase_number = pending[0] if pending and self.status == "running" else None
        if phase_number is None:
            return f"{self.status}: {self.output}".strip()
        marks = " ".join(
            f"{t.id} {PROGRESS_MARKS[t.state.value]}" for t in self.tasks if t.phase == phase_number
        )
        return f"Phase {phase_number}: {marks}"


def status_path(state_dir: Path, run_id: str) -> Path:
    """``<state_dir>/runs/{run_id}/status.json``; ``state_dir`` is the repository's
    ``<git common dir>/planflow``."""
    return state_dir / "runs" / run_id / "status.json"


class StatusStore:
    """Thread-safe holder of one run's ``RunStatus`` that rewrites its JSON file on every change.

    ``path``: the status.json file (parents are created). Writes are redacted and go to a
    temporary file first, moved into place, so readers never see half a file
    (``planning.disk.write_text``; a full disk raises ``DiskFull``).
    """

    def __init__(self, path: Path, status: RunStatus) -> None:
        self.path = path
        self.status = status
        self._lock = threading.Lock()
        self._write()

    def update(self, **fields: Any) -> None:
        """Set run-level fields (``status``, ``phase``, ``output``, ...) and write the file."""
        with self._lock:
            for name, value in fields.items():
                setattr(self.status, name, value)
            self._write()

    def update_task(self, task_id: str, **fields: Any) -> None:
        """Set fields of task ``task_id`` (``state``, ``branch``, ...) and write the file."""
        with self._lock:
            task = self.status.task(task_id)
            for name, value in fields.items():
                setattr(task, name, value)
            self._write()

    def add_usage(self, task_id: str, attempt: int, tokens_in: int, tokens_out: int,
                  cost_usd: float | None, turns: int | None,
                  tokens_cached: int | None = None) -> None:
        """Add one agent run's usage to task ``task_id``'s ledger and write the file.

        Args:
            task_id: the task.
            attempt: the run's 1-based attempt number (the task's ``attempts`` becomes at least it).
            tokens_in: input tokens. tokens_out: output tokens.
            cost_usd: USD, None when the agent reported none. turns: model requests, None
            when not reported. tokens_cached: of ``tokens_in``, read from the prompt cache;
            None when not reported.
        """
        with self._lock:
            task = self.status.task(task_id)
            task.tokens_in += tokens_in
            task.tokens_out += tokens_out
            if tokens_cached is not None:
                task.tokens_cached = (task.tokens_cached or 0) + tokens_cached
            if cost_usd is not None:
                task.cost_usd = round((task.cost_usd or 0.0) + cost_usd, 6)
            task.turns += turns or 0
            task.attempts = max(task.attempts, attempt)
            self._write()

    def add_review(self, usage: ReviewUsage) -> None:
        """Add one review round's reviewer-agent ledger to the run's and write the file."""
        with self._lock:
            self.status.reviews.append(usage)
            self._write()

    def _write(self) -> None:
        write_text(self.path, self.status.model_dump_json(indent=2))


_STORES: dict[Path, StatusStore] = {}
_STORES_LOCK = threading.Lock()


def register_store(store: StatusStore) -> StatusStore:
    """Make ``store`` the one ``open_store(store.path)`` returns in this process."""
    with _STORES_LOCK:
        _STORES[store.path] = store
    return store


def open_store(path: Path) -> StatusStore:
    """The store registered for ``path`` in this process, else one loaded from the file
    (FileNotFoundError when there is none)."""
    with _STORES_LOCK:
        if path not in _STORES:
            _STORES[path] = StatusStore(path, read_status(path))
        return _STORES[path]


def read_status(path: Path) -> RunStatus:
    """Load a status file; FileNotFoundError when the run has none, ValueError when corrupt."""
    return RunStatus.model_validate(json.loads(path.read_text()))
