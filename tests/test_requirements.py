"""Requirements tracing: the ids real specs declare (spec-kit, Spec Kitty, autospec), the ids
tasks cite (ranges too), and ``planflow validate`` reporting requirements no task covers
(warnings; errors with ``--strict``)."""

from __future__ import annotations

import json
import shutil
import textwrap

import pytest

from corpus import CORPUS
from planflow.cli import main
from planning.errors import PlanError
from planning.loader import load_plan
from planning.requirements import cited_ids, declared_requirements
from planning.tracing import coverage_markdown, find_spec, trace_plan

SPEC = """\
# Feature Specification: greeter

Background: this replaces FR-090 of the old greeter (a mention, not a declaration).

## Requirements

### Functional Requirements

- **FR-001**: System MUST greet a user by name.
- **FR-002** — Say goodbye.
1. FR-003: Log each greeting.
**FR-004 (Idle)**: Greet nobody when no one is there.

### FR-005: Localise greetings

| ID | Title | Requirement | Status |
|----|-------|-------------|--------|
| NFR-001 | Fast | under 10 ms | Open |
| **NFR-002** | Small | under 1 MB | Open |
| ~~NFR-003~~ | Old | dropped | Retired |
| C-001 | Stdlib | standard library only | Open |

```markdown
- **FR-099**: a template line inside a fence
```
"""


def plan_md(tasks: str) -> str:
    return "# Feature: greeter\n\n## Phase 1: Build\n\n**Strategy**: Sequential\n\n" + textwrap.dedent(tasks)


def task(number: int, title: str, description: str, extra: str = "") -> str:
    return (f"### Task 1.{number}: {title}\n\n**Files**:\n- src/t{number}.py\n\n**Complexity**: S\n\n"
            f"{extra}**Description**: {description}\n\n")


def validate(capsys, plan, *args: str) -> tuple[int, dict]:
    code = main(["validate", str(plan), "--json", *args])
    return code, json.loads(capsys.readouterr().out)


def test_declaration_shapes_of_spec_kit_and_spec_kitty():
    found = {req.id: req for req in declared_requirements(SPEC)}
    assert list(found) == ["FR-001", "FR-002", "FR-003", "FR-004", "FR-005", "NFR-001", "NFR-002",
                           "NFR-003", "C-001"]
    assert found["FR-001"].text == "System MUST greet a user by name" and found["FR-001"].line == 9
    assert found["FR-002"].text == "Say goodbye" and found["FR-004"].text.startswith("(Idle)")
    assert found["NFR-001"].text == "Fast" and found["NFR-001"].kind == "non-functional"
    assert found["NFR-003"].retired and not found["NFR-002"].retired
    assert found["C-001"].kind == "constraint"


def test_autospec_yaml_spec_declarations():
    text = textwrap.dedent("""\
        requirements:
          functional:
            - id: "FR-001"
              description: "MUST list worktrees"
              testable: true
            - id: FR-002
              description: MUST remove worktrees
          non_functional:
            - id: 'NFR-001'
              category: performance
              description: "under 30 seconds"
        user_stories:
          - id: "US-001"
        """)
    found = declared_requirements(text, yaml_spec=True)
    assert [(r.id, r.text, r.line) for r in found] == [
        ("FR-001", "MUST list worktrees", 3), ("FR-002", "MUST remove worktrees", 6),
        ("NFR-001", "under 30 seconds", 9)]


@pytest.mark.skipif(CORPUS is None, reason="the shared corpus is not beside the repository")
@pytest.mark.parametrize("name,functional,non_functional", [
    ("peers/speckitty-features/Priivacy-ai__spec-kitty__rc3-mission-type-backfill-01M0GGNS/spec.md", 9, 0),
    ("peers/speckitty-features/Priivacy-ai__spec-kitty__018-merge-preflight-documentation/spec.md", 18, 0),
    ("peers/speckitty-features/Priivacy-ai__spec-kitty__002-lightweight-pypi-release/spec.md", 8, 0),
    ("autospec/specs__005-high-level-docs__spec.md", 10, 0),
    ("autospec/specs__030-worktree-management__spec.yaml", 11, 7),
])
def test_requirements_of_real_specs(name, functional, non_functional):
    found = declared_requirements((CORPUS / name).read_text(), name.endswith(".yaml"))
    kinds = [req.kind for req in found]
    assert (kinds.count("functional"), kinds.count("non-functional")) == (functional, non_functional)
    assert all(req.text for req in found)


def test_citations_with_ranges():
    text = ("Covers FR-001 through FR-003, NFR-001..003 and **FR-010**–**FR-011**; FR-020 - 3 files;"
            " C-2, FR-7 to FR-8, FR-1 – NFR-9, FR-100..FR-50 and FR-1..FR-99999")
    assert list(cited_ids(text)) == [
        "FR-1", "FR-2", "FR-3", "NFR-1", "NFR-2", "NFR-3", "FR-10", "FR-11", "FR-20", "C-2", "FR-7",
        "FR-8", "NFR-9", "FR-100", "FR-50", "FR-99999"]
    assert cited_ids("NFR-001..003")["NFR-2"] == "NFR-002"
    assert cited_ids("ARFR-001 FR-001a xFR-2") == {}


def test_validate_reports_uncovered_and_unknown_requirements(tmp_path, capsys):
    (tmp_path / "spec.md").write_text(SPEC)
    plan = tmp_path / "plan.md"
    plan.write_text(plan_md(
        task(1, "Greeting", "Greet by name.", "**Requirements**: FR-001, NFR-001..002\n\n")
        + task(2, "Goodbye", "Implements FR-002 and FR-003, and FR-008.")
        + task(3, "Localise", "FR-005; within C-001.")))

    code, report = validate(capsys, plan)
    assert code == 0 and report["errors"] == []
    findings = {(w["code"], w["message"]) for w in report["warnings"]}
    assert findings == {
        ("uncovered-requirement", "requirement FR-004 ((Idle): Greet nobody when no one is there)"
                                  " is covered by no task of the plan"),
        ("unknown-requirement", "task 1.2 cites FR-008, which spec.md does not declare")}
    uncovered = next(w for w in report["warnings"] if w["code"] == "uncovered-requirement")
    assert (uncovered["file"], uncovered["line"]) == (str(tmp_path / "spec.md"), 12)
    assert "FR-004" in uncovered["fix"]

    code, report = validate(capsys, plan, "--strict")
    assert code == 1 and {e["code"] for e in report["errors"]} == {"uncovered-requirement",
                                                                    "unknown-requirement"}
    assert main(["validate", str(plan)]) == 0
    assert f"{tmp_path / 'spec.md'}:12: warning: requirement FR-004" in capsys.readouterr().err


def test_a_plan_that_cites_no_requirement_gets_one_warning(tmp_path, capsys):
    (tmp_path / "spec.md").write_text(SPEC)
    plan = tmp_path / "plan.md"
    plan.write_text(plan_md(task(1, "Greeting", "Greet by name.")))
    for strict in ([], ["--strict"]):
        code, report = validate(capsys, plan, *strict)
        assert code == 0 and [w["code"] for w in report["warnings"]] == ["requirements-not-traced"]
    (tmp_path / "spec.md").unlink()
    assert validate(capsys, plan)[1]["warnings"] == []


def test_the_spec_a_plan_names_is_found_from_the_plan_folder_upwards(tmp_path, capsys):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "greeter.md").write_text(SPEC)
    (tmp_path / "spec.md").write_text("- **FR-001**: a spec the plan does not name\n")
    folder = tmp_path / "specs" / "greeter"
    folder.mkdir(parents=True)
    markdown = folder / "plan.md"
    markdown.write_text("---\nspec: docs/greeter.md\n---\n" + plan_md(task(1, "All", "FR-001 through FR-005, NFR-001, NFR-002")))
    native = folder / "plan.yaml"
    native.write_text(textwrap.dedent("""\
        name: greeter
        spec: ../../docs/greeter.md
        phases:
          - name: build
            tasks:
              - {id: "1", title: all, prompt: "FR-001..FR-005", files: [a.py]}
              - {id: "2", title: speed, prompt: "NFR-001 and NFR-002", files: [b.py]}
        """))
    for plan in (markdown, native):
        assert find_spec(load_plan(plan)).resolve() == (tmp_path / "docs" / "greeter.md").resolve()
        assert validate(capsys, plan)[1]["warnings"] == []
    trace = trace_plan(load_plan(native))
    assert trace.tasks["FR-003"] == ["1"] and trace.tasks["NFR-002"] == ["2"] and trace.uncovered() == []


def test_phase_text_counts_for_every_task_of_the_phase(tmp_path, capsys):
    (tmp_path / "spec.md").write_text("- **FR-001**: log in\n- **FR-002**: log out\n- **FR-003**: audit\n")
    plan = tmp_path / "tasks.md"
    plan.write_text(textwrap.dedent("""\
        # Tasks: auth

        ## Phase 1: User Story 1 - log in (FR-001)

        - [ ] T001 Create the user model in src/user.py
        - [ ] T002 Add the login endpoint in src/login.py

        ## Phase 2: User Story 2

        **Purpose**: log out (FR-002)

        - [ ] T003 Add the logout endpoint in src/logout.py
        """))
    trace = trace_plan(load_plan(plan))
    assert trace.tasks == {"FR-001": ["T001", "T002"], "FR-002": ["T003"], "FR-003": []}
    code, report = validate(capsys, plan)
    assert [w["message"] for w in report["warnings"]] == [
        "requirement FR-003 (audit) is covered by no task of the plan"]


@pytest.mark.skipif(CORPUS is None, reason="the shared corpus is not beside the repository")
def test_an_autospec_feature_of_the_corpus(tmp_path, capsys):
    for kind in ("tasks", "spec"):
        shutil.copy(CORPUS / "autospec" / f"specs__019-completion-install__{kind}.yaml", tmp_path / f"{kind}.yaml")
    trace = trace_plan(load_plan(tmp_path / "tasks.yaml"))
    assert [req.id for req in trace.uncovered()] == ["FR-001", "FR-002", "FR-004", "FR-006", "NFR-001", "NFR-002"]
    assert trace.tasks["FR-007"] and trace.tasks["NFR-003"] and trace.unknown == {}


@pytest.mark.skipif(CORPUS is None, reason="the shared corpus is not beside the repository")
def test_a_spec_kitty_feature_of_the_corpus(tmp_path):
    feature = tmp_path / "rc3"
    shutil.copytree(CORPUS / "peers" / "speckitty-features" / "Priivacy-ai__spec-kitty__rc3-mission-type-backfill-01M0GGNS", feature)
    try:
        plan = load_plan(feature / "tasks.md")
    except PlanError as exc:
        pytest.skip(f"no parser reads Spec Kitty's tasks.md here: {exc}")
    trace = trace_plan(plan)
    assert len(trace.requirements) == 9 and trace.uncovered() == [] and trace.unknown == {}


def test_coverage_table_lists_requirement_task_and_branch(tmp_path):
    (tmp_path / "spec.md").write_text(SPEC)
    plan = tmp_path / "plan.md"
    plan.write_text(plan_md(task(1, "Greeting", "FR-001 and FR-002") + task(2, "Bye", "FR-002")))
    table = coverage_markdown(trace_plan(load_plan(plan)), {"1.1": "abc123-task-1-1-greeting",
                                                           "1.2": "abc123-task-1-2-bye"})
    assert table.startswith("## Requirements (2 of 8 cited, from `spec.md`)")
    assert "| FR-002 Say goodbye | 1.1 | `abc123-task-1-1-greeting` |" in table
    assert "| FR-002 Say goodbye | 1.2 | `abc123-task-1-2-bye` |" in table
    assert "| FR-003 Log each greeting | - | - |" in table and "| ~~NFR-003~~ (retired) | - | - |" in table


def test_an_agent_written_plan_must_trace_every_requirement(tmp_path):
    from planning.authoring import plan_issues

    (tmp_path / "spec.md").write_text("- **FR-001**: greet\n- **FR-002**: say goodbye\n")
    plan = tmp_path / "plan.md"
    plan.write_text(plan_md(task(1, "Greeting", "Greet by name.")))
    assert [i.code for i in plan_issues(load_plan(plan))] == ["requirements-not-traced"]
    plan.write_text(plan_md(task(1, "Greeting", "Implements FR-001.")))
    [issue] = plan_issues(load_plan(plan))
    assert (issue.code, issue.severity, issue.line) == ("uncovered-requirement", "error", 2)
    plan.write_text(plan_md(task(1, "Greeting", "Implements FR-001.") + task(2, "Bye", "FR-002")))
    assert plan_issues(load_plan(plan)) == []
