from pathlib import Path

import pytest

from planning.errors import PlanValidationError
from planning.models import Phase, Plan, PlanTask
from planning.validate import check_plan, find_cycles, validate_plan


def task(task_id: str, line: int, deps=(), files=("a.py",)) -> PlanTask:
    return PlanTask(id=task_id, title=f"T{task_id}", dependencies=list(deps), files=list(files), line=line)


def plan(*phases: list[PlanTask]) -> Plan:
    return Plan(name="p", source=Path("plan.md"), phases=[
        Phase(number=n, name=f"P{n}", tasks=tasks, line=n * 100) for n, tasks in enumerate(phases, 1)])


def messages(p: Plan) -> list[str]:
    return [str(issue) for issue in validate_plan(p)]


def test_valid_plan_has_no_issues():
    assert validate_plan(plan([task("1.1", 3)], [task("2.1", 9, ["1.1"])])) == []


def test_duplicate_task_id():
    assert messages(plan([task("1.1", 3), task("1.1", 7)])) == [
        "plan.md:7: error: duplicate task id 1.1 (first at line 3) (fix: give every task its own id)"]


def test_unknown_dependency():
    issues = validate_plan(plan([task("1.1", 3, ["9.9"])]))
    assert [(i.code, i.line) for i in issues] == [("unknown-dependency", 3)]
    assert str(issues[0]) == ("plan.md:3: error: task 1.1 depends on unknown task '9.9' "
                              "(fix: name an existing task id, e.g. `Task 1.1`)")


def test_self_dependency():
    issues = validate_plan(plan([task("1.1", 3, ["1.1"])]))
    assert [(i.code, i.message, i.line) for i in issues] == [("self-dependency", "task 1.1 depends on itself", 3)]


def test_forward_dependency_across_phases():
    issues = validate_plan(plan([task("1.1", 3, ["2.1"])], [task("2.1", 9)]))
    assert [(i.code, i.line) for i in issues] == [("forward-dependency", 3)]
    assert issues[0].message == "task 1.1 (phase 1) depends on task 2.1 in later phase 2"


def test_cycle_reported_with_path():
    p = plan([task("1.1", 3, ["1.2"]), task("1.2", 5, ["1.3"]), task("1.3", 7, ["1.1"])])
    issues = validate_plan(p)
    assert [(i.code, i.line) for i in issues] == [("dependency-cycle", 3)]
    assert str(issues[0]) == ("plan.md:3: error: dependency cycle: 1.1 -> 1.2 -> 1.3 -> 1.1 "
                              "(fix: remove one dependency of the cycle)")


def test_cross_phase_cycle_reports_both():
    p = plan([task("1.1", 3, ["2.1"])], [task("2.1", 9, ["1.1"])])
    codes = [(i.code, i.message) for i in validate_plan(p)]
    assert ("dependency-cycle", "dependency cycle: 1.1 -> 2.1 -> 1.1") in codes
    assert ("forward-dependency", "task 1.1 (phase 1) depends on task 2.1 in later phase 2") in codes
    assert find_cycles(p) == [["1.1", "2.1", "1.1"]]


def test_empty_phase():
    issues = validate_plan(plan([task("1.1", 3)], []))
    assert [(i.code, i.message, i.line) for i in issues] == [("empty-phase", "phase 2 (P2) has no tasks", 200)]


def test_no_files_is_a_warning():
    issues = validate_plan(plan([task("1.1", 3, files=())]))
    assert [(i.code, i.severity) for i in issues] == [("no-files", "warning")]
    assert str(issues[0]) == "plan.md:3: warning: task 1.1 lists no files (fix: list the files the task may change)"


def test_check_plan_returns_warnings_or_raises():
    assert [i.code for i in check_plan(plan([task("1.1", 3, files=())]))] == ["no-files"]
    with pytest.raises(PlanValidationError) as info:
        check_plan(plan([task("1.1", 3, ["1.1"], files=())]))
    assert [i.code for i in info.value.issues] == ["self-dependency", "no-files"]
    assert str(info.value) == ("plan.md:3: error: task 1.1 depends on itself "
                               "(fix: remove it from its own dependencies)")
