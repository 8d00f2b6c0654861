"""A plan split into one markdown file per phase, read as one plan.

    specs/x/plan/plan-phase1.md   # Phase 1: Data layer
    specs/x/plan/plan-phase2.md   # Phase 2: API layer
                                  **Strategy**: parallel
                                  **Dependencies**: Phase 1
                                  ## Task 5: Routes
                                  **Dependencies**: Task 3 (schema)

Each file is a spectacular phase whose headings sit one level higher (``# Phase N``, ``## Task
N``); tasks are numbered across the plan and depend on tasks of other files. Files are ordered
by the number in their name. A phase's own ``**Dependencies**: Phase N`` line is met by phase
order.
"""

from __future__ import annotations

import re
from pathlib import Path

from planning import markdown as md
from planning.errors import PlanError
from planning.models import Plan
from planning.references import resolve_refs
from planning.spectacular import parse_spectacular

PHASE_FILE = re.compile(r"phase[-_ ]?(\d+)[^/]*\.(?:md|markdown)$", re.I)
"""The name of one phase's file: ``plan-phase3.md``, ``phase-03-api.md``."""

_PHASE_TITLE = re.compile(r"^#\s+Phase\s+\d+", re.M)


def phase_files(folder: Path) -> list[Path]:
    """The phase files of ``folder`` in the order of the numbers in their names."""
    found = [(int(m.group(1)), path.name, path) for path in folder.iterdir()
             if path.is_file() and (m := PHASE_FILE.search(path.name))]
    return [path for _, _, path in sorted(found)]


def is_phase_file(path: Path, text: str) -> bool:
    """Whether ``path`` is one phase of a plan split into files: a phase file name, a ``# Phase
    N`` heading and at least one other phase file beside it."""
    return bool(PHASE_FILE.search(path.name) and _PHASE_TITLE.search(text)
                and len(phase_files(path.parent)) > 1)


def parse_phase_files(folder: Path, texts: list[tuple[Path, str]]) -> Plan:
    """One :class:`Plan` of the phase files ``texts`` (``(path, text)`` in phase order) of
    ``folder``; ``Plan.source`` is the folder. Raises PlanError naming the file and line the
    spectacular parser rejects, or the folder when it holds no phase file."""
    if not texts:
        raise PlanError("the folder holds no phase files (`plan-phase1.md`, ...)", folder, 1,
                        fix="pass a plan file, or name the phase files `plan-phaseN.md`",
                        code="no-phases")
    phases = []
    for path, text in texts:
        phases += parse_spectacular(_demoted(text), path).phases
    resolve_refs(phases)
    name = folder.parent.name if folder.name.lower() in ("plan", "plans") else folder.name
    return Plan(name=name, source=folder, phases=phases)


def _demoted(text: str) -> str:
    """``text`` with every heading outside fenced code one level lower, when its phase heading
    is level 1 (``# Phase 6`` -> ``## Phase 6``, ``## Task 7`` -> ``### Task 7``)."""
    if not _PHASE_TITLE.search(text):
        return text
    return "\n".join("#" + line.text if line.kind == "text" and line.text.startswith("#") else line.text
                     for line in md.scan_lines(text.splitlines(), 1))
