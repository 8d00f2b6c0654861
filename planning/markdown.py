"""Line-level markdown reading shared by markdown plan formats.

``scan_lines`` numbers lines and marks fenced code; ``fields`` splits a section into
``**Name**:`` blocks; the rest read bullets, fenced scripts and front matter from them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import yaml

from planning.errors import PlanError
from planning.yamldoc import check_expansion, check_nesting

_FENCE = re.compile(r"^\s*(?:(?:[-*+]|\d+[.)])\s+)?(`{3,}|~{3,})\s*([^\s`]*)")
_MARKDOWN = ("markdown", "md")
_FIELD = re.compile(r"^\*\*([A-Za-z][A-Za-z ]*?)(?::\*\*|\*\*\s*:)\s*(.*?)\s*$")
_BULLET = re.compile(r"^\s*[-*]\s+(?:\[[ xX]\]\s+)?(.+?)\s*$")


@dataclass
class Line:
    """One line: 1-based ``no`` in the file, ``text``, and ``kind``: ``text`` outside fences,
    ``open``/``close`` for fence delimiters, ``code`` inside."""

    no: int
    text: str
    kind: str  # "text", "open", "code" or "close"


@dataclass
class Field:
    """A ``**Name**: rest`` block: its ``line``, the ``rest`` after the colon, and the ``lines``
    below it up to the next field or ``---`` rule."""

    line: int
    rest: str
    lines: list[Line] = field(default_factory=list)


@dataclass
class TaskDraft:
    """A task heading found while scanning: its ``id``, ``title``, heading ``line`` and the
    ``lines`` of its section, turned into a ``PlanTask`` once the section ends."""

    id: str
    title: str
    line: int
    lines: list[Line] = field(default_factory=list)


def front_matter(texts: list[str], source: Path | None) -> tuple[dict[str, str], int]:
    """YAML front matter between leading ``---`` lines, all values as strings.

    Returns ``(mapping, index of the first line after it)``; ``({}, 0)`` when there is none.
    Raises PlanError (code ``bad-front-matter``) for invalid YAML or a non-mapping,
    (``yaml-too-large``) for an alias bomb, (``yaml-too-deep``) as ``check_nesting`` does.
    """
    if not texts or texts[0].strip() != "---":
        return {}, 0
    end = next((i for i in range(1, len(texts)) if texts[i].strip() in ("---", "...")), None)
    if end is None:
        return {}, 0
    check_nesting("\n".join(texts[1:end]), source, line_offset=1)
    try:
        node = yaml.compose("\n".join(texts[1:end]), Loader=yaml.BaseLoader)
        if node is not None:
            check_expansion(node, source, line_offset=1)
        meta = yaml.load("\n".join(texts[1:end]), Loader=yaml.BaseLoader) or {}
    except yaml.YAMLError as exc:
        line = exc.problem_mark.line + 2 if getattr(exc, "problem_mark", None) else 1
        raise PlanError(f"invalid YAML front matter: {exc}", source, line,
                        fix="fix the YAML between the `---` lines", code="bad-front-matter") from exc
    if not isinstance(meta, dict):
        raise PlanError("front matter is not a mapping", source, 1,
                        fix="write `key: value` lines between the `---` lines", code="bad-front-matter")
    return meta, end + 1


def scan_lines(texts: list[str], first_no: int) -> list[Line]:
    """Number lines and mark fenced code.

    CommonMark rules (a closing fence uses the same character, is at least as long and has no
    info string), plus two leniencies seen in real plans: a fence may follow a list marker
    (``- ```bash``), and inside a ``markdown`` block a fence with an info string opens a nested
    block that the next bare fence closes.
    """
    lines: list[Line] = []
    stack: list[tuple[str, str]] = []
    for offset, text in enumerate(texts):
        match = _FENCE.match(text)
        fence, info = (match.group(1), match.group(2).lower()) if match else ("", "")
        if not stack:
            kind = "open" if match else "text"
            if match:
                stack.append((fence, info))
        elif match and not info and fence[0] == stack[-1][0][0] and len(fence) >= len(stack[-1][0]):
            stack.pop()
            kind = "code" if stack else "close"
        else:
            if match and info and stack[-1][1] in _MARKDOWN:
                stack.append((fence, info))
            kind = "code"
        lines.append(Line(first_no + offset, text, kind))
    return lines


def embedded_block(lines: list[Line], wanted: Callable[[list[Line]], bool]) -> list[Line] | None:
    """The content of the first ```` ```markdown ```` block for which ``wanted(lines)`` holds,
    rescanned with its own fences and numbered as in the file; None when no block qualifies."""
    for index, line in enumerate(lines):
        match = _FENCE.match(line.text) if line.kind == "open" else None
        if not match or match.group(2).lower() not in _MARKDOWN:
            continue
        body = []
        for inner in lines[index + 1:]:
            if inner.kind != "code":
                break
            body.append(inner.text)
        inner_lines = scan_lines(body, line.no + 1)
        if wanted(inner_lines):
            return inner_lines
    return None


def fields(lines: list[Line]) -> dict[str, Field]:
    """``**Name**:`` blocks by lowercased name: the text after the colon and the lines below."""
    fields: dict[str, Field] = {}
    current: Field | None = None
    for line in lines:
        match = _FIELD.match(line.text) if line.kind == "text" else None
        if match:
            current = Field(line.no, match.group(2))
            fields.setdefault(match.group(1).strip().lower(), current)
        elif line.kind == "text" and line.text.strip() == "---":
            current = None
        elif current is not None:
            current.lines.append(line)
    return fields


def body_text(lines: list[Line]) -> str:
    """The lines' text joined, without trailing blank lines and ``---`` rules."""
    texts = [line.text for line in lines]
    while texts and texts[-1].strip() in ("", "---"):
        texts.pop()
    return "\n".join(texts).strip()


def bullets(field_: Field | None) -> list[str]:
    """The ``- item`` / ``- [ ] item`` texts under a field outside fences ([] for None)."""
    if field_ is None:
        return []
    return [m.group(1) for line in field_.lines if line.kind == "text"
            and (m := _BULLET.match(line.text))]


def fenced_scripts(field_: Field | None) -> list[str]:
    """One script per fenced block under the field, else the inline `` `cmd` `` values."""
    if field_ is None:
        return []
    scripts, current = [], None
    for line in field_.lines:
        if line.kind == "open":
            current = []
        elif line.kind == "code" and current is not None:
            current.append(line.text)
        elif line.kind == "close" and current is not None:
            scripts.append("\n".join(current).strip())
            current = None
    scripts = [script for script in scripts if script]
    return scripts or re.findall(r"`([^`]+)`", field_.rest)




_SEGMENT = r"(?:\([\w.-]+\)|[\w.@\[$-][\w.$@\[\]-]*)"  # also `[slug]`, `(group)`, `@modal`, `$id`
_PATH = re.compile(
    rf"(?<![\w/.:$\]~-])(/?(?:{_SEGMENT}/)*(?:[\w$\[-][\w.$\[\]-]*)?\.[A-Za-z][A-Za-z0-9]{{0,9}}"
    rf"|/?(?:{_SEGMENT}/)+[\w.$\[\]-]+)(?![\w/-])"
)
_NOT_PATHS = {"e.g", "i.e", "etc", "vs"}


def paths_in(text: str) -> list[str]:
    """File paths mentioned in free text, in order, without duplicates: words with a file
    extension (``src/app.py``, ``.gitignore``) or with a slash (``src/models/user``), absolute
    ones of at least four parts too (``planning.abspaths`` maps them), with the characters of framework routes
    (``routes/admin.$id.tsx``, ``app/[slug]/page.tsx``, ``app/(shop)/@modal/page.tsx``).
    Abbreviations (``e.g.``), version numbers and URLs are not paths."""
    found = []
    for match in _PATH.finditer(text):
        path = match.group(1).rstrip(".")
        if path.lower() in _NOT_PATHS or "//" in path or path.startswith("..") or "/" == path[-1]:
            continue
        if re.fullmatch(r"[\d./]+", path) or (path.startswith("/") and path.count("/") < 4):
            continue  # a version, or a slash command (`/speckit.plan`) rather than a checkout path
        found.append(path)
    return list(dict.fromkeys(found))
