from pathlib import Path

import pytest

from planning.errors import PlanError
from planning.models import Size, Strategy
from planning.references import resolve_reference
from planning.spectacular import parse_spectacular
from planning.validate import validate_plan
from corpus import CORPUS, REAL_PLANS


needs_corpus = pytest.mark.skipif(CORPUS is None, reason="shared corpus not present")


def corpus_plan(name: str):
    path = CORPUS / name
    return parse_spectacular(path.read_text(encoding="utf-8"), path)


@needs_corpus
@pytest.mark.parametrize("name,phases,tasks,edges", REAL_PLANS)
def test_real_plan_counts_and_validates(name, phases, tasks, edges):
    plan = corpus_plan(name)
    assert len(plan.phases) == phases
    assert len(plan.tasks()) == tasks
    assert sum(len(task.dependencies) for task in plan.tasks()) == edges
    assert [issue for issue in validate_plan(plan) if issue.severity == "error"] == []


@needs_corpus
def test_real_plan_details():
    plan = corpus_plan("spectacular/specs__0de4e1-testing-system__plan.md")
    assert (plan.name, plan.run_id, plan.spec) == (
        "Testing System", "0de4e1", "specs/0de4e1-testing-system/spec.md")
    assert [p.strategy for p in plan.phases] == [Strategy.parallel, Strategy.sequential, Strategy.sequential]
    assert plan.task("4").dependencies == ["1", "2", "3"]
    assert plan.task("1").line == 33 and plan.phases[1].line == 254
    assert plan.task("1").quality_gates[0].startswith("# Validate git initialization")

    embedded = corpus_plan("spectacular-codex/docs__examples__resume-from-failure.md")
    assert embedded.run_id == "x1y2z3"
    assert embedded.task("2.3").line == 32
    assert (embedded.task("2.3").size, embedded.task("2.3").hours) == (Size.M, 2.5)

    design = corpus_plan("spectacular/docs__plans__2026-01-22-multi-repo-support-design.md")
    assert design.name == "Multi-Repo Support Design"
    assert design.task("1.1").files == ["prisma/schema.prisma", "prisma/migrations/*"]
    assert design.task("1.1").line == 105

    multi = corpus_plan("spectacular/docs__plans__2026-01-22-multi-repo-implementation-plan.md")
    assert multi.task("4.1").files == ["skills/finishing-multi-repo/SKILL.md", "skills/using-git-spice/SKILL.md"]
    assert multi.task("4.2").line == 443


FULL = """\
---
runId: a1b2c3
feature: user-auth
---

# Feature: User Auth - Implementation Plan

> **From spec:** specs/a1b2c3-user-auth/spec.md

## Execution Summary

- **Total Tasks**: 3

## Phase 1: Foundation

**Strategy**: Parallel

### Task 1.1: Schema

**Files**:
- Create: `db/schema.sql`
- Modify: `db/seed.sql` (small change)

**Complexity**: M (2h)

**Dependencies**: None (foundation)

**Acceptance Criteria**:
- [ ] table exists
- [x] seeded

**Quality Gates**:
```bash
# a comment, not a heading
test -f db/schema.sql
```

**Agent**: shell

**Run**:
```bash
echo hi > db/schema.sql
```

**Allow Empty**: yes

### Task 1.2: Types

**Files:**
- src/types.ts

**Complexity**: S

**Dependencies**: Task 1.1 (needs schema)

## Phase 2: API

**Strategy**: sequential

### Task 2.1: Endpoint

**Files**:
- src/api.ts

**Complexity**: L (5h)

**Dependencies**: [task-1-1, task-1-2-types], Task 9.9

**Run**: `make api`

## Testing Strategy

Run everything.
"""


def test_full_variant():
    plan = parse_spectacular(FULL, Path("plan.md"))
    assert (plan.name, plan.run_id, plan.spec) == ("User Auth", "a1b2c3", "specs/a1b2c3-user-auth/spec.md")
    assert [(p.number, p.name, p.strategy, p.line) for p in plan.phases] == [
        (1, "Foundation", Strategy.parallel, 14), (2, "API", Strategy.sequential, 56)]
    schema = plan.task("1.1")
    assert schema.line == 18
    assert schema.files == ["db/schema.sql", "db/seed.sql"]
    assert (schema.size, schema.hours, schema.dependencies) == (Size.M, 2.0, [])
    assert schema.acceptance_criteria == ["table exists", "seeded"]
    assert schema.quality_gates == ["# a comment, not a heading\ntest -f db/schema.sql"]
    assert (schema.agent, schema.run, schema.allow_empty) == ("shell", "echo hi > db/schema.sql", True)
    assert "**Acceptance Criteria**" in schema.body
    types = plan.task("1.2")
    assert (types.files, types.size, types.hours, types.dependencies) == (["src/types.ts"], Size.S, None, ["1.1"])
    endpoint = plan.task("2.1")
    assert endpoint.dependencies == ["1.1", "1.2", "9.9"]
    assert endpoint.run == "make api"
    assert len(plan.tasks()) == 3


def test_run_id_from_specs_folder_and_heading_estimates():
    text = "# Plan\n\n## Phase 1: One (Parallel)\n\n### Task 1-1: Thing (L - 1.5h)\n- Files: `a.py`, `b.py`\n"
    plan = parse_spectacular(text, Path("specs/0a1b2c-thing/plan.md"))
    assert plan.run_id == "0a1b2c"
    assert plan.phases[0].strategy is Strategy.parallel
    task = plan.task("1-1")
    assert (task.title, task.size, task.hours, task.files) == ("Thing", Size.L, 1.5, ["a.py", "b.py"])


def test_run_id_line_and_title_fallback():
    text = "# Implementation Plan: Login\n\nRun ID: x1y2z3\n\n## Phase 1: Only\n### Task 1: Do it\n"
    plan = parse_spectacular(text)
    assert (plan.name, plan.run_id) == ("Login", "x1y2z3")
    assert plan.phases[0].strategy is Strategy.sequential


def test_embedded_markdown_plan_keeps_file_line_numbers():
    text = (
        "# Guide\n\nSome text.\n\n```markdown\n# Inner Plan\n\n## Phase 1: Setup (sequential)\n"
        "- [ ] **Task 1.1**: Add table | repo: backend | files: a.sql, b.sql\n"
        "- [ ] **Task 1.2**: Add types | repo: lib | files: t.ts\n```\n"
    )
    plan = parse_spectacular(text)
    assert plan.name == "Inner Plan"
    assert plan.phases[0].line == 8
    assert [(t.id, t.title, t.files, t.line) for t in plan.tasks()] == [
        ("1.1", "Add table", ["a.sql", "b.sql"], 9), ("1.2", "Add types", ["t.ts"], 10)]


def test_headings_inside_fences_are_not_phases():
    text = "# P\n\n## Phase 1: A\n\n### Task 1.1: T\n\n```\n## Phase 2: Fake\n### Task 2.1: Fake\n```\n"
    plan = parse_spectacular(text)
    assert len(plan.phases) == 1 and len(plan.tasks()) == 1


def test_nested_fences_in_markdown_block_and_list_item_fences():
    text = (
        "# P\n\n## Phase 1: A\n\n### Task 1.1: T\n\n1. step\n   ```markdown\n   ```bash\n   x\n   ```\n"
        "   ```\n\n- ```bash\n  y\n  ```\n\n### Task 1.2: U\n"
    )
    assert [t.id for t in parse_spectacular(text).tasks()] == ["1.1", "1.2"]


def test_no_phases_is_an_error():
    with pytest.raises(PlanError) as info:
        parse_spectacular("# Nothing here\n", Path("p.md"))
    assert info.value.code == "no-phases"
    assert info.value.file == Path("p.md")


def test_task_outside_phase_is_an_error():
    with pytest.raises(PlanError) as info:
        parse_spectacular("# P\n\n### Task 1.1: Lost\n\n## Phase 1: A\n### Task 1.2: T\n", Path("p.md"))
    assert (info.value.code, info.value.line) == ("task-outside-phase", 3)
    assert str(info.value).startswith("p.md:3: task 1.1 is outside any phase")


def test_phase_without_tasks_is_an_error():
    with pytest.raises(PlanError) as info:
        parse_spectacular("## Phase 1: Empty\n\n## Phase 2: B\n### Task 2.1: T\n", Path("p.md"))
    assert (info.value.code, info.value.line) == ("empty-phase", 1)


def test_unreadable_complexity_is_an_error():
    text = "## Phase 1: A\n### Task 1.1: T\n\n**Complexity**: huge\n"
    with pytest.raises(PlanError) as info:
        parse_spectacular(text, Path("p.md"))
    assert (info.value.code, info.value.line) == ("bad-complexity", 4)
    assert info.value.fix


def test_unknown_strategy_is_an_error():
    with pytest.raises(PlanError) as info:
        parse_spectacular("## Phase 1: A\n**Strategy**: sideways\n### Task 1.1: T\n")
    assert (info.value.code, info.value.line) == ("bad-strategy", 2)


def test_bad_front_matter_is_an_error():
    with pytest.raises(PlanError) as info:
        parse_spectacular("---\nrunId: [oops\n---\n## Phase 1: A\n### Task 1.1: T\n")
    assert info.value.code == "bad-front-matter"


@pytest.mark.parametrize("ref,expected", [
    ("task-1-2", "1-2"), ("1.2", "1-2"), ("1-2", "1-2"), ("task-1-2-types", "1-2"),
    ("task-1-test-fixtures", "1"), ("Task 7", "Task 7"), ("T003", "T003"),
])
def test_resolve_reference(ref, expected):
    assert resolve_reference(ref, ["1", "1-2", "2-1", "T003"]) == expected
