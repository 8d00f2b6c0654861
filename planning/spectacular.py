"""Parser for spectacular's ``plan.md`` format (and its variants in the wild).

A plan is markdown: optional YAML front matter (``runId``, ``feature``), a ``# `` title,
``## Phase N: Name`` sections holding ``### Task N.M: Title`` sections (or ``- [ ] **Task N.M**:``
checklist lines), and per-task ``**Field**:`` blocks (Files, Complexity, Dependencies,
Acceptance Criteria, Quality Gates, Run, Agent, Allow Empty). Lines inside fenced code blocks
are never headings. A document without phases of its own is parsed from the first
```` ```markdown ```` block that has them (line numbers stay relative to the file).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from planning import markdown as md
from planning.errors import PlanError
from planning.models import Phase, Plan, PlanTask, Size, Strategy
from planning.references import dependency_refs, resolve_refs

_ID = r"[A-Za-z]*\d+(?:[.-]\d+)*"
_PHASE = re.compile(r"^##\s+Phase\s+(\d+)\s*[:.\-–—]?\s*(.*?)\s*$", re.I)
_STRATEGY_SUFFIX = re.compile(r"\s*\((parallel|sequential)\)\s*$", re.I)
_TASK = re.compile(rf"^###\s+Task\s+({_ID})\s*[:.\-–—]\s*(.*?)\s*$", re.I)
_CHECK_TASK = re.compile(rf"^\s*[-*]\s+\[[ xX]\]\s+\*\*Task\s+({_ID})\*\*\s*:?\s*(.*?)\s*$", re.I)
_ESTIMATE = re.compile(r"\s*\(\s*(XL|S|M|L)\s*[-–—,]\s*~?([\d.]+)\s*h\s*\)\s*$", re.I)
_COMPLEXITY = re.compile(r"^(XL|S|M|L)\b\s*(?:\(\s*~?([\d.]+)\s*h[a-z]*\s*\))?", re.I)
_INLINE_FILES = re.compile(r"^\s*[-*]\s+Files\s*:\s*(.+?)\s*$", re.I)
_RUN_ID = re.compile(r"^\s*Run ID:\s*([A-Za-z0-9]+)\s*$", re.I)
_SPEC = re.compile(r"\*\*From spec:?\*\*:?\s*`?([^\s`]+)", re.I)
_TITLE = re.compile(r"^#\s+(.+?)\s*$")
_FOLDER_RUN_ID = re.compile(r"^([0-9a-f]{6})-")
_BOOLS = {"yes": True, "true": True, "y": True, "1": True, "no": False, "false": False, "n": False, "0": False}


@dataclass
class _PhaseDraft:
    number: int
    name: str
    strategy: Strategy | None
    line: int
    lines: list[md.Line] = field(default_factory=list)
    drafts: list[md.TaskDraft] = field(default_factory=list)
    checklist: dict[int, PlanTask] = field(default_factory=dict)


def parse_spectacular(text: str, source: Path | None = None) -> Plan:
    """Parse a spectacular ``plan.md`` document into a :class:`Plan`.

    ``text`` is the whole file; ``source`` the path it came from (used for error locations,
    ``Plan.source`` and the ``specs/{run_id}-slug/`` run id fallback). Dependencies are
    resolved to task ids as written in their headings; unresolvable ones are kept as written.
    Raises :class:`PlanError` (with file, line and fix) for bad front matter, no phases, a
    task outside any phase, a phase without tasks, or an unreadable field value.
    """
    texts = text.splitlines()
    meta, start = md.front_matter(texts, source)
    outer = md.scan_lines(texts[start:], start + 1)
    lines = outer if _has_phase(outer) else md.embedded_block(outer, _has_phase)
    if lines is None:
        raise PlanError(
            "no `## Phase N: Name` heading found", source, 1,
            fix="group tasks under `## Phase 1: Name` headings", code="no-phases",
        )
    phases = [_build_phase(draft, source) for draft in _walk(lines, source)]
    resolve_refs(phases)
    title, run_id, spec = _header(lines)
    outer_title, outer_run_id, outer_spec = _header(outer)
    return Plan(
        name=_clean_title(title or outer_title or "") or meta.get("feature") or _stem(source),
        run_id=meta.get("runId") or run_id or outer_run_id or _folder_run_id(source),
        source=source,
        spec=spec or outer_spec,
        phases=phases,
    )


def _has_phase(lines: list[md.Line]) -> bool:
    return any(line.kind == "text" and _PHASE.match(line.text) for line in lines)


def _header(lines: list[md.Line]) -> tuple[str | None, str | None, str | None]:
    """The first ``# `` title, ``Run ID:`` value and ``**From spec:**`` path outside fences."""
    title = run_id = spec = None
    for line in (line for line in lines if line.kind == "text"):
        if title is None and (match := _TITLE.match(line.text)):
            title = match.group(1)
        if run_id is None and (match := _RUN_ID.match(line.text)):
            run_id = match.group(1)
        if spec is None and (match := _SPEC.search(line.text)):
            spec = match.group(1)
    return title, run_id, spec


def _walk(lines: list[md.Line], source: Path | None) -> list[_PhaseDraft]:
    phases: list[_PhaseDraft] = []
    phase: _PhaseDraft | None = None
    task: md.TaskDraft | None = None
    for line in lines:
        text = line.text if line.kind == "text" else ""
        if match := _PHASE.match(text):
            name, strategy = _split_strategy(match.group(2))
            phase, task = _PhaseDraft(int(match.group(1)), name or f"Phase {match.group(1)}",
                                      strategy, line.no), None
            phases.append(phase)
        elif text.startswith("## ") or text == "##":
            phase = task = None
        elif match := _TASK.match(text):
            if phase is None:
                raise PlanError(f"task {match.group(1)} is outside any phase", source, line.no,
                                fix="put it under a `## Phase N: Name` heading",
                                code="task-outside-phase")
            task = md.TaskDraft(match.group(1), match.group(2), line.no)
            phase.drafts.append(task)
        elif phase is not None and (match := _CHECK_TASK.match(text)):
            task = None
            phase.checklist[len(phase.drafts)] = _checklist_task(match, line)
            phase.drafts.append(md.TaskDraft(match.group(1), "", line.no))
        elif text.startswith("### "):
            task = None
        elif task is not None:
            task.lines.append(line)
        elif phase is not None:
            phase.lines.append(line)
    return phases


def _split_strategy(name: str) -> tuple[str, Strategy | None]:
    match = _STRATEGY_SUFFIX.search(name)
    if not match:
        return name, None
    return name[: match.start()].strip(), Strategy(match.group(1).lower())


def _checklist_task(match: re.Match, line: md.Line) -> PlanTask:
    title, *parts = [part.strip() for part in match.group(2).split("|")]
    files: list[str] = []
    for part in parts:
        key, _, value = part.partition(":")
        if key.strip().lower() == "files":
            files += [_clean_path(path) for path in value.split(",") if path.strip()]
    return PlanTask(id=match.group(1), title=title, body=line.text.strip(), files=files,
                    line=line.no)


def _build_phase(draft: _PhaseDraft, source: Path | None) -> Phase:
    if not draft.drafts:
        raise PlanError(f"phase {draft.number} ({draft.name}) has no tasks", source, draft.line,
                        fix="add `### Task N.M: Title` sections under it or remove it",
                        code="empty-phase")
    strategy = draft.strategy or Strategy.sequential
    if field_ := md.fields(draft.lines).get("strategy"):
        value = field_.rest.split()[0].lower() if field_.rest.split() else ""
        if value not in Strategy.__members__:
            raise PlanError(f"unknown Strategy value {field_.rest!r}", source, field_.line,
                            fix="write `**Strategy**: parallel` or `**Strategy**: sequential`",
                            code="bad-strategy")
        strategy = Strategy(value)
    tasks = [draft.checklist.get(index) or _build_task(task, source)
             for index, task in enumerate(draft.drafts)]
    return Phase(number=draft.number, name=draft.name, strategy=strategy, tasks=tasks,
                 line=draft.line)


def _build_task(draft: md.TaskDraft, source: Path | None) -> PlanTask:
    fields = md.fields(draft.lines)
    title, size, hours = draft.title, None, None
    if match := _ESTIMATE.search(title):
        title, size, hours = title[: match.start()], Size(match.group(1).upper()), float(match.group(2))
    if complexity := fields.get("complexity"):
        size, given = _complexity(complexity, source)
        hours = given if given is not None else hours
    return PlanTask(
        id=draft.id,
        title=title.strip() or draft.id,
        body=md.body_text(draft.lines),
        files=_files(draft.lines, fields.get("files")),
        dependencies=_dependency_refs(fields.get("dependencies")),
        size=size,
        hours=hours,
        acceptance_criteria=md.bullets(fields.get("acceptance criteria")),
        quality_gates=md.fenced_scripts(fields.get("quality gates")),
        agent=_inline(fields["agent"].rest) if "agent" in fields else None,
        run=_run(fields.get("run")),
        allow_empty=_allow_empty(fields.get("allow empty"), source),
        line=draft.line,
    )


def _complexity(field_: md.Field, source: Path | None) -> tuple[Size, float | None]:
    match = _COMPLEXITY.match(field_.rest)
    if not match:
        raise PlanError(f"unreadable Complexity value {field_.rest!r}", source, field_.line,
                        fix="write `**Complexity**: M (4h)` with a size of S, M, L or XL",
                        code="bad-complexity")
    return Size(match.group(1).upper()), float(match.group(2)) if match.group(2) else None


def _allow_empty(field_: md.Field | None, source: Path | None) -> bool:
    if field_ is None:
        return False
    value = _inline(field_.rest).lower()
    if value not in _BOOLS:
        raise PlanError(f"unreadable Allow Empty value {field_.rest!r}", source, field_.line,
                        fix="write `**Allow Empty**: yes` or `no`", code="bad-allow-empty")
    return _BOOLS[value]


def _files(lines: list[md.Line], field_: md.Field | None) -> list[str]:
    paths = [] if field_ is None else [_clean_path(p) for p in md.bullets(field_)]
    if field_ is not None and field_.rest:
        paths += [_clean_path(path) for path in field_.rest.split(",") if path.strip()]
    for line in lines:
        if line.kind == "text" and (match := _INLINE_FILES.match(line.text)):
            paths += [_clean_path(path) for path in match.group(1).split(",") if path.strip()]
    return list(dict.fromkeys(path for path in paths if path))


def _clean_path(text: str) -> str:
    """``- Modify: `a/b.py` (note)`` -> ``a/b.py``."""
    text = re.sub(r"^[A-Za-z]+:\s+", "", text.strip())
    text = re.sub(r"\s*\([^)]*\)\s*$", "", text)
    return text.replace("`", "").strip()


def _inline(text: str) -> str:
    return text.strip().strip("`").strip()


def _run(field_: md.Field | None) -> str | None:
    if field_ is None:
        return None
    scripts = md.fenced_scripts(field_)
    return scripts[0] if scripts else field_.rest or None


def _dependency_refs(field_: md.Field | None) -> list[str]:
    if field_ is None:
        return []
    return dependency_refs("\n".join([field_.rest] + [line.text for line in field_.lines
                                                       if line.kind == "text"]))


def _clean_title(title: str) -> str:
    cleaned = re.sub(r"^(?:Feature|Implementation Plan)\s*:\s*", "", title.strip(), flags=re.I)
    cleaned = re.sub(r"\s+[-–—]\s+Implementation Plan\s*$", "", cleaned, flags=re.I).strip()
    return cleaned or title.strip()


def _folder_run_id(source: Path | None) -> str | None:
    match = _FOLDER_RUN_ID.match(source.parent.name) if source is not None else None
    return match.group(1) if match else None


def _stem(source: Path | None) -> str:
    return source.stem if source is not None else "plan"
