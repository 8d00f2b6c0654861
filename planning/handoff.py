"""Context handoff between phases: what each finished task leaves for later tasks.

    ContextRecord    one finished task: files modified (from git), decisions and pending actions
                     (from the agent's final message), quality-gate results, errors it overcame,
                     tokens
    PhaseContext     a phase's records merged: files unioned, decisions concatenated, pending
                     actions de-duplicated, gates and errors collected, tokens summed

An agent states decisions and pending actions in its final message as lines
``DECISION: <text>`` and ``PENDING: <text>`` (``parse_notes``; the prompt's rules ask for
them). Records are JSON files under ``<git common dir>/planflow/runs/{run_id}/context/``; ``render`` turns the
merged phases into the markdown a later task's prompt gets, at most ``HANDOFF_MAX_CHARS``.
A process keeps the records of a folder it read or wrote in memory (``load_records``), and
reads the folder again only when it changed behind its back (its modification time moved).
"""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

from pydantic import BaseModel, Field

from planning.disk import write_text
from planning.redaction import redact

HANDOFF_MAX_CHARS = 6000
"""Upper bound of the handoff section in a task prompt, characters (about 1,500 tokens)."""

ITEM_MAX_CHARS = 300
"""A decision, pending action or error longer than this many characters is cut."""

FILES_SHOWN = 40
"""At most this many modified files are listed per phase in a prompt; the rest are counted."""

_NOTE = re.compile(r"^\s*(?:[-*]\s+)?\**(DECISION|PENDING)\**\s*:\s*\**\s*(.+?)\s*$", re.IGNORECASE)


class ContextNotes(BaseModel):
    """What task records and merged phases share: ``files`` modified, ``decisions``,
    ``pending`` actions, ``gates`` passed, ``errors`` met, ``tokens_in``/``tokens_out``."""

    files: list[str] = Field(default_factory=list)
    decisions: list[str] = Field(default_factory=list)
    pending: list[str] = Field(default_factory=list)
    gates: list[str] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)
    tokens_in: int = 0
    tokens_out: int = 0


class ContextRecord(ContextNotes):
    """What one finished task leaves: ``task_id``, ``phase`` (number), ``title``; ``files``
    modified relative to its base; ``decisions`` and ``pending`` from its final message;
    ``gates`` (one line per quality gate that passed); ``errors`` (failures of earlier attempts
    it recovered from); ``tokens_in``/``tokens_out`` of its successful agent run; ``commit``:
    the task's commit in the stack, set when the record is stored."""

    task_id: str
    phase: int
    title: str
    commit: str | None = None


class PhaseContext(ContextNotes):
    """A phase's merged records: ``tasks`` (ids, plan order), ``files`` (union, sorted),
    ``decisions`` and ``errors`` (each prefixed with its task id, in task order), ``pending``
    (de-duplicated, first mention kept), ``gates`` (prefixed), ``tokens_in``/``tokens_out`` (sums)."""

    phase: int
    tasks: list[str] = Field(default_factory=list)


def parse_notes(message: str) -> tuple[list[str], list[str]]:
    """The ``DECISION:`` and ``PENDING:`` lines of an agent's final message (case-insensitive,
    bullets and bold allowed), as (decisions, pending actions), in message order."""
    found: dict[str, list[str]] = {"DECISION": [], "PENDING": []}
    for line in message.splitlines():
        match = _NOTE.match(line)
        if match:
            found[match.group(1).upper()].append(match.group(2).rstrip("*").strip())
    return found["DECISION"], found["PENDING"]


def merge_phase(phase: int, records: list[ContextRecord]) -> PhaseContext:
    """Merge the ``records`` of phase ``phase`` (given in task order) into one ``PhaseContext``."""
    merged = PhaseContext(phase=phase)
    for record in records:
        merged.tasks.append(record.task_id)
        merged.decisions += [f"{record.task_id}: {text}" for text in record.decisions]
        merged.pending += [text for text in record.pending if text not in merged.pending]
        merged.gates += [f"{record.task_id}: {text}" for text in record.gates]
        merged.errors += [f"{record.task_id}: {text}" for text in record.errors]
        merged.tokens_in += record.tokens_in
        merged.tokens_out += record.tokens_out
    merged.files = sorted({path for record in records for path in record.files})
    return merged


def merge_by_phase(records: list[ContextRecord], before: int | None = None) -> list[PhaseContext]:
    """``records`` merged per phase, phases ascending; only phases below ``before`` when given."""
    phases = sorted({record.phase for record in records if before is None or record.phase < before})
    return [merge_phase(number, [r for r in records if r.phase == number]) for number in phases]


def render(phases: list[PhaseContext], max_chars: int | None = HANDOFF_MAX_CHARS) -> str:
    """Markdown of ``phases`` ("" when empty). With ``max_chars`` (the prompt form) items are cut
    at ``ITEM_MAX_CHARS``, files at ``FILES_SHOWN`` per phase, tokens left out, and the oldest
    phases dropped (named in a note) until the text fits ``max_chars``; None renders all (the
    artifact form, with tokens)."""
    if not phases:
        return ""
    title = "## Context from earlier phases"
    sections = [_section(phase, brief=max_chars is not None) for phase in phases]
    if max_chars is None:
        return "\n\n".join([title, *sections]) + "\n"
    kept: list[str] = []
    for section in reversed(sections):
        if len(title) + sum(len(s) + 2 for s in kept) + len(section) + 200 > max_chars:
            break
        kept.insert(0, section)
    dropped = phases[: len(phases) - len(kept)]
    parts = [title]
    if dropped:
        numbers = ", ".join(str(phase.phase) for phase in dropped)
        parts.append(f"(Context of phase(s) {numbers} left out to stay under {max_chars} characters.)")
    if not kept:
        parts.append(sections[-1][: max_chars - len(parts[-1]) - len(title) - 8] + " …")
    return "\n\n".join(parts + kept) + "\n"


def _section(phase: PhaseContext, brief: bool) -> str:
    def items(values: list[str]) -> list[str]:
        return [f"- {_cut(value) if brief else value}" for value in values]

    lines = [f"### Phase {phase.phase} (tasks {', '.join(phase.tasks)})"]
    shown = phase.files[:FILES_SHOWN] if brief else phase.files
    files = ", ".join(f"`{path}`" for path in shown) or "none"
    if len(shown) < len(phase.files):
        files += f" and {len(phase.files) - len(shown)} more"
    lines.append(f"Files modified: {files}")
    for heading, values in (("Decisions", phase.decisions), ("Pending actions", phase.pending),
                            ("Errors met (and overcome)", phase.errors),
                            ("Quality gates passed", phase.gates)):
        if values:
            lines += [f"{heading}:", *items(values)]
    if not brief:
        lines.append(f"Tokens: {phase.tokens_in} in, {phase.tokens_out} out")
    return "\n".join(lines)


def _cut(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= ITEM_MAX_CHARS else text[: ITEM_MAX_CHARS - 1] + "…"


def context_dir(run_dir: Path) -> Path:
    """Where a run's context records live: ``context/`` in the run's folder ``run_dir``
    (``<git common dir>/planflow/runs/{run_id}``, the folder of its status file)."""
    return run_dir / "context"


def handoff_for(directory: Path, phase: int, stacked: set[str]) -> str | None:
    """The bounded markdown of the records in ``directory`` of phases before ``phase`` whose
    ``commit`` is in ``stacked`` (the commits a task's base holds, so the handoff is fixed by
    the base, as the cache key needs), or None when there are none."""
    records = [record for record in load_records(directory) if record.commit in stacked]
    return render(merge_by_phase(records, before=phase)) or None


_records: dict[Path, tuple[int, dict[str, ContextRecord]]] = {}
"""Per folder: (its modification time in ns when last read or written here, records by file name)."""
_records_lock = threading.Lock()


def save_record(directory: Path, record: ContextRecord) -> Path:
    """Write ``record`` (redacted) as ``task-{id}.json`` in ``directory`` (created); returns the
    file. Raises ``DiskFull`` or ``OSError`` when it cannot be written."""
    path = directory / f"task-{re.sub(r'[^A-Za-z0-9_-]+', '-', record.task_id)}.json"
    text = record.model_dump_json(indent=2)
    with _records_lock:
        before = _mtime(directory)
        write_text(path, text)
        cached = _records.get(directory)
        if cached is not None and cached[0] == before:
            cached[1][path.name] = ContextRecord.model_validate_json(redact(text))
            _records[directory] = (_mtime(directory), cached[1])
        else:
            _records.pop(directory, None)
    return path


def load_records(directory: Path) -> list[ContextRecord]:
    """Every record in ``directory`` (none when it does not exist), by phase then task id in
    natural order (``1.2`` before ``1.10``). Read from the folder only when this process has
    not read or written it since it last changed. Raises ``ValueError`` for a corrupt file."""
    with _records_lock:
        mtime = _mtime(directory)
        cached = _records.get(directory)
        if cached is None or cached[0] != mtime:
            found = {path.name: ContextRecord.model_validate(json.loads(path.read_text()))
                     for path in directory.glob("task-*.json")}
            cached = (mtime, found)
            if mtime is not None:
                _records[directory] = cached
            else:
                _records.pop(directory, None)
        records = list(cached[1].values())
    return sorted(records, key=lambda r: (r.phase, _natural(r.task_id)))


def _mtime(directory: Path) -> int | None:
    try:
        return directory.stat().st_mtime_ns
    except FileNotFoundError:
        return None


def _natural(task_id: str) -> list[tuple[int, int | str]]:
    return [(0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", task_id) if part]
