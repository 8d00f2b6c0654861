"""Parser for Spec Kitty features (PyPI ``spec-kitty-cli``): ``kitty-specs/<feature>/tasks.md``
with its work packages ``tasks/WPnn-*.md``.

    ## Work Package WP02: PyPI Release Automation (Priority: P0)
    ### Included Subtasks
    - [ ] T003 Update packaging metadata in `pyproject.toml`
    ### Dependencies
    - Depends on WP01 (release workflow requires the validator).

    tasks/WP02-pypi-release-automation.md (or tasks/<lane>/WP02-....md):
    ---
    work_package_id: WP02
    dependencies: [WP01]
    lane: for_review
    owned_files: [pyproject.toml]
    ---
    (the work package's prompt)

Mapping: each work package is a planflow task (id ``WP02``), its subtasks the steps of its
description, followed by its file's body. Dependencies come from the front matter's
``dependencies`` when the key is there, else from the WP ids of the ``### Dependencies``
section (``WP01–WP03`` is a range; "None ..." is none). Phases are the layers of that graph,
each parallel. A work package is done when its lane is ``done`` or ``canceled``: the lane is
the last ``to_lane`` of ``status.events.jsonl`` when the feature has one, else the lane folder
(``tasks/done/``), else the front matter's ``lane``. Files are ``owned_files``, else the paths
the subtasks name.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from planning import markdown as md
from planning.errors import PlanError
from planning.models import Phase, Plan, PlanTask, Strategy
from planning.references import dependency_layers

WORK_PACKAGE = re.compile(r"^##\s+Work Package\s+(WP\d+)\s*[:.\-–—]?\s*(.*?)\s*$", re.I | re.M)
"""A work package heading of ``tasks.md`` (used to detect the format)."""

LANES = ("planned", "doing", "for_review", "done")
_SUBTASK = re.compile(r"^\s*[-*]\s+\[([ xX])\]\s+(T\d+)\b")
_RANGE = re.compile(r"WP(\d+)\s*[–—-]\s*WP(\d+)", re.I)
_TITLE = re.compile(r"\s*\(Priority:[^)]*\).*$", re.I)


def parse_speckitty(text: str, source: Path | None = None) -> Plan:
    """Parse a Spec Kitty ``tasks.md`` and the work package files beside it into a :class:`Plan`
    (see the module docstring). Raises PlanError naming the file and line of a work package
    file with bad front matter, or ``tasks.md`` when it holds no work package."""
    packages = _sections(md.scan_lines(text.splitlines(), 1))
    if not packages:
        raise PlanError("no `## Work Package WPnn: Title` section found", source, 1,
                        fix="write one `## Work Package WP01: Title` section per work package",
                        code="no-tasks")
    folder = source.parent if source else Path(".")
    files = _package_files(folder / "tasks")
    lanes = _event_lanes(folder / "status.events.jsonl")
    tasks, deps = {}, {}
    for wp_id, (title, line, body, prose) in packages.items():
        meta, lane, extra = files.get(wp_id, ({}, None, ""))
        lane = lanes.get(wp_id) or lane or meta.get("lane")
        deps[wp_id] = _deps(meta["dependencies"]) if "dependencies" in meta else _deps(prose)
        owned = meta.get("owned_files")
        tasks[wp_id] = PlanTask(
            id=wp_id, title=title or meta.get("title") or wp_id, body="\n\n".join(p for p in (body, extra) if p),
            files=list(owned) if isinstance(owned, list) else md.paths_in(body),
            dependencies=[d for d in deps[wp_id] if d != wp_id],
            status="done" if lane in ("done", "canceled", "cancelled") else "pending", line=line)
    phases = [Phase(number=number, name=f"Layer {number}", strategy=Strategy.parallel,
                    tasks=[tasks[i] for i in layer], line=tasks[layer[0]].line)
              for number, layer in enumerate(dependency_layers(deps), start=1)]
    return Plan(name=folder.name, source=source, phases=phases)


def _sections(lines: list[md.Line]) -> dict[str, tuple[str, int, str, str]]:
    """``{wp id: (title, heading line, subtask lines, dependencies prose)}`` of tasks.md."""
    packages: dict[str, tuple[str, int, str, str]] = {}
    current, part, body, prose = None, "", [], []
    def close() -> None:
        if current:
            packages[current[0]] = (current[1], current[2], "\n".join(body), "\n".join(prose))
    for line in lines:
        text = line.text if line.kind == "text" else ""
        if match := WORK_PACKAGE.match(text):
            close()
            current, body, prose = (match.group(1).upper(), _TITLE.sub("", match.group(2)).strip(),
                                    line.no), [], []
        elif text.startswith("## "):
            close()
            current = None
        elif text.startswith("### "):
            part = text[4:].strip().lower()
        elif current and _SUBTASK.match(text):
            body.append(text.strip())
        elif current and part.startswith("dependencies") and text.strip():
            prose.append(text)
    close()
    return packages


def _package_files(folder: Path) -> dict[str, tuple[dict, str | None, str]]:
    """``{wp id: (front matter, lane of its folder or None, body)}`` of ``tasks/**/WPnn-*.md``."""
    found = {}
    for path in sorted(folder.glob("**/WP*.md")) if folder.is_dir() else []:
        try:
            texts = path.read_text(encoding="utf-8-sig").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise PlanError(f"cannot read the work package: {exc}", path, 1,
                            fix="check that the file is UTF-8 text", code="plan-unreadable") from exc
        meta, start = md.front_matter(texts, path)
        wp_id = str(meta.get("work_package_id") or path.name.split("-")[0]).upper()
        lane = path.parent.name if path.parent.name in LANES else None
        found[wp_id] = (meta, lane, "\n".join(texts[start:]).strip())
    return found


def _event_lanes(path: Path) -> dict[str, str]:
    """The lane of each work package after the last lane event of ``status.events.jsonl``."""
    lanes: dict[str, str] = {}
    for text in path.read_text(encoding="utf-8").splitlines() if path.is_file() else []:
        try:
            event = json.loads(text)
        except ValueError:
            continue
        if isinstance(event, dict) and event.get("wp_id") and event.get("to_lane"):
            lanes[str(event["wp_id"]).upper()] = str(event["to_lane"])
    return lanes


def _deps(value: object) -> list[str]:
    """WP ids in a front matter value (a list, or text such as ``"WP01, WP02"``) or in prose
    (``Depends on WP01–WP03``; a parenthesis is a comment; ``None ...`` is none)."""
    text = " ".join(map(str, value)) if isinstance(value, list) else str(value)
    text = re.sub(r"\([^)]*\)", " ", text)
    if re.match(r"^\W*none\b", text, re.I):
        return []
    ids = []
    for match in re.finditer(rf"{_RANGE.pattern}|WP(\d+)", text, re.I):
        if match.group(3):
            ids.append(f"WP{match.group(3)}")
        else:
            first, last = int(match.group(1)), int(match.group(2))
            width = len(match.group(1))
            ids += [f"WP{n:0{width}d}" for n in range(first, last + 1)]
    return list(dict.fromkeys(ids))
