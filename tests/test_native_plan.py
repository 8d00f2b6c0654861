from pathlib import Path

import pytest

from planning.errors import PlanError
from planning.loader import FORMATS, detect_format, load_plan
from planning.models import Size, Strategy
from planning.native import parse_native

PLAN = """\
name: user-auth
run_id: a1b2c3
spec: specs/a1b2c3-user-auth/spec.md
phases:
  - name: Foundation
    tasks:
      - id: "1.1"
        title: Create the schema
        prompt: |
          Write the schema.
        files: [db/schema.sql]
        size: M
        hours: 2
        acceptance: [table exists]
        verify: ["pytest -q"]
  - name: Features
    strategy: parallel
    max_parallel: 3
    tasks:
      - id: 2.10
        title: Login
        depends_on: [1.1]
        agent: shell
        run: "echo hi > x"
        allow_empty: true
"""


def test_parse_native_full():
    plan = parse_native(PLAN, Path("plan.yaml"))
    assert (plan.name, plan.run_id, plan.spec, plan.source) == (
        "user-auth", "a1b2c3", "specs/a1b2c3-user-auth/spec.md", Path("plan.yaml"))
    first, second = plan.phases
    assert (first.number, first.strategy, first.line) == (1, Strategy.sequential, 5)
    assert (second.number, second.strategy, second.max_parallel) == (2, Strategy.parallel, 3)
    schema = plan.task("1.1")
    assert (schema.body, schema.files, schema.size, schema.hours) == ("Write the schema.\n", ["db/schema.sql"], Size.M, 2.0)
    assert (schema.acceptance_criteria, schema.quality_gates, schema.line) == (["table exists"], ["pytest -q"], 7)
    login = plan.task("2.10")
    assert (login.dependencies, login.agent, login.run, login.allow_empty) == (["1.1"], "shell", "echo hi > x", True)


def error_of(text: str) -> PlanError:
    with pytest.raises(PlanError) as info:
        parse_native(text, Path("plan.yaml"))
    return info.value


def test_unknown_key_names_key_and_line():
    error = error_of("name: x\nphases:\n  - name: A\n    tasks:\n      - id: a\n        title: T\n        colour: red\n")
    assert (error.code, error.line) == ("unknown-key", 7)
    assert str(error).startswith("plan.yaml:7: unknown key 'colour' in phase 1 task 1")


def test_unknown_top_level_key():
    error = error_of("name: x\nphase: []\n")
    assert (error.code, error.line) == ("unknown-key", 2)


def test_missing_required_keys():
    assert error_of("phases: []\n").code == "missing-key"
    error = error_of("name: x\nphases:\n  - name: A\n    tasks:\n      - id: a\n")
    assert (error.code, error.line, error.message) == ("missing-key", 5, "phase 1 task 1 is missing required key 'title'")


def test_invalid_yaml_reports_line():
    error = error_of("name: x\nphases:\n  - name: [unclosed\n")
    assert error.code == "bad-yaml"
    assert error.line is not None and error.line >= 3


def test_bad_values():
    assert error_of("name: x\nrun_id: nothex\nphases: []\n").code == "bad-run-id"
    error = error_of("name: x\nphases:\n  - name: A\n    strategy: sideways\n    tasks: []\n")
    assert (error.code, error.line) == ("bad-value", 4)
    assert error_of("name: x\nphases: {}\n").line == 2
    assert error_of("").code == "bad-native-plan"


def test_empty_task_list_is_left_to_validation():
    plan = parse_native("name: x\nphases:\n  - name: A\n    tasks: []\n")
    assert plan.phases[0].tasks == []


def test_detect_format_and_load(tmp_path):
    assert set(FORMATS) >= {"spectacular", "native"}
    assert detect_format(Path("a.yml"), "") == "native"
    assert detect_format(Path("a.md"), "") == "spectacular"
    assert detect_format(Path("plan"), "## Phase 1: A\n") == "spectacular"
    assert detect_format(Path("plan"), "name: x\nphases: []\n") == "native"
    with pytest.raises(PlanError):
        detect_format(Path("plan"), "hello")
    native = tmp_path / "plan.yaml"
    native.write_text(PLAN)
    assert load_plan(native).source == native
    markdown = tmp_path / "plan.txt"
    markdown.write_text("## Phase 1: A\n### Task 1.1: T\n")
    assert load_plan(markdown, "spectacular").tasks()[0].id == "1.1"


def test_load_errors(tmp_path):
    with pytest.raises(PlanError) as info:
        load_plan(tmp_path / "missing.md")
    assert info.value.code == "plan-unreadable"
    with pytest.raises(PlanError) as info:
        load_plan(tmp_path / "x.md", "toml")
    assert info.value.code == "unknown-format"
