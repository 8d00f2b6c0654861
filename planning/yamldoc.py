"""YAML and JSON documents read into plain Python values that remember their line numbers.

``load_yaml`` turns every mapping into a :class:`LineMap` (a dict with ``line`` and the line
of each key's value in ``lines``) and every list into a :class:`LineList` (``line`` and the
line of each item in ``lines``), so parsers of foreign formats can name ``file:line`` in every
error. :class:`Doc` bundles the source path with typed getters that raise :class:`PlanError`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from planning.errors import PlanError

SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""PyYAML's safe loader, the libyaml one when available."""


MAX_YAML_VALUES = 200_000
"""The most values (scalars, lists, mappings, counted after expanding aliases) a YAML document
may hold: a 500-task plan has about 10,000."""


MAX_NESTING = 100
"""The deepest nesting a YAML or JSON plan may have (levels, estimated from the text before any
parser sees it: indentation / 2 + leading ``- `` items + open brackets). A plan has about 8;
libyaml's C loader overflows the stack (a segmentation fault) at about 30,000 and PyYAML's and
json's Python code raise RecursionError from about 400."""

_QUOTED = re.compile(r'"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\'|(?:^|\s)#.*$', re.M)
_BLOCK = re.compile(r"^( *)((?:[-?](?:\s+|$))*)")


def check_nesting(text: str, source: Path | None, line_offset: int = 0) -> None:
    """Raise PlanError (``yaml-too-deep``, at the line plus ``line_offset`` where the estimate
    first passes ``MAX_NESTING``) for a document nested too deep to parse safely. Linear in the
    text, needs no parser (so nothing can overflow a stack)."""
    flow = 0
    for number, line in enumerate(_QUOTED.sub("", text).split("\n"), start=1):
        block = _BLOCK.match(line)
        flow = max(0, flow + line.count("[") + line.count("{") - line.count("]") - line.count("}"))
        depth = len(block.group(1)) // 2 + block.group(2).count("-") + block.group(2).count("?")
        if depth + max(flow, line.count("[") + line.count("{")) > MAX_NESTING:
            raise PlanError(f"the document is nested deeper than {MAX_NESTING} levels", source,
                            number + line_offset, fix="flatten it: a plan needs about 8 levels",
                            code="yaml-too-deep")


class LineMap(dict):
    """A mapping read from a document: ``line`` where it starts, ``lines[key]`` where each
    value starts (1-based)."""

    line: int = 1
    lines: dict[str, int]


class LineList(list):
    """A list read from a document: ``line`` where it starts, ``lines[i]`` where item i starts."""

    line: int = 1
    lines: list[int]


def load_yaml(text: str, source: Path | None) -> Any:
    """Parse one YAML document; mappings become LineMap, lists LineList, keys strings.

    Returns None for an empty document. Raises PlanError as :func:`check_nesting` does for a
    document nested too deep, (``bad-yaml``) with the parser's
    line for invalid YAML, and for recursive aliases; PlanError (``yaml-too-large``) when
    aliases expand it past ``MAX_YAML_VALUES`` values (an alias bomb).
    """
    check_nesting(text, source)
    try:
        loader = SafeLoader(text)
        try:
            node = loader.get_single_node()
            if node is not None:
                check_expansion(node, source)
            return None if node is None else _convert(loader, node, set(), source)
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise PlanError(f"invalid YAML: {_one_line(exc)}", source, yaml_error_line(exc, text),
                        fix="fix the YAML syntax at that line", code="bad-yaml") from exc


def yaml_error_line(exc: yaml.YAMLError, text: str) -> int:
    """The 1-based line a PyYAML error points at (its mark, else the reader's position, else 1)."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is not None:
        return mark.line + 1
    position = getattr(exc, "position", None)
    return text.count("\n", 0, position) + 1 if isinstance(position, int) else 1


def check_expansion(root: yaml.Node, source: Path | None, line_offset: int = 0) -> None:
    """Raise PlanError (``yaml-too-large``, at the document's first line plus ``line_offset``)
    when the composed document ``root`` holds more than ``MAX_YAML_VALUES`` values once its
    aliases are expanded. Linear in the number of distinct nodes; a recursive alias counts once."""
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:  # iterative post-order, so a deeply nested document cannot exhaust the stack
        node, expanded = stack.pop()
        if expanded:
            sizes[id(node)] = 1 + sum(sizes.get(id(child), 1) for child in _children(node))
            if sizes[id(node)] > MAX_YAML_VALUES:
                raise PlanError(f"the YAML expands to more than {MAX_YAML_VALUES} values (an alias"
                                " bomb?)", source, root.start_mark.line + 1 + line_offset,
                                fix="write the plan without repeated aliases", code="yaml-too-large")
        elif id(node) not in sizes:
            sizes[id(node)] = 1  # a recursive alias met again while open counts once
            stack.append((node, True))
            stack.extend((child, False) for child in _children(node) if id(child) not in sizes)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _convert(loader: Any, node: yaml.Node, active: set[int], source: Path | None) -> Any:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.ScalarNode):
        try:
            return loader.construct_object(node)
        except (ValueError, OverflowError) as exc:
            raise PlanError(f"unreadable value {node.value!r}: {exc}", source, line,
                            fix="quote the value or correct it", code="bad-value") from exc
    if id(node) in active:
        raise PlanError("recursive YAML alias", source, line, fix="remove the alias",
                        code="bad-yaml")
    active.add(id(node))
    if isinstance(node, yaml.SequenceNode):
        result: Any = LineList(_convert(loader, item, active, source) for item in node.value)
        result.lines = [item.start_mark.line + 1 for item in node.value]
    else:
        result = LineMap()
        result.lines = {}
        for key_node, value_node in node.value:
            key = _convert(loader, key_node, active, source)
            key = str(key) if not isinstance(key, (LineMap, LineList)) else repr(key)
            result[key] = _convert(loader, value_node, active, source)
            result.lines[key] = value_node.start_mark.line + 1
    active.discard(id(node))
    result.line = line
    return result


def load_json(text: str, source: Path | None) -> Any:
    """Parse a JSON document; objects become LineMap and arrays LineList. Line numbers of
    values are found by scanning the text (the line of each ``"key":`` in document order).

    Raises PlanError (``bad-json``) with the parser's line for invalid JSON, as
    :func:`check_nesting` does for a document nested too deep.
    """
    check_nesting(text, source)
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        line = getattr(exc, "lineno", 1)
        raise PlanError(f"invalid JSON: {getattr(exc, 'msg', exc)}", source, line,
                        fix="fix the JSON syntax at that line", code="bad-json") from exc
    keys = iter((text.count("\n", 0, m.start()) + 1, m.group(1))
                for m in re.finditer(r'"((?:[^"\\]|\\.)*)"\s*:', text))
    return _annotate(value, keys, 1)


def _annotate(value: Any, keys: Any, line: int) -> Any:
    if isinstance(value, dict):
        result = LineMap()
        result.line, result.lines = line, {}
        for index, (key, item) in enumerate(value.items()):
            key_line = next((no for no, name in keys if name == key), line)
            result.lines[key] = key_line
            result[key] = _annotate(item, keys, key_line)
            result.line = key_line if index == 0 else result.line
        return result
    if isinstance(value, list):
        result = LineList()
        result.line, result.lines = line, []
        for item in value:
            result.append(_annotate(item, keys, line))
            result.lines.append(getattr(result[-1], "line", line))
        return result
    return value


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


class Doc:
    """Typed access to a parsed document with errors that name ``file:line``.

    ``source`` is the document's path; ``kind`` the format's name for messages.
    """

    def __init__(self, source: Path | None, kind: str) -> None:
        self.source = source
        self.kind = kind

    def error(self, message: str, line: int | None, fix: str, code: str) -> PlanError:
        """A PlanError at ``line`` of this document."""
        return PlanError(message, self.source, line or 1, fix=fix, code=code)

    def mapping(self, value: Any, what: str, line: int) -> LineMap:
        """``value`` when it is a mapping; PlanError (``bad-value``) otherwise."""
        if not isinstance(value, LineMap):
            raise self.error(f"{what} must be a mapping", line,
                             fix=f"write {what} as `key: value` entries", code="bad-value")
        return value

    def items(self, parent: LineMap, key: str, what: str, required: bool = True) -> LineList:
        """The list under ``parent[key]`` ([] when absent and not required); PlanError
        (``missing-key`` or ``bad-value``) otherwise."""
        if key not in parent or parent[key] is None:
            if required:
                raise self.error(f"{what} is missing {key!r}", parent.line,
                                 fix=f"add `{key}:` to {what}", code="missing-key")
            empty = LineList()
            empty.line, empty.lines = parent.line, []
            return empty
        value = parent[key]
        if not isinstance(value, LineList):
            raise self.error(f"{what}: {key!r} must be a list", parent.lines[key],
                             fix=f"write `{key}` as a list", code="bad-value")
        return value

    def text(self, parent: LineMap, key: str, what: str, required: bool = False) -> str | None:
        """``parent[key]`` as a string (numbers are accepted and converted); None when absent
        and not required; PlanError for a missing required key or a list/mapping value."""
        value = parent.get(key)
        if value is None:
            if required:
                raise self.error(f"{what} is missing {key!r}", parent.line,
                                 fix=f"add `{key}:` to {what}", code="missing-key")
            return None
        if isinstance(value, (LineMap, LineList)):
            raise self.error(f"{what}: {key!r} must be text", parent.lines[key],
                             fix=f"write `{key}` as a single value", code="bad-value")
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)

    def texts(self, parent: LineMap, key: str, what: str) -> list[str]:
        """``parent[key]`` as a list of strings: a list of scalars, or one scalar as a
        one-item list; [] when absent."""
        value = parent.get(key)
        if value is None:
            return []
        if not isinstance(value, LineList):
            return [self.text(parent, key, what) or ""]
        holder = LineMap({str(i): item for i, item in enumerate(value)})
        holder.line, holder.lines = value.line, {str(i): no for i, no in enumerate(value.lines)}
        return [self.text(holder, str(i), f"{what} {key}") or "" for i in range(len(value))]

    def number(self, parent: LineMap, key: str, what: str) -> float | None:
        """``parent[key]`` as a non-negative number; None when absent; PlanError otherwise."""
        value = parent.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise self.error(f"{what}: {key!r} must be a non-negative number, not {value!r}",
                             parent.lines[key], fix=f"write `{key}: 2`", code="bad-value")
        return float(value)

    def choice(self, parent: LineMap, key: str, what: str, allowed: dict[str, Any],
               default: Any = None) -> Any:
        """The value ``allowed`` maps ``parent[key]`` to (matched case-insensitively);
        ``default`` when absent; PlanError (``bad-enum``) naming the allowed values otherwise."""
        value = self.text(parent, key, what)
        if value is None:
            return default
        for name, result in allowed.items():
            if name.lower() == value.strip().lower():
                return result
        raise self.error(f"{what}: invalid {key} {value!r}, expected one of: "
                         f"{', '.join(allowed)}", parent.lines[key],
                         fix=f"use one of: {', '.join(allowed)}", code="bad-enum")
