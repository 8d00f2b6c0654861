"""Read a plan file in any known format.

``FORMATS`` maps a format name to its parser ``(text, source) -> Plan``; add an entry to
support another format.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from planning.errors import PlanError
from planning.models import Plan
from planning.native import parse_native
from planning.spectacular import parse_spectacular

Parser = Callable[[str, Path | None], Plan]

FORMATS: dict[str, Parser] = {
    "spectacular": parse_spectacular,
    "native": parse_native,
}

SUFFIXES = {".md": "spectacular", ".markdown": "spectacular", ".yaml": "native", ".yml": "native"}

_MARKDOWN_PLAN = re.compile(r"^(?:##\s+Phase\s+\d|###\s+Task\s|#\s)", re.M)
_NATIVE_PLAN = re.compile(r"^phases\s*:", re.M)


def detect_format(path: Path, text: str) -> str:
    """The format name of a plan: by suffix (``.md`` -> ``spectacular``, ``.yaml``/``.yml`` ->
    ``native``), else by content (markdown headings vs a top-level ``phases:`` key).

    Raises PlanError (code ``unknown-format``) when neither tells.
    """
    if path.suffix.lower() in SUFFIXES:
        return SUFFIXES[path.suffix.lower()]
    if _MARKDOWN_PLAN.search(text):
        return "spectacular"
    if _NATIVE_PLAN.search(text):
        return "native"
    raise PlanError(
        "cannot tell the plan's format", path,
        fix=f"name it *.md or *.yaml, or pass the format ({', '.join(FORMATS)})",
        code="unknown-format",
    )


def load_plan(path: Path, format: str | None = None) -> Plan:
    """Read and parse the plan at ``path``.

    ``format`` is a key of ``FORMATS``; None detects it with :func:`detect_format`. Returns
    the parsed Plan (``source`` set to ``path``). Raises PlanError for an unknown format name
    (``unknown-format``), a file that cannot be read as UTF-8 text (``plan-unreadable``), or
    anything the format's parser rejects.
    """
    path = Path(path)
    if format is not None and format not in FORMATS:
        raise PlanError(f"unknown plan format {format!r}", path,
                        fix=f"use one of: {', '.join(FORMATS)}", code="unknown-format")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanError(f"cannot read the plan: {exc}", path,
                        fix="check the path and that the file is UTF-8 text",
                        code="plan-unreadable") from exc
    return FORMATS[format or detect_format(path, text)](text, path)
