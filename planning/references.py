"""Dependencies written the way people write them, read into task references.

``dependency_refs`` reads the text of a markdown ``**Dependencies**:`` field:

    None / none / N/A / - / — / "None (foundation task)"   -> no dependency
    Task 1.1, Tasks 2.1, 2.3, Task 1.1 and 1.2              -> 1.1 / 2.1, 2.3 / 1.1, 1.2
    Task 5 (API layer), 2.1 (schema)                        -> 5 / 2.1 (a parenthesis is a comment)
    Phase 1, Phase 2 complete, Phase 5 (API layer)          -> Phase 1 / Phase 2 / Phase 5

``resolve_refs`` then turns each reference into task ids: a ``Phase N`` reference into every
task of phase N, anything else through :func:`resolve_reference`. What does not resolve is kept
as written, so validation reports ``unknown-dependency`` naming exactly what was read.
"""

from __future__ import annotations

import re

from planning.models import Phase

_NONE = re.compile(r"^(?:none|n/?a|nothing|no\s+dependenc(?:y|ies)|-+|[–—]+)\W*$", re.I)
_COMMENT = re.compile(r"\([^)]*\)|\[[^\]]*\]\([^)]*\)")
_PHASE_REF = re.compile(r"^phase\s+(\d+)\b", re.I)
_TASK_REF = re.compile(r"^(?:tasks?\s*(?:groups?\s*)?)?#?\s*([A-Za-z]*\d+(?:[.-]\d+)*[a-z]?)"
                       r"(?:\s+(?:is\s+|must\s+be\s+)?(?:complete[d]?|done|finished|merged))?\W*$",
                       re.I)
_SPLIT = re.compile(r",|;|\n|\s+and\s+|\s+&\s+", re.I)


def dependency_refs(text: str) -> list[str]:
    """The references in a dependency field's text (see the module docstring), in order,
    without duplicates: ``"Phase N"`` for a phase, the task id as written for a task, the part as
    written (stripped of bullets, comments and a leading ``Task``) for what reads as neither."""
    refs = []
    for part in _SPLIT.split(re.sub(r"[\[\]`*]", " ", _COMMENT.sub(" ", text))):
        part = re.sub(r"^\s*(?:[-+]\s+|\d+[.)]\s+)?", "", part)
        part = part.strip().strip(".").strip()
        if not part or _NONE.match(part):
            continue
        if match := _PHASE_REF.match(part):
            refs.append(f"Phase {match.group(1)}")
        elif match := _TASK_REF.match(part):
            refs.append(match.group(1))
        else:
            refs.append(re.sub(r"^tasks?\s+", "", part, flags=re.I))
    return list(dict.fromkeys(refs))


def phase_reference(ref: str) -> int | None:
    """The phase number ``ref`` names (``"Phase 2"`` -> 2), or None."""
    match = re.fullmatch(r"Phase (\d+)", ref)
    return int(match.group(1)) if match else None


def resolve_refs(phases: list[Phase]) -> None:
    """Replace each task's dependency references by task ids, in place: ``Phase N`` by every task
    of the phase numbered N other than the task itself, other references by
    :func:`resolve_reference` over every task id of the plan."""
    ids = [task.id for phase in phases for task in phase.tasks]
    known = set(ids)
    by_number = {phase.number: [task.id for task in phase.tasks] for phase in phases}
    for phase in phases:
        for task in phase.tasks:
            resolved = []
            for ref in task.dependencies:
                number = phase_reference(ref)
                if number in by_number:
                    resolved += [i for i in by_number[number] if i != task.id]
                else:
                    resolved.append(ref if ref in known else resolve_reference(ref, ids))
            task.dependencies = list(dict.fromkeys(resolved))


def _numbers(text: str) -> tuple[int, ...]:
    """Leading numeric parts: ``task-1-2-x`` -> (1, 2); ``1.2`` -> (1, 2); ``T003`` -> ()."""
    tokens = re.split(r"[.\-_\s]+", text.strip())
    while tokens and not tokens[0].isdigit():
        tokens.pop(0)
    numbers = []
    for token in tokens:
        if not token.isdigit():
            break
        numbers.append(int(token))
    return tuple(numbers)


def resolve_reference(ref: str, task_ids: list[str]) -> str:
    """The task id ``ref`` names (exact id, else the longest id whose numeric parts lead
    ``ref``: ``task-1-2`` and ``1.2`` both name ``1-2``); ``ref`` itself when none matches."""
    if ref in task_ids:
        return ref
    wanted = _numbers(ref)
    best, best_len = ref, 0
    for task_id in task_ids:
        numbers = _numbers(task_id)
        if numbers and wanted[: len(numbers)] == numbers and len(numbers) > best_len:
            best, best_len = task_id, len(numbers)
    return best


def dependency_layers(deps: dict[str, list[str]]) -> list[list[str]]:
    """The layers of a dependency graph (``{id: ids it depends on}``, in plan order): layer 1
    holds the ids depending on nothing known, layer k those whose known dependencies are all in
    earlier layers, each in plan order. Ids in a cycle form one last layer (validation reports
    the cycle)."""
    placed: set[str] = set()
    pending = list(deps)
    layers = []
    while pending:
        layer = [i for i in pending if all(d in placed or d not in deps or d == i for d in deps[i])]
        layer = layer or pending
        layers.append(layer)
        placed.update(layer)
        pending = [i for i in pending if i not in placed]
    return layers
