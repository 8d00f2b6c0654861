"""Every format's parser on small written fixtures: detection, model mapping, errors with lines."""

from __future__ import annotations

import pytest

from plan_fixtures import (AUTOSPEC, BY_FORMAT, CHOPSTACK_V1, CHOPSTACK_V2, DROIDZ, DROIDZ_GROUPS,
                           JSON_PLAN, SPECKIT)
from planning.errors import PlanError
from planning.loader import detect_format, load_plan
from planning.models import Size, Strategy
from planning.schedule import plan_waves, runnable
from planning.validate import validate_plan


def write(tmp_path, fixture):
    path = tmp_path / fixture[0]
    path.write_text(fixture[1])
    return path


def waves(plan):
    return [[[t.id for t in wave] for wave in phase] for phase in plan_waves(plan)]


def errors(plan, strict=False):
    return [i for i in validate_plan(plan, strict) if i.severity == "error"]


@pytest.mark.parametrize("name", BY_FORMAT)
def test_each_fixture_is_detected_and_valid(name, tmp_path):
    path = write(tmp_path, BY_FORMAT[name])
    assert detect_format(path, path.read_text()) == name
    assert errors(load_plan(path)) == []


def test_speckit(tmp_path):
    plan = load_plan(write(tmp_path, SPECKIT))
    assert plan.name == "Greeter"
    assert [p.strategy for p in plan.phases] == [Strategy.sequential, Strategy.parallel]
    assert plan.phases[0].notes == ["the package imports"]
    t1, t2, t3, t4, t5 = plan.tasks()
    assert (t1.status, t2.status) == ("done", "pending")
    assert t3.files == ["greeter/hello.py"] and t3.title == "Add the greeting in greeter/hello.py"
    assert [t3.dependencies, t4.dependencies, t5.dependencies] == [[], [], ["T003", "T004"]]
    assert waves(plan) == [[["T001"], ["T002"]], [["T003", "T004"], ["T005"]]]
    assert runnable(plan)[1] == {"T001": "already done"}


def test_speckit_task_outside_phase(tmp_path):
    path = tmp_path / "tasks.md"
    path.write_text("# Tasks\n\n- [ ] T001 Do it\n")
    with pytest.raises(PlanError) as info:
        load_plan(path)
    assert (info.value.code, info.value.line) == ("task-outside-phase", 3)


def test_autospec(tmp_path):
    plan = load_plan(write(tmp_path, AUTOSPEC))
    assert plan.name == "001-greeter"
    t1, t2, t3, t4 = plan.tasks()
    assert [t.status for t in plan.tasks()] == ["done", "pending", "blocked", "pending"]
    assert t3.blocked_reason == "waiting for copy" and t2.files == ["greeter/hello.py"]
    assert plan.phases[0].strategy is Strategy.parallel
    assert plan.phases[1].strategy is Strategy.sequential
    assert runnable(plan) == (["T002"], {"T001": "already done",
                                         "T003": "blocked: waiting for copy",
                                         "T004": "depends on blocked task T003"})


@pytest.mark.parametrize("change, code, line", [
    ('status: "Pending"', "bad-enum", 18),
    ('type: "implementation"', "bad-enum", 19),
])
def test_autospec_unknown_enum_values(tmp_path, change, code, line):
    path = tmp_path / "tasks.yaml"
    key = change.split(":")[0]
    path.write_text(AUTOSPEC[1].replace(change, f'{key}: "Bogus"', 1))
    with pytest.raises(PlanError) as info:
        load_plan(path)
    assert (info.value.code, info.value.line) == (code, line)
    assert "expected one of" in info.value.message


def test_autospec_blocked_without_reason_warns(tmp_path):
    path = tmp_path / "tasks.yaml"
    path.write_text(AUTOSPEC[1].replace('        blocked_reason: "waiting for copy"\n', ""))
    issues = validate_plan(load_plan(path))
    assert [(i.code, i.severity, i.line) for i in issues
            if i.code == "blocked-without-reason"] == [("blocked-without-reason", "warning", 27)]


def test_autospec_unknown_field_is_a_warning(tmp_path):
    path = tmp_path / "tasks.yaml"
    path.write_text(AUTOSPEC[1].replace('        type: "setup"\n', '        type: "setup"\n        owner: me\n'))
    issues = validate_plan(load_plan(path))
    assert [(i.code, i.line) for i in issues if i.code == "unknown-field"] == [("unknown-field", 13)]


def test_droidz_first_generation(tmp_path):
    plan = load_plan(write(tmp_path, DROIDZ))
    assert [p.strategy for p in plan.phases] == [Strategy.sequential, Strategy.parallel,
                                                 Strategy.sequential]
    assert [t.id for t in plan.tasks()] == ["1.1", "A", "B", "3.1"]
    assert plan.task("3.1").dependencies == ["A", "B"]
    assert plan.task("A").dependencies == [] and plan.task("B").size is Size.M
    assert plan.task("A").files == ["greeter/hello.py"]


def test_droidz_task_groups(tmp_path):
    plan = load_plan(write(tmp_path, DROIDZ_GROUPS))
    assert [(p.name, len(p.tasks)) for p in plan.phases] == [("Setup & Infrastructure", 2)]
    t1, t2 = plan.tasks()
    assert (t1.size, t2.size, t2.dependencies) == (Size.S, Size.M, ["1.1"])
    assert t1.acceptance_criteria == ["the package imports"]


def test_droidz_done_when_every_step_is_checked(tmp_path):
    path = tmp_path / "tasks.md"
    path.write_text(DROIDZ[1].replace("- [ ] Create greeter/__init__.py", "- [x] Create greeter/__init__.py"))
    assert load_plan(path).task("1.1").status == "done"


def test_chopstack_v1(tmp_path):
    plan = load_plan(write(tmp_path, CHOPSTACK_V1))
    assert detect_format(tmp_path / "plan.yaml", CHOPSTACK_V1[1]) == "chopstack"
    assert plan.task("hello").files == ["greeter/__init__.py", "greeter/hello.py"]
    assert waves(plan) == [[["base"], ["hello", "bye"]]]


def test_chopstack_v2(tmp_path):
    plan = load_plan(write(tmp_path, CHOPSTACK_V2))
    assert [(p.name, p.strategy) for p in plan.phases] == [("Foundation", Strategy.sequential),
                                                           ("Features", Strategy.parallel)]
    hello = plan.task("task-2")
    assert (hello.size, hello.hours, hello.files) == (Size.M, 1.5, ["greeter/hello.py"])
    assert plan.task("task-3").size is Size.S


def test_chopstack_phase_requiring_a_later_phase(tmp_path):
    path = tmp_path / "plan.yaml"
    path.write_text(CHOPSTACK_V2[1].replace("    strategy: sequential\n    tasks: [task-1]",
                                            "    strategy: sequential\n    requires: [phase-2]\n    tasks: [task-1]"))
    with pytest.raises(PlanError) as info:
        load_plan(path)
    assert (info.value.code, info.value.line) == ("forward-dependency", 7)


def test_json_plan(tmp_path):
    plan = load_plan(write(tmp_path, JSON_PLAN))
    assert (plan.run_id, plan.name, plan.spec) == ("0729be", "greeter", "specs/0729be-greeter/spec.md")
    assert plan.task("2-1").line == 10 and plan.task("2-1").acceptance_criteria == ["greet() works"]


def test_invalid_json_names_the_line(tmp_path):
    path = tmp_path / "plan.json"
    path.write_text('{\n  "phases": [\n    {"id": 1,}\n  ]\n}\n')
    with pytest.raises(PlanError) as info:
        load_plan(path)
    assert (info.value.code, info.value.line) == ("bad-json", 3)


def test_invalid_yaml_names_the_line(tmp_path):
    path = tmp_path / "plan.yaml"
    path.write_text("tasks:\n  - id: a\n    title: x: y\n")
    with pytest.raises(PlanError) as info:
        load_plan(path)
    assert (info.value.code, info.value.line) == ("bad-yaml", 3)


def test_xl_and_long_tasks_are_errors(tmp_path):
    path = tmp_path / "plan.yaml"
    path.write_text(CHOPSTACK_V2[1].replace("complexity: S\n", "complexity: XL\n")
                    .replace("estimated_hours: 1.5", "estimated_hours: 9"))
    found = [(i.code, i.line) for i in errors(load_plan(path))]
    assert found == [("task-too-large", 14), ("task-too-large", 19)]
