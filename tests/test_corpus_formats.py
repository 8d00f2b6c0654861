"""Every file of the shared corpus of real plans: each parses or raises PlanError naming its
file and line; per format, real files with their counts (read off the files by hand); the
deliberately invalid autospec fixtures each produce their own error."""

from __future__ import annotations

import re

import pytest

from corpus import CORPUS
from planning.errors import PlanError
from planning.loader import detect_format, load_plan
from planning.schedule import build_schedule
from planning.validate import validate_plan

pytestmark = pytest.mark.skipif(CORPUS is None, reason="shared corpus not present")

COUNTED = [
    # (file, format, phases, tasks, dependency edges, tasks marked done)
    ("wild/github__spec-kit__specs__001-guard-cli__tasks.md", "speckit", 4, 23, 3, 6),
    ("autospec/tests__fixtures__mock-tasks-complete.md", "speckit", 3, 8, 0, 8),
    ("autospec/tests__fixtures__mock-tasks-incomplete.md", "speckit", 4, 10, 0, 3),
    ("autospec/internal__validation__testdata__tasks__valid.yaml", "autospec", 3, 6, 5, 0),
    ("autospec/mocks__fixtures__valid__tasks.yaml", "autospec", 2, 5, 6, 0),
    ("autospec/internal__validation__testdata__tasks__blocked_with_reason.yaml", "autospec", 1, 2, 1, 1),
    ("droidz/workflows__specification__create-tasks.md", "droidz", 3, 8, 2, 0),
    ("droidz/droidz_installer__payloads__claude__default__agents__tasks-list-creator.md", "droidz", 1, 2, 0, 0),
    ("droidz/.droidz__specs__examples__000-realtime-notifications.md", "droidz", 1, 9, 8, 0),
    ("droidz/.claude__specs__active__todo-app-test.md", "droidz", 1, 4, 3, 0),
    ("wild/arittr__chopstack__test-plan.yaml", "chopstack", 1, 4, 3, 0),
    ("wild/arittr__chopstack__test__e2e__specs__complex-parallel-layers.yaml", "chopstack", 1, 6, 7, 0),
    ("wild/arittr__chopstack__specs__chopstack-v2_phase2__plan.yaml", "chopstack", 6, 11, 14, 0),
    ("wild/arittr__chopstack__test__e2e__specs__parallel-tasks.yaml", "chopstack", 1, 2, 0, 0),
]


def corpus_files():
    if CORPUS is None:
        return []
    return sorted(path for path in CORPUS.rglob("*")
                  if path.is_file() and path.name not in ("README.md", "MANIFEST.tsv"))


def test_every_corpus_file_parses_or_names_file_and_line():
    outcomes = {"parsed": 0, "plan-error": 0}
    for path in corpus_files():
        try:
            plan = load_plan(path)
        except PlanError as exc:
            assert exc.file == path and exc.line, (path, exc)
            outcomes["plan-error"] += 1
            continue
        issues = validate_plan(plan)
        # requirement findings name the spec.md beside a feature's tasks.md (Spec Kitty features)
        assert all(issue.file in (path, path.parent / "spec.md") for issue in issues), path
        if not any(issue.severity == "error" for issue in issues):
            build_schedule(plan)
        outcomes["parsed"] += 1
    assert outcomes["parsed"] >= 100


@pytest.mark.parametrize("name, fmt, phases, tasks, edges, done", COUNTED)
def test_real_files_counts(name, fmt, phases, tasks, edges, done):
    path = CORPUS / name
    assert detect_format(path, path.read_text()) == fmt
    plan = load_plan(path)
    assert len(plan.phases) == phases
    assert len(plan.tasks()) == tasks
    assert sum(len(task.dependencies) for task in plan.tasks()) == edges
    assert sum(task.status == "done" for task in plan.tasks()) == done
    assert [i for i in validate_plan(plan) if i.severity == "error"] == []


def test_json_plan_example_of_spectacular_codex(tmp_path):
    doc = (CORPUS / "spectacular-codex/docs__plan-schema.md").read_text()
    block = re.search(r"```json\n(.*?)```", doc, re.S).group(1)
    path = tmp_path / "plan.json"
    path.write_text(block)
    plan = load_plan(path)
    assert (plan.run_id, plan.name, len(plan.phases), len(plan.tasks())) == (
        "0729be", "mobile-optimizations", 1, 1)
    assert plan.task("1-1").files == ["src/layout.tsx"]


INVALID = "autospec/internal__validation__testdata__tasks__invalid_"


@pytest.mark.parametrize("name, code, line, text", [
    ("enum_status", "bad-enum", 23, "invalid status 'Done', expected one of: Pending, InProgress"),
    ("enum_type", "bad-enum", 24, "invalid type 'coding', expected one of: setup, implementation"),
    ("notes_too_long", "notes-too-long", 29, "notes too long: 1110 characters (max 1000)"),
])
def test_invalid_autospec_fixtures_that_do_not_parse(name, code, line, text):
    with pytest.raises(PlanError) as info:
        load_plan(CORPUS / f"{INVALID}{name}.yaml")
    assert (info.value.code, info.value.line) == (code, line)
    assert text in info.value.message


@pytest.mark.parametrize("name, code, line, text", [
    ("dep_circular", "dependency-cycle", 21, "dependency cycle: T001 -> T003 -> T002 -> T001"),
    ("dep_nonexistent", "unknown-dependency", 30, "task T002 depends on unknown task 'T999'"),
    ("dep_self", "self-dependency", 21, "task T001 depends on itself"),
])
def test_invalid_autospec_fixtures_that_do_not_validate(name, code, line, text):
    errors = [i for i in validate_plan(load_plan(CORPUS / f"{INVALID}{name}.yaml"))
              if i.severity == "error"]
    assert [(i.code, i.line, i.message) for i in errors] == [(code, line, text)]


def test_blocked_without_reason_fixtures_warn():
    for name in ("blocked_without_reason", "blocked_empty_reason"):
        path = CORPUS / f"autospec/internal__validation__testdata__tasks__{name}.yaml"
        codes = [i.code for i in validate_plan(load_plan(path))]
        assert "blocked-without-reason" in codes, name


@pytest.mark.parametrize("name, phases, tasks, done", [
    # (file, dependency layers, subtasks plus tasks without subtasks, done or cancelled), counted
    # from the JSON with a separate script
    ("peers/AJ-Davis__veritas_logos__tasks__tasks.json", 9, 47, 45),
    ("peers/Acurioustractor__act-placemat__.taskmaster__tasks__tasks.json", 4, 23, 6),
    ("peers/AlexKucera__obsidian-typst-pdf-export__.taskmaster__tasks__tasks.json", 6, 50, 10),
    ("peers/BasKiers__scrumpoker__tasks__tasks.json", 5, 36, 35),
    ("peers/eyaltoledano__claude-task-master__tasks__tasks.json", 6, 201, 157),
])
def test_task_master_files_counts(name, phases, tasks, done):
    path = CORPUS / name
    assert detect_format(path, path.read_text()) == "taskmaster"
    plan = load_plan(path)
    assert (len(plan.phases), len(plan.tasks()), sum(t.status == "done" for t in plan.tasks())) == (
        phases, tasks, done)
    assert [i for i in validate_plan(plan) if i.severity == "error"] == []
    build_schedule(plan)


@pytest.mark.parametrize("feature, phases, tasks, done", [
    # (feature folder, dependency layers, work packages, done by lane folder / front matter / event log)
    ("Priivacy-ai__spec-kitty__002-lightweight-pypi-release", 4, 4, 1),
    ("Priivacy-ai__spec-kitty__018-merge-preflight-documentation", 2, 4, 1),
    ("Priivacy-ai__spec-kitty__rc3-mission-type-backfill-01M0GGNS", 3, 3, 3),
])
def test_spec_kitty_features_counts(feature, phases, tasks, done):
    path = CORPUS / "peers" / "speckitty-features" / feature / "tasks.md"
    assert detect_format(path, path.read_text()) == "speckitty"
    plan = load_plan(path)
    assert (len(plan.phases), len(plan.tasks()), sum(t.status == "done" for t in plan.tasks())) == (
        phases, tasks, done)
    assert [i for i in validate_plan(plan) if i.severity == "error"] == []
