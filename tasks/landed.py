"""Work that landed: a finished task's keep ref and the record beside it, enough to take the
task as done when Prefect's result of it was never persisted (planflow killed between the
keep ref and the end of the task run).

A task lands in two steps, in this order (``land``):

1. the record ``<state dir>/runs/{run_id}/landed/task-{id}/{cache key}.json`` is written
   (atomically): the cache key of the task run and its whole ``TaskOutcome``, redacted;
2. the keep ref ``refs/planflow/{run_id}/task-{id}`` is pointed at the outcome's commit.

``landed`` finds it again: the record of this cache key exists, parses, and the keep ref
points at its commit. A kill between the two steps leaves a record whose commit the keep ref
does not hold (an earlier one, or none): it is not taken, and the task runs again.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from gitops.repo import Repository
from planning.disk import write_text


def record_path(repo: Repository, run_id: str, ref_id: str, key: str) -> Path:
    """Where the record of task ``ref_id`` (the id with dots as dashes) of run ``run_id`` for
    cache key ``key`` lives."""
    name = key if key.isalnum() else hashlib.sha256(key.encode()).hexdigest()
    return repo.state_dir / "runs" / run_id / "landed" / f"task-{ref_id}" / f"{name}.json"


def keep_ref_name(run_id: str, ref_id: str) -> str:
    """The keep ref of a task below ``refs/planflow/``: ``{run_id}/task-{ref_id}``."""
    return f"{run_id}/task-{ref_id}"


def land(repo: Repository, run_id: str, ref_id: str, key: str, outcome_json: str, commit: str) -> None:
    """Record ``outcome_json`` (a ``TaskOutcome`` as JSON) under cache key ``key``, then move
    the task's keep ref to ``commit``. Raises ``DiskFull`` or ``OSError`` when the record
    cannot be written, ``GitError``."""
    write_text(record_path(repo, run_id, ref_id, key), outcome_json)
    repo.keep_ref(keep_ref_name(run_id, ref_id), commit)


def landed(repo: Repository, run_id: str, ref_id: str, key: str, parse,
           refs: dict[str, str] | None = None) -> object | None:
    """The outcome recorded for cache key ``key`` when its work landed, else None.

    ``parse`` turns the record's JSON into the outcome (``TaskOutcome.model_validate_json``);
    a record that does not parse, or whose commit the keep ref does not point at, is None.
    ``refs``: {full ref name: sha} of the repository read before (``Repository.ref_tips``), to
    look the keep ref up in instead of asking git.
    """
    path = record_path(repo, run_id, ref_id, key)
    try:
        outcome = parse(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # pydantic's ValidationError is a ValueError
        return None
    ref = f"refs/planflow/{keep_ref_name(run_id, ref_id)}"
    if (refs.get(ref) if refs is not None else repo.resolve(ref)) != outcome.commit:
        return None
    return outcome
