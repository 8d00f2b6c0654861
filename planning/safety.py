"""Rules that keep a hostile plan from reaching outside the run's worktrees.

A plan's task ids become parts of branch names, worktree folders and ref names; its file
paths reach the agent's prompt and environment; its titles end up in commit messages and the
UI. ``safety_issues`` reports, as validation errors with file, line and fix:

``unsafe-run-id``      a run id that is not 1-40 ASCII letters and digits
``unsafe-task-id``     a task id that is not 1-64 ASCII letters, digits, ``.``, ``_``, ``-``
                       starting with a letter or digit (no ``../``, ``/``, leading ``-``,
                       newlines, shell metacharacters or unicode look-alikes)
``task-id-collision``  two ids that give the same branch and worktree name (``1.1`` and ``1-1``)
``branch-collision``   two tasks whose id and title give the same branch name (``1`` titled
                       "x y" and ``1-x`` titled "y" both give ``…-task-1-x-y``)
``unsafe-title``       a title with control characters (newlines) or invisible format
                       characters (bidi overrides, zero-width spaces); length alone is fine
``unsafe-file-path``   a file path that is empty, absolute, home-relative, has a ``..`` or
                       ``.git`` part, a part starting with ``-``, a backslash, control or
                       invisible characters, or characters that Unicode NFKC normalisation
                       changes (full-width ``／``, ligatures...). Every other character a file
                       system allows is accepted (``$`` of TanStack routes, ``[slug]``,
                       ``(group)``, ``@modal``, spaces, ``;``, ``|``...)

The ``run`` command and quality gates are shell scripts by design (the plan's own code); they
are passed to ``bash -c`` as one argument and nothing else from a plan is ever interpolated
into a shell command line; file paths reach git only after ``--``.
"""

from __future__ import annotations

import re
import unicodedata

from planning.errors import Issue
from planning.models import Plan, PlanTask

RUN_ID = re.compile(r"^[A-Za-z0-9]{1,40}$")
"""A run id planflow accepts: it starts branch and worktree names."""

TASK_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
"""A task id planflow accepts."""

def safety_issues(plan: Plan) -> list[Issue]:
    """Every hostile-input finding of ``plan`` (all severity ``error``), in plan order."""
    issues = []
    if plan.run_id is not None and not RUN_ID.match(plan.run_id):
        issues.append(_issue(plan, "unsafe-run-id", f"run id {plan.run_id!r} is not 1-40 ASCII letters"
                             " and digits", 1, "use a 6-hex run id such as `a1b2c3`"))
    seen: dict[str, PlanTask] = {}
    branches: dict[str, PlanTask] = {}
    for task in plan.tasks():
        if not TASK_ID.match(task.id):
            issues.append(_issue(plan, "unsafe-task-id", f"task id {task.id!r} is not allowed",
                                 task.line, "use letters, digits, `.`, `_` and `-`, starting with a"
                                 " letter or digit (e.g. `2.1`, `T003`), at most 64 characters"))
        elif task.ref_id in seen and seen[task.ref_id].id != task.id:
            issues.append(_issue(plan, "task-id-collision",
                                 f"task ids {seen[task.ref_id].id!r} and {task.id!r} give the same"
                                 f" branch and worktree name ({task.ref_id})", task.line,
                                 "give the tasks ids that differ in more than `.` versus `-`"))
        seen.setdefault(task.ref_id, task)
        branch = f"task-{task.ref_id}-{task.slug}"  # gitops.names.branch_name after the run id
        other = branches.setdefault(branch, task)
        if other is not task and other.id != task.id and other.ref_id != task.ref_id:
            issues.append(_issue(plan, "branch-collision",
                                 f"tasks {other.id!r} ({other.title!r}) and {task.id!r}"
                                 f" ({task.title!r}) both give the branch {branch}", task.line,
                                 "change one task's id or title"))
        problem = _title_problem(task.title)
        if problem:
            issues.append(_issue(plan, "unsafe-title", f"task {task.id!r}: title {problem}", task.line,
                                 "write the title on one line of visible characters"))
        for path in task.files:
            problem = file_path_problem(path)
            if problem:
                issues.append(_issue(plan, "unsafe-file-path",
                                     f"task {task.id!r}: file {path!r} {problem}", task.line,
                                     "list files as plain paths relative to the repository root,"
                                     " e.g. `src/app.py`"))
    return issues


def file_path_problem(path: str) -> str | None:
    """Why ``path`` may not be a plan's file path (a phrase such as ``"is absolute"``), or None
    when it is a plain repository-relative path."""
    if not path.strip():
        return "is empty"
    if path.startswith(("/", "~")) or re.match(r"^[A-Za-z]:", path):
        return "is absolute"
    if "\\" in path:
        return "holds a backslash"
    bad = _invisible(path)
    if bad:
        return f"holds {bad}"
    if unicodedata.normalize("NFKC", path) != path:
        return "holds look-alike characters (Unicode NFKC changes it)"
    for part in path.split("/"):
        if part == "..":
            return "leaves the repository (`..`)"
        if part.lower() == ".git":
            return "points into git's own folder (`.git`)"
        if part.startswith("-"):
            return "has a part starting with `-` (it would read as a command option)"
    return None


def _title_problem(title: str) -> str | None:
    bad = _invisible(title)
    return f"holds {bad}" if bad else None


def _invisible(text: str) -> str | None:
    """A description of the first control or invisible format character in ``text``, or None."""
    for char in text:
        category = unicodedata.category(char)
        if category in ("Cc", "Cf", "Zl", "Zp"):
            name = unicodedata.name(char, f"U+{ord(char):04X}")
            return f"the invisible or control character {name} (U+{ord(char):04X})"
    return None


def _issue(plan: Plan, code: str, message: str, line: int | None, fix: str) -> Issue:
    return Issue(code=code, severity="error", message=message, file=plan.source, line=line, fix=fix)
