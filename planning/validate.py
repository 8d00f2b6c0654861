"""Validation of a parsed plan: every finding is an :class:`Issue` with a stable code.

Errors: ``duplicate-task-id``, ``unknown-dependency``, ``self-dependency``,
``forward-dependency`` (a dependency on a task in a later phase), ``dependency-cycle``, ``empty-phase``, ``task-too-large`` (size XL or more
than 8 hours), and the hostile-input rules of ``planning.safety`` (``unsafe-task-id``,
``unsafe-file-path``...). Warnings: ``no-files``, ``file-conflict`` (two tasks that may run at the same
time declare the same file; an error with ``strict``), ``blocked-without-reason``, what
the parser reported (``Plan.parse_warnings``), and the requirements tracing of
``planning.tracing`` (``uncovered-requirement``, ``unknown-requirement``; errors with ``strict``).
"""

from __future__ import annotations

from planning.conflicts import file_conflicts
from planning.errors import Issue, PlanValidationError
from planning.models import XL_HOURS, Plan, PlanTask, Size
from planning.safety import safety_issues
from planning.tracing import requirement_issues


def validate_plan(plan: Plan, strict: bool = False) -> list[Issue]:
    """All findings for ``plan``, errors first, each in plan order; never raises.

    ``strict`` makes file conflicts and requirement findings errors instead of warnings.
    """
    issues = (
        safety_issues(plan) + _empty_phases(plan) + _duplicates(plan) + _dependency_issues(plan)
        + _cycles(plan) + _too_large(plan)
    )
    if not issues:
        issues += _conflicts(plan, strict)
    issues += _missing_files(plan) + _blocked(plan) + list(plan.parse_warnings)
    issues += requirement_issues(plan, strict)
    return sorted(issues, key=lambda issue: issue.severity != "error")


def check_plan(plan: Plan, strict: bool = False) -> list[Issue]:
    """The warnings for ``plan``; raises PlanValidationError (carrying every issue) when any
    finding is an error (with ``strict``, file conflicts are errors)."""
    issues = validate_plan(plan, strict)
    if any(issue.severity == "error" for issue in issues):
        raise PlanValidationError(issues)
    return issues


def _issue(plan: Plan, code: str, message: str, line: int | None, fix: str,
           severity: str = "error") -> Issue:
    return Issue(code=code, severity=severity, message=message, file=plan.source, line=line, fix=fix)


def _empty_phases(plan: Plan) -> list[Issue]:
    return [
        _issue(plan, "empty-phase", f"phase {phase.number} ({phase.name}) has no tasks", phase.line,
               "add tasks to the phase or remove it")
        for phase in plan.phases if not phase.tasks
    ]


def _duplicates(plan: Plan) -> list[Issue]:
    first: dict[str, PlanTask] = {}
    issues = []
    for task in plan.tasks():
        if task.id in first:
            where = f" (first at line {first[task.id].line})" if first[task.id].line else ""
            issues.append(_issue(plan, "duplicate-task-id", f"duplicate task id {task.id}{where}",
                                 task.line, "give every task its own id"))
        first.setdefault(task.id, task)
    return issues


def _dependency_issues(plan: Plan) -> list[Issue]:
    phase_of = {task.id: phase.number for phase in plan.phases for task in phase.tasks}
    issues = []
    for phase in plan.phases:
        for task in phase.tasks:
            for dep in task.dependencies:
                if dep == task.id:
                    issues.append(_issue(plan, "self-dependency", f"task {task.id} depends on itself",
                                         task.line, "remove it from its own dependencies"))
                elif dep not in phase_of:
                    issues.append(_issue(plan, "unknown-dependency",
                                         f"task {task.id} depends on unknown task {dep!r}", task.line,
                                         "name an existing task id, e.g. `Task 1.1`"))
                elif phase_of[dep] > phase.number:
                    issues.append(_issue(
                        plan, "forward-dependency",
                        f"task {task.id} (phase {phase.number}) depends on task {dep} "
                        f"in later phase {phase_of[dep]}", task.line,
                        "move the dependency to an earlier phase or this task to a later one"))
    return issues


def find_cycles(plan: Plan) -> list[list[str]]:
    """Dependency cycles among known tasks (self dependencies excluded), each as a path of ids
    starting and ending at its earliest task in plan order: ``["1.1", "2.1", "1.1"]``."""
    order: dict[str, int] = {}
    for index, task in enumerate(plan.tasks()):
        order.setdefault(task.id, index)
    graph = {task.id: [d for d in task.dependencies if d in order and d != task.id]
             for task in plan.tasks()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []
    seen: set[frozenset[str]] = set()
    for root in order:
        if root in state:
            continue
        state[root] = 1
        path, stack = [root], [iter(graph[root])]
        while stack:
            dep = next(stack[-1], None)
            if dep is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(dep) == 1:
                cycle = path[path.index(dep):]
                if frozenset(cycle) not in seen:
                    seen.add(frozenset(cycle))
                    start = min(range(len(cycle)), key=lambda i: order[cycle[i]])
                    cycle = cycle[start:] + cycle[:start]
                    cycles.append(cycle + [cycle[0]])
            elif dep not in state:
                state[dep] = 1
                path.append(dep)
                stack.append(iter(graph[dep]))
    return cycles


def _cycles(plan: Plan) -> list[Issue]:
    lines = {task.id: task.line for task in reversed(plan.tasks())}
    return [
        _issue(plan, "dependency-cycle", "dependency cycle: " + " -> ".join(cycle), lines[cycle[0]],
               "remove one dependency of the cycle")
        for cycle in find_cycles(plan)
    ]


def _missing_files(plan: Plan) -> list[Issue]:
    return [
        _issue(plan, "no-files", f"task {task.id} lists no files", task.line,
               "list the files the task may change", severity="warning")
        for task in plan.tasks() if not task.files
    ]


def _too_large(plan: Plan) -> list[Issue]:
    return [
        _issue(plan, "task-too-large",
               f"task {task.id} is too large for one agent run "
               f"({'size XL' if task.size is Size.XL else f'{task.hours:g}h'})", task.line,
               f"split it into tasks of at most {XL_HOURS:g}h (size L or smaller)")
        for task in plan.tasks()
        if task.size is Size.XL or (task.hours is not None and task.hours > XL_HOURS)
    ]


def _conflicts(plan: Plan, strict: bool) -> list[Issue]:
    lines = {task.id: task.line for task in plan.tasks()}
    return [
        _issue(plan, "file-conflict",
               f"tasks {c.first} and {c.second} may run at the same time and both declare "
               f"{', '.join(c.files)}", lines[c.second],
               f"make {c.second} depend on {c.first} (or run without --allow-overlap: one lane)",
               severity="error" if strict else "warning")
        for c in file_conflicts(plan)
    ]


def _blocked(plan: Plan) -> list[Issue]:
    return [
        _issue(plan, "blocked-without-reason", f"task {task.id} is blocked without a reason",
               task.line, "say why in `blocked_reason`", severity="warning")
        for task in plan.tasks()
        if task.status == "blocked" and not (task.blocked_reason or "").strip()
    ]
