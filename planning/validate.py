"""Validation of a parsed plan: every finding is an :class:`Issue` with a stable code.

Errors: ``duplicate-task-id``, ``unknown-dependency``, ``self-dependency``,
``forward-dependency`` (a dependency on a task in a later phase), ``dependency-cycle``,
``empty-phase``. Warnings: ``no-files``.
"""

from __future__ import annotations

from planning.errors import Issue, PlanValidationError
from planning.models import Plan, PlanTask


def validate_plan(plan: Plan) -> list[Issue]:
    """All findings for ``plan``, errors first, each in plan order; never raises."""
    issues = (
        _empty_phases(plan) + _duplicates(plan) + _dependency_issues(plan) + _cycles(plan)
        + _missing_files(plan)
    )
    return sorted(issues, key=lambda issue: issue.severity != "error")


def check_plan(plan: Plan) -> list[Issue]:
    """The warnings for ``plan``; raises PlanValidationError (carrying every issue) when any
    finding is an error."""
    issues = validate_plan(plan)
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

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        path.append(node)
        for dep in graph.get(node, []):
            if state.get(dep) == 1:
                cycle = path[path.index(dep):]
                if frozenset(cycle) not in seen:
                    seen.add(frozenset(cycle))
                    start = min(range(len(cycle)), key=lambda i: order[cycle[i]])
                    cycle = cycle[start:] + cycle[:start]
                    cycles.append(cycle + [cycle[0]])
            elif dep not in state:
                visit(dep, path)
        path.pop()
        state[node] = 2

    for task_id in order:
        if task_id not in state:
            visit(task_id, [])
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
