"""Absolute paths of the plan author's checkout, read as repository-relative paths.

Agents write a task's files as absolute paths of the checkout they ran in
(``/Users/alice/projects/shop-vite/src/app/ui/table.tsx``). When such paths share the prefix of
that checkout, :func:`map_absolute_paths` strips it (``src/app/ui/table.tsx``) from the task's
files and body, and says so in one warning (``absolute-paths-mapped``) naming the prefix.

The prefix: with a repository, the folder under which the most mapped paths exist in it (2
points a path, 1 its folder other than the root; ties go to the shortest prefix); without one,
or when no path or folder exists, the longest common folder of the plan's absolute paths, cut
before a usual top-level folder of a project (``src``, ``app``, ``tests``...). A prefix keeps
at least a home folder's depth (``/Users/<name>/<checkout>``, ``/home/<name>/<checkout>``) and
is never a system folder (``/etc``, ``/usr``...): ``/etc/passwd`` on its own and ``~/.ssh/config``
stay absolute and ``planning.safety`` reports them.
"""

from __future__ import annotations

import posixpath
from pathlib import Path

from planning.errors import Issue
from planning.models import Plan

SYSTEM_FOLDERS = frozenset({"etc", "usr", "bin", "sbin", "lib", "lib64", "proc", "sys", "dev",
                            "boot", "run", "snap", "System", "Library", "Applications"})
"""First folders of an absolute path that are never an author's checkout."""

MIN_PARTS = {"Users": 3, "home": 3, "var": 3, "private": 3, "root": 2, "tmp": 2, "mnt": 2,
             "Volumes": 2}
"""How many folders a prefix under these first folders keeps at least (a home folder's depth
plus the checkout); any other first folder needs 1 (``/app``, ``/workspace``)."""

PROJECT_FOLDERS = frozenset({"src", "app", "apps", "lib", "libs", "packages", "tests", "test",
                             "docs", "cmd", "internal", "pkg", "scripts", "specs", "public",
                             "components", "pages", "server", "client", "web", "api", ".github"})
"""Folders that usually sit at the top of a repository: a checkout's folder is above them."""


def _parts(path: str) -> list[str]:
    return [part for part in path.split("/") if part]


def _allowed(parts: list[str]) -> bool:
    """Whether the folder ``/``-joined ``parts`` may be a checkout's prefix."""
    return bool(parts) and parts[0] not in SYSTEM_FOLDERS and len(parts) >= MIN_PARTS.get(parts[0], 1)


def _relative(path: str, prefix: list[str]) -> str | None:
    parts = path.split("/")[1:]
    if len(parts) > len(prefix) and parts[: len(prefix)] == prefix:
        return "/".join(parts[len(prefix):])
    return None


def choose_prefix(paths: list[str], repo: Path | None = None) -> list[str] | None:
    """The folders of the checkout prefix to strip from the absolute ``paths`` (``["Users",
    "alice", "shop"]``), or None when none qualifies (see the module docstring)."""
    absolute = [path for path in paths if path.startswith("/") and not path.startswith("//")
                and (_parts(path) or ["etc"])[0] not in SYSTEM_FOLDERS]
    if not absolute:
        return None
    if repo is not None:
        scores: dict[tuple[str, ...], int] = {}
        for path in absolute:
            folders = _parts(path)[:-1]
            for depth in range(1, len(folders) + 1):
                if _allowed(folders[:depth]):
                    scores.setdefault(tuple(folders[:depth]), 0)
        for prefix in scores:
            for path in absolute:
                rel = _relative(path, list(prefix))
                if rel is None:
                    continue
                target = repo / rel
                if target.exists():
                    scores[prefix] += 2
                elif target.parent != repo and target.parent.is_dir():
                    scores[prefix] += 1
        best = max(scores.items(), key=lambda item: (item[1], -len(item[0])), default=(None, 0))
        if best[1] > 0:
            return list(best[0])
    common = _parts(posixpath.commonpath([posixpath.dirname(path) for path in absolute]))
    for depth, part in enumerate(common):
        if part in PROJECT_FOLDERS and _allowed(common[:depth]):
            return common[:depth]
    return common if _allowed(common) else None


def map_absolute_paths(plan: Plan, repo: Path | None = None) -> Plan:
    """``plan`` with the checkout prefix (:func:`choose_prefix`) stripped from every task's files
    and body, and one ``absolute-paths-mapped`` warning naming it; ``plan`` itself when no file
    is absolute or no prefix qualifies. Paths outside the prefix are left for validation."""
    files = [path for task in plan.tasks() for path in task.files]
    prefix = choose_prefix(files, repo)
    if prefix is None:
        return plan
    plan = plan.model_copy(deep=True)
    text = "/" + "/".join(prefix) + "/"
    mapped, first_line = 0, None
    for task in plan.tasks():
        new = [_relative(path, prefix) or path for path in task.files]
        changed = sum(a != b for a, b in zip(new, task.files))
        if changed:
            mapped += changed
            first_line = first_line or task.line
            task.files = list(dict.fromkeys(new))
            task.body = task.body.replace(text, "")
    plan.parse_warnings.append(Issue(
        code="absolute-paths-mapped", severity="warning", file=plan.source, line=first_line,
        message=f"{mapped} absolute file paths under {text} are read relative to the repository",
        fix="write files relative to the repository root, e.g. `src/app.py`"))
    return plan
