"""Parser for planflow's own YAML plan format (strict: unknown keys are errors).

    name: user-auth                 # required
    run_id: a1b2c3                  # optional, 6 hex
    spec: specs/a1b2c3-user-auth/spec.md
    phases:
      - name: Foundation
        strategy: sequential        # or parallel; default sequential
        max_parallel: 3
        tasks:
          - id: "1.1"
            title: Create the schema
            prompt: ...             # -> body
            files: [db/schema.sql]
            depends_on: ["0.1"]     # -> dependencies
            size: M
            hours: 2
            acceptance: [...]       # -> acceptance_criteria
            verify: ["pytest -q"]   # -> quality_gates
            agent: shell
            run: "echo hi > x"
            allow_empty: false

Phase numbers are 1-based positions. Ids and dependency ids are read as written
(``1.10`` stays ``1.10``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from planning.errors import PlanError
from planning.models import Phase, Plan, PlanTask
from planning.yamldoc import SafeLoader, check_nesting, yaml_error_line

PLAN_KEYS = {"name": "name", "run_id": "run_id", "spec": "spec", "phases": "phases"}
PHASE_KEYS = {"name": "name", "strategy": "strategy", "max_parallel": "max_parallel", "tasks": "tasks"}
TASK_KEYS = {
    "id": "id", "title": "title", "prompt": "body", "files": "files", "depends_on": "dependencies",
    "size": "size", "hours": "hours", "acceptance": "acceptance_criteria",
    "verify": "quality_gates", "agent": "agent", "run": "run", "allow_empty": "allow_empty",
}
_AS_WRITTEN = {"id", "run_id", "size"}
_RUN_ID = re.compile(r"^[0-9a-f]{6}$")


class _Reader:
    """Walks composed YAML nodes so every error can name its line."""

    def __init__(self, text: str, source: Path | None) -> None:
        self.source = source
        self.text = text
        self.loader: SafeLoader | None = None

    def error(self, message: str, node: yaml.Node, fix: str, code: str = "bad-native-plan") -> PlanError:
        return PlanError(message, self.source, node.start_mark.line + 1, fix=fix, code=code)

    def root(self) -> yaml.Node | None:
        check_nesting(self.text, self.source)
        try:
            self.loader = SafeLoader(self.text)
            return self.loader.get_single_node()
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
            line = mark.line + 1 if mark else yaml_error_line(exc, self.text)
            raise PlanError(f"invalid YAML: {exc}", self.source, line,
                            fix="fix the YAML syntax at that line", code="bad-yaml") from exc

    def mapping(self, node: yaml.Node, allowed: dict[str, str], what: str) -> dict[str, yaml.Node]:
        if not isinstance(node, yaml.MappingNode):
            raise self.error(f"{what} must be a mapping", node, fix=f"write {what} as `key: value` lines")
        result: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key not in allowed:
                raise self.error(f"unknown key {key!r} in {what}", key_node,
                                 fix=f"use one of: {', '.join(allowed)}", code="unknown-key")
            if key in result:
                raise self.error(f"duplicate key {key!r} in {what}", key_node,
                                 fix="keep one of them", code="duplicate-key")
            result[key] = value_node
        return result

    def require(self, nodes: dict[str, yaml.Node], key: str, parent: yaml.Node, what: str) -> yaml.Node:
        if key not in nodes:
            raise self.error(f"{what} is missing required key {key!r}", parent,
                             fix=f"add `{key}:`", code="missing-key")
        return nodes[key]

    def sequence(self, node: yaml.Node, what: str) -> list[yaml.Node]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.error(f"{what} must be a list", node, fix=f"write {what} as `- item` lines")
        return list(node.value)

    def value(self, key: str, node: yaml.Node) -> Any:
        """The Python value of ``node``; ids and references stay strings as written."""
        if key in _AS_WRITTEN and isinstance(node, yaml.ScalarNode):
            return node.value
        if key == "depends_on":
            return [self.value("id", item) for item in self.sequence(node, key)]
        try:
            return self.loader.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, OverflowError) as exc:
            raise self.error(f"unreadable value: {exc}", node, fix=f"correct the value of `{key}`",
                             code="bad-value") from exc

    def build(self, model: type, nodes: dict[str, yaml.Node], keys: dict[str, str],
              parent: yaml.Node, what: str, **extra: Any) -> Any:
        fields = {keys[key]: self.value(key, node) for key, node in nodes.items()}
        try:
            return model(**fields, **extra)
        except ValidationError as exc:
            first = exc.errors()[0]
            field_name = str(first["loc"][0]) if first["loc"] else ""
            key = next((k for k, v in keys.items() if v == field_name), field_name)
            raise self.error(f"{what}: invalid {key!r}: {first['msg']}", nodes.get(key, parent),
                             fix=f"correct the value of `{key}`", code="bad-value") from exc


def parse_native(text: str, source: Path | None = None) -> Plan:
    """Parse a planflow YAML plan into a :class:`Plan`.

    ``text`` is the YAML document; ``source`` its path (for error locations and
    ``Plan.source``). Raises :class:`PlanError` with file and line for invalid YAML, an
    unknown or duplicate key, a missing required key (``name``, ``phases``, phase ``name`` and
    ``tasks``, task ``id`` and ``title``), a value of the wrong type, or a run id that is not
    6 hex digits. A phase with an empty task list is left to validation.
    """
    reader = _Reader(text, source)
    root = reader.root()
    if root is None:
        raise PlanError("the plan file is empty", source, 1, fix="start with `name:` and `phases:`",
                        code="bad-native-plan")
    top = reader.mapping(root, PLAN_KEYS, "the plan")
    reader.require(top, "name", root, "the plan")
    phase_nodes = reader.sequence(reader.require(top, "phases", root, "the plan"), "phases")
    if "run_id" in top and not _RUN_ID.match(str(top["run_id"].value)):
        raise reader.error(f"run_id {top['run_id'].value!r} is not 6 hex digits", top["run_id"],
                           fix="use 6 lowercase hex digits like `a1b2c3`, or leave it out",
                           code="bad-run-id")
    phases = [_phase(reader, node, number) for number, node in enumerate(phase_nodes, start=1)]
    plan_fields = {key: node for key, node in top.items() if key != "phases"}
    return reader.build(Plan, plan_fields, PLAN_KEYS, root, "the plan", source=source, phases=phases)


def _phase(reader: _Reader, node: yaml.Node, number: int) -> Phase:
    what = f"phase {number}"
    nodes = reader.mapping(node, PHASE_KEYS, what)
    reader.require(nodes, "name", node, what)
    task_nodes = reader.sequence(reader.require(nodes, "tasks", node, what), f"{what} tasks")
    tasks = [_task(reader, task_node, f"{what} task {index}")
             for index, task_node in enumerate(task_nodes, start=1)]
    phase_fields = {key: value for key, value in nodes.items() if key != "tasks"}
    return reader.build(Phase, phase_fields, PHASE_KEYS, node, what, number=number, tasks=tasks,
                        line=node.start_mark.line + 1)


def _task(reader: _Reader, node: yaml.Node, what: str) -> PlanTask:
    nodes = reader.mapping(node, TASK_KEYS, what)
    for key in ("id", "title"):
        reader.require(nodes, key, node, what)
    return reader.build(PlanTask, nodes, TASK_KEYS, node, what, line=node.start_mark.line + 1)
