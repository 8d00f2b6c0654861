"""Requirement ids in specs and plans: what a spec declares, what a task's text cites.

Ids are ``FR-<n>`` (functional), ``NFR-<n>`` (non-functional) and ``C-<n>`` (constraint),
compared by number (``FR-1`` and ``FR-001`` are one requirement). A spec *declares* an id
where a line opens with it, in the shapes real specs use:

- spec-kit's bullets ``- **FR-001**: System MUST ...`` (also unbolded, numbered, or
  ``**FR-003 (Version Bump)**: ...``);
- Spec Kitty's table rows ``| FR-001 | Title | ... |`` (the id cell may be bold; struck
  through, ``| ~~FR-006~~ |``, marks a retired requirement), bold-led paragraphs
  ``**FR-001** — Detect ...`` and headings ``### FR-001: Title``;
- autospec's ``spec.yaml``: ``- id: "FR-001"`` items (the text from the item's
  ``description:``).

An id met anywhere else in the spec (prose, fenced code) is a mention, not a declaration.
A task *cites* an id it names anywhere in its text, and every id of a range:
``FR-001 through FR-005``, ``FR-001..FR-005``, ``NFR-001..004``, ``FR-001 – FR-005``,
``FR-002 to FR-004``.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel

from planning.markdown import scan_lines

KINDS = {"FR": "functional", "NFR": "non-functional", "C": "constraint"}
"""The requirement families by id prefix."""

MAX_RANGE = 1000
"""A cited range spanning more ids than this is read as its two ends only."""

_ID = r"(?P<prefix>NFR|FR|C)-(?P<number>\d{1,6})\b"
_DECLARATIONS = (
    re.compile(rf"^\s*\|\s*(?P<mark>\*\*|~~)?\s*{_ID}"),                    # table row, first cell
    re.compile(rf"^\s*#{{1,6}}\s+(?P<mark>\*\*|~~)?{_ID}"),                 # heading
    re.compile(rf"^\s*(?:[-*+]|\d+[.)])\s+(?P<mark>\*\*|__|~~)?\s*{_ID}"),  # list item
    re.compile(rf"^\s*(?P<mark>\*\*|~~)\s*{_ID}"),                          # bold-led paragraph
)
_YAML_ID = re.compile(rf"^\s*(?:-\s+)?id\s*:\s*[\"']?{_ID}[\"']?\s*(?:#.*)?$")
_YAML_DESCRIPTION = re.compile(r"^\s*(?:description|title)\s*:\s*[\"']?(.*?)[\"']?\s*$")
_CITATION = re.compile(
    r"\b(?P<prefix>NFR|FR|C)-(?P<start>\d{1,6})\b"
    r"(?:(?:\*\*)?\s*(?:(?P<loose>\.\.\.?|\bthrough\b|\bthru\b)|(?P<dash>–|—|-|\bto\b))\s*"
    r"(?:\*\*)?(?:\b(?P<end_prefix>NFR|FR|C)-)?(?P<end>\d{1,6})\b)?"
)
"""An id, or a range: ``..``/``through`` may leave out the end's prefix, a dash or ``to`` not."""
_TEXT_EDGE = " \t*_~:|—–-."
"""Characters trimmed from both ends of a requirement's text."""


class Requirement(BaseModel):
    """One declared requirement: ``id`` as the spec writes it, its ``kind`` (functional,
    non-functional, constraint), ``text`` (the rest of its line or its table row's next cell,
    at most 120 characters), 1-based ``line`` in the spec, and ``retired`` (struck through)."""

    id: str
    kind: Literal["functional", "non-functional", "constraint"]
    text: str
    line: int
    retired: bool = False

    @property
    def key(self) -> str:
        """The id compared by number: ``FR-1`` for ``FR-001``."""
        return id_key(*self.id.split("-"))


def id_key(prefix: str, number: str | int) -> str:
    """``FR-1`` for (``"FR"``, ``"001"``): the form ids are compared in."""
    return f"{prefix}-{int(number)}"


def declared_requirements(text: str, yaml_spec: bool = False) -> list[Requirement]:
    """The requirements spec ``text`` declares, in file order, the first declaration of each id.

    ``yaml_spec`` reads autospec's YAML shape instead of markdown (fenced code in markdown is
    skipped). Never raises.
    """
    found: dict[str, Requirement] = {}
    texts = text.splitlines()
    rows = enumerate(texts, 1) if yaml_spec else (
        (line.no, line.text) for line in scan_lines(texts, 1) if line.kind == "text")
    for number, line in rows:
        if yaml_spec:
            match = _YAML_ID.match(line)
            words = _yaml_description(texts, number) if match else ""
        else:
            match = next((m for m in (p.match(line) for p in _DECLARATIONS) if m), None)
            words = _line_text(line[match.end():], match.re is _DECLARATIONS[0]) if match else ""
        if match is None:
            continue
        prefix, digits = match.group("prefix"), match.group("number")
        requirement = Requirement(id=f"{prefix}-{digits}", kind=KINDS[prefix], text=words,
                                  line=number, retired=match.groupdict().get("mark") == "~~")
        found.setdefault(requirement.key, requirement)
    return list(found.values())


def cited_ids(text: str) -> dict[str, str]:
    """The requirement ids ``text`` cites, ranges expanded, in order of first mention:
    ``id_key`` form -> the id as written (a range's inner ids padded like its first)."""
    ids: dict[str, str] = {}

    def cite(prefix: str, digits: str | int, width: int = 0) -> None:
        ids.setdefault(id_key(prefix, digits), f"{prefix}-{int(digits):0{width}d}")

    for match in _CITATION.finditer(text):
        prefix, start = match.group("prefix"), match.group("start")
        end_prefix, end = match.group("end_prefix"), match.group("end")
        cite(prefix, start, len(start))
        if end is None or (end_prefix or prefix) != prefix or (match.group("dash") and not end_prefix):
            if end is not None and end_prefix:  # two ids of different families, or no range
                cite(end_prefix, end, len(end))
            continue
        first, last = int(start), int(end)
        for number in range(first + 1, last + 1) if 0 < last - first <= MAX_RANGE else [last]:
            cite(prefix, number, len(start) if number != last else len(end))
    return ids


def _line_text(rest: str, table: bool) -> str:
    """The words of a declaration after its id: a ``table`` row's next cell, else the line."""
    if table:
        rest = next((cell for cell in rest.split("|") if cell.strip(_TEXT_EDGE)), "")
    return rest.replace("**", "").strip(_TEXT_EDGE)[:120]


def _yaml_description(texts: list[str], number: int) -> str:
    """The ``description:`` (or ``title:``) of the YAML item whose ``id:`` is on line
    ``number``, looked for on the next four lines."""
    for line in texts[number:number + 4]:
        if _YAML_ID.match(line):
            break
        if match := _YAML_DESCRIPTION.match(line):
            return match.group(1)[:120]
    return ""
