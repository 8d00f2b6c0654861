"""Parser for JSON plans of the shape spectacular-codex documents (``docs/plan-schema.md``).

    {"runId": "0729be", "featureSlug": "mobile-optimizations",
     "phases": [{"id": 1, "name": "Layout", "strategy": "parallel",
                 "tasks": [{"id": "1-1", "name": "Refactor breakpoints",
                            "description": "Update layout.tsx", "files": ["src/layout.tsx"],
                            "acceptanceCriteria": ["..."], "dependencies": []}]}]}

The tool-call wrapper ``{"plan": {...}}`` is accepted too. Phases run in document order.
"""

from __future__ import annotations

import re
from pathlib import Path

from planning.models import Phase, Plan, PlanTask, Strategy
from planning.yamldoc import Doc, LineMap, load_json

STRATEGIES = {"parallel": Strategy.parallel, "sequential": Strategy.sequential}
_RUN_ID = re.compile(r"^[0-9a-f]{6}$")


def parse_json_plan(text: str, source: Path | None = None) -> Plan:
    """Parse a spectacular-codex JSON plan into a :class:`Plan`.

    Args: ``text`` the JSON document; ``source`` its path. Returns the plan (``runId`` as run
    id when it is 6 hex digits). Raises :class:`PlanError` with file and line for invalid JSON,
    a missing ``phases``, phase ``tasks`` or task ``id``, an unknown ``strategy``
    (``bad-enum``), or a value of the wrong type.
    """
    doc = Doc(source, "JSON plan")
    root = doc.mapping(load_json(text, source), "the plan", 1)
    if isinstance(root.get("plan"), LineMap):
        root = root["plan"]
    run_id = doc.text(root, "runId", "the plan")
    slug = doc.text(root, "featureSlug", "the plan")
    phases = []
    items = doc.items(root, "phases", "the plan")
    for number, (item, line) in enumerate(zip(items, items.lines), start=1):
        node = doc.mapping(item, f"phase {number}", line)
        what = f"phase {doc.text(node, 'id', f'phase {number}') or number}"
        tasks = doc.items(node, "tasks", what)
        phases.append(Phase(
            number=number, name=doc.text(node, "name", what) or f"Phase {number}",
            strategy=doc.choice(node, "strategy", what, STRATEGIES, default=Strategy.sequential),
            tasks=[_task(doc, doc.mapping(task, f"{what} task", task_line))
                   for task, task_line in zip(tasks, tasks.lines)],
            line=node.line))
    return Plan(
        name=slug or (source.stem if source else "plan"),
        run_id=run_id if run_id and _RUN_ID.match(run_id) else None,
        source=source,
        spec=f"specs/{run_id}-{slug}/spec.md" if run_id and slug else None,
        phases=phases,
    )


def _task(doc: Doc, node: LineMap) -> PlanTask:
    task_id = doc.text(node, "id", "a task", required=True)
    what = f"task {task_id}"
    return PlanTask(
        id=task_id,
        title=doc.text(node, "name", what) or task_id,
        body=doc.text(node, "description", what) or "",
        files=doc.texts(node, "files", what),
        dependencies=doc.texts(node, "dependencies", what),
        acceptance_criteria=doc.texts(node, "acceptanceCriteria", what),
        line=node.line,
    )
