"""Which changed files a task did not declare: ``files_outside``."""

from __future__ import annotations

from fnmatch import fnmatchcase


def files_outside(declared: list[str], changed: list[str]) -> list[str]:
    """The paths of ``changed`` that no entry of ``declared`` covers, in ``changed``'s order.

    An entry covers a path when it is that path, a folder holding it (``src/`` or ``src``), or
    a glob matching it (``src/*.py``, ``**`` included). With no ``declared`` entry at all the
    task made no claim, so nothing is outside. Paths are repository-relative with ``/``.
    """
    if not declared:
        return []
    entries = [entry.strip().removeprefix("./").rstrip("/") for entry in declared if entry.strip()]
    return [path for path in changed if not any(_covers(entry, path) for entry in entries)]


def _covers(entry: str, path: str) -> bool:
    if path == entry or path.startswith(entry + "/"):
        return True
    return any(char in entry for char in "*?[") and fnmatchcase(path, entry)
