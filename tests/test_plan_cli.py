"""``planflow validate`` and ``planflow run --dry-run``: exit codes, JSON, strict mode, file
conflicts and their serialization, schedule outputs."""

from __future__ import annotations

import json
import textwrap

from plan_fixtures import NATIVE
from planflow.cli import main
from planning.conflicts import file_conflicts, serialize_conflicts
from planning.loader import load_plan
from planning.schedule import plan_waves

CONFLICTING = NATIVE[1].replace("files: [greeter/bye.py]", "files: [greeter/hello.py]")


def write(tmp_path, text, name="plan.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_validate_valid_plan_exits_0(tmp_path, capsys):
    assert main(["validate", str(write(tmp_path, NATIVE[1]))]) == 0
    assert "valid (2 phases, 3 tasks; 0 errors, 0 warnings)" in capsys.readouterr().err


def test_validate_json_lists_errors_and_exits_1(tmp_path, capsys):
    path = write(tmp_path, NATIVE[1].replace('depends_on: ["1.1"]', 'depends_on: ["9.9"]'))
    assert main(["validate", str(path), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["valid"] is False
    assert [(e["code"], e["line"]) for e in report["errors"]] == [("unknown-dependency", 11)]


def test_validate_unreadable_plan_exits_1_with_the_parser_line(tmp_path, capsys):
    path = write(tmp_path, "name: x\nphases:\n  - name: [\n")
    assert main(["validate", str(path), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["errors"][0]["code"] == "bad-yaml" and report["errors"][0]["line"] == 4


def test_file_conflict_is_a_warning_an_error_when_strict_and_serializable(tmp_path, capsys):
    path = write(tmp_path, CONFLICTING)
    plan = load_plan(path)
    assert [(c.first, c.second, c.files) for c in file_conflicts(plan)] == [
        ("2.1", "2.2", ("greeter/hello.py",))]
    assert main(["validate", str(path), "--allow-overlap"]) == 0
    assert "warning: tasks 2.1 and 2.2 may run at the same time" in capsys.readouterr().err
    assert main(["validate", str(path), "--strict", "--allow-overlap"]) == 1
    assert main(["validate", str(path), "--strict"]) == 0
    assert "one lane, one after the other (same files): phase 2: 2.1 → 2.2 (greeter/hello.py)" in (
        capsys.readouterr().err)
    serialized = serialize_conflicts(plan)
    assert serialized.task("2.2").dependencies == ["2.1"]
    assert [[t.id for t in w] for w in plan_waves(serialized)[1]] == [["2.1"], ["2.2"]]
    assert [lane.model_dump() for lane in serialized.lanes] == [
        {"phase": 2, "tasks": ["2.1", "2.2"], "files": ["greeter/hello.py"]}]
    assert plan.task("2.2").dependencies == [] and plan.lanes == []


def test_lanes_join_tasks_linked_through_shared_files_in_plan_order(tmp_path):
    plan = load_plan(write(tmp_path, textwrap.dedent("""\
        name: lanes
        phases:
          - name: one
            strategy: parallel
            tasks:
              - {id: "1", title: a, files: [x.py]}
              - {id: "2", title: b, files: [y.py]}
              - {id: "3", title: c, files: [y.py, z.py]}
              - {id: "4", title: d, files: [x.py, z.py]}
              - {id: "5", title: e, files: [w.py]}
        """)))
    serialized = serialize_conflicts(plan)
    assert [(lane.tasks, lane.files) for lane in serialized.lanes] == [
        (["1", "2", "3", "4"], ["x.py", "y.py", "z.py"])]
    assert file_conflicts(serialized) == []
    assert [[t.id for t in w] for w in plan_waves(serialized)[0]][0] == ["1", "2", "5"]


def test_run_refuses_an_invalid_plan(tmp_path, capsys):
    path = write(tmp_path, CONFLICTING)
    assert main(["run", str(path), "--dry-run", "--strict", "--allow-overlap"]) == 2
    assert "error:" in capsys.readouterr().err


def test_dry_run_json_and_mermaid(tmp_path, capsys):
    path = write(tmp_path, NATIVE[1])
    assert main(["run", str(path), "--dry-run", "--json", "--max-parallel", "2"]) == 0
    schedule = json.loads(capsys.readouterr().out)
    assert schedule["max_parallel"] == 2 and schedule["critical_path"] == ["1.1", "2.1"]
    assert (schedule["sequential_hours"], schedule["parallel_hours"]) == (5.0, 4.0)
    assert main(["run", str(path), "--dry-run", "--mermaid"]) == 0
    assert "t_1_1 --> t_2_1" in capsys.readouterr().out


def test_dry_run_table(tmp_path, capsys):
    path = write(tmp_path, CONFLICTING)
    assert main(["run", str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "Execution Summary" in out and "Critical path: 1.1 → 2.1 → 2.2 (5h)" in out
    assert "One lane (same files, one after the other): phase 2: 2.1 → 2.2 (greeter/hello.py)" in out
    assert main(["run", str(path), "--dry-run", "--json"]) == 0
    schedule = json.loads(capsys.readouterr().out)
    assert schedule["lanes"] == [{"phase": 2, "tasks": ["2.1", "2.2"], "files": ["greeter/hello.py"]}]
    assert main(["run", str(path), "--dry-run", "--json", "--allow-overlap"]) == 0
    overlapping = json.loads(capsys.readouterr().out)
    assert overlapping["lanes"] == [] and overlapping["parallel_hours"] < schedule["parallel_hours"]


SHOWN = """\
# Feature: shop

## Phase 1: Data
### Task 1.1: Schema
**Files**: `/Users/alice/shop/db/schema.sql`
**Dependencies**: None
### Task 1.2: Models
**Files**: `/Users/alice/shop/src/models.ts`
**Dependencies**: Task 1.1
**Status**: x

## Phase 2: API
- [x] **Task 2.1**: Seed data | Files: `/Users/alice/shop/db/seed.sql`
### Task 2.2: Routes
**Files**: `/Users/alice/shop/src/routes/$id.tsx`
**Dependencies**: Phase 1 complete
"""


def test_validate_show_and_json_carry_what_planflow_read(tmp_path, capsys):
    path = tmp_path / "plan.md"
    path.write_text(SHOWN)
    assert main(["validate", str(path), "--show"]) == 0
    captured = capsys.readouterr()
    assert "Phase 2: API (sequential)" in captured.out
    assert "      files: src/routes/$id.tsx\n      depends on: 1.1, 1.2" in captured.out
    assert "absolute file paths under /Users/alice/shop/" in captured.err
    assert main(["validate", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    routes = report["tasks"][-1]
    assert (routes["id"], routes["phase"], routes["files"], routes["depends_on"]) == (
        "2.2", 2, ["src/routes/$id.tsx"], ["1.1", "1.2"])
    assert [p["tasks"] for p in report["phases"]] == [["1.1", "1.2"], ["2.1", "2.2"]]


def test_validate_show_lists_skipped_tasks_and_why(tmp_path, capsys):
    path = tmp_path / "tasks.md"
    path.write_text("# Tasks: x\n\n## Phase 1: Setup\n\n- [x] T001 Create src/app.py\n- [ ] T002 Test tests/test_app.py\n")
    assert main(["validate", str(path), "--show"]) == 0
    assert "Skipped T001: already done" in capsys.readouterr().out
    assert main(["validate", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["skipped"] == [{"id": "T001", "reason": "already done"}]
    assert [t["skipped"] for t in report["tasks"]] == ["already done", None]
