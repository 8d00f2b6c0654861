"""Real plans as their authors wrote them (issue 14), on fixtures written in the same shapes:
dependency spellings, framework file names, long spec-kit lines, flat task lists."""

from __future__ import annotations

from pathlib import Path

import pytest

from planning.errors import PlanError
from planning.loader import load_plan
from planning.references import dependency_refs
from planning.spectacular import parse_spectacular
from planning.validate import validate_plan


def errors(plan):
    return [i for i in validate_plan(plan) if i.severity == "error"]


@pytest.mark.parametrize("text, refs", [
    ("None", []), ("none", []), ("N/A", []), ("n/a", []), ("-", []), ("—", []), ("–", []),
    ("\n- None (foundation task)", []), ("Phase 1", ["Phase 1"]), ("Phase 2 complete", ["Phase 2"]),
    ("Phase 5 (API layer)", ["Phase 5"]), ("Task 5 (API layer)", ["5"]), ("Tasks 2.1, 2.3", ["2.1", "2.3"]),
    ("Task 1.1 and 1.2", ["1.1", "1.2"]), ("\n- Task 1.1 (needs models)\n- Task 1.2", ["1.1", "1.2"]),
    ("`T003`; T004 done", ["T003", "T004"]), ("the database work", ["the database work"]),
    ("Task sk-x-y", ["sk-x-y"]),
])
def test_dependency_spellings(text, refs):
    assert dependency_refs(text) == refs


PHASED = """\
# Feature: shop

## Phase 1: Data
### Task 1.1: Schema
**Dependencies**: None
### Task 1.2: Models
**Dependencies**: N/A

## Phase 2: API
### Task 2.1: Routes
**Dependencies**: Phase 1 complete
### Task 2.2: Auth
**Dependencies**: Task 2.1 (routes first)

## Phase 3: UI
### Task 3.1: Pages
**Dependencies**: Phase 2 (API layer), Tasks 1.1, 1.2
### Task 3.2: Forms
**Dependencies**: —
"""


def test_phase_references_mean_every_task_of_the_phase():
    plan = parse_spectacular(PHASED, Path("plan.md"))
    deps = {task.id: task.dependencies for task in plan.tasks()}
    assert deps == {"1.1": [], "1.2": [], "2.1": ["1.1", "1.2"], "2.2": ["2.1"],
                    "3.1": ["2.1", "2.2", "1.1", "1.2"], "3.2": []}
    assert errors(plan) == []


def test_unknown_phase_or_task_reference_names_what_was_read():
    text = PHASED.replace("**Dependencies**: —", "**Dependencies**: Phase 9, the cache")
    messages = [i.message for i in errors(parse_spectacular(text, Path("plan.md")))]
    assert messages == ["task 3.2 depends on unknown task 'Phase 9'",
                        "task 3.2 depends on unknown task 'the cache'"]


LONG = ("Implement the mode selector in src/cli/modes.py that reads the --mode flag, validates it"
        " against the registry in src/cli/registry.py, and falls back to the default mode when the"
        " flag is missing or names a mode the registry does not know about at all, yet")


def test_long_speckit_line_gets_a_short_title_and_keeps_the_whole_line(tmp_path):
    path = tmp_path / "tasks.md"
    path.write_text(f"# Tasks: modes\n\n## Phase 1: Core\n\n- [ ] T012 [P] [US1] {LONG}\n"
                    "- [ ] T013 Add the \u202eflag to src/cli/flags.py\n")
    plan = load_plan(path)
    task = plan.task("T012")
    assert len(LONG) > 250 and task.title == "Implement the mode selector in src/cli/modes.py that reads the --mode"
    assert len(task.title) <= 72 and LONG in task.body
    assert task.files == ["src/cli/modes.py", "src/cli/registry.py"]
    assert [(i.code, i.line) for i in errors(plan)] == [("unsafe-title", 6)]


ABSOLUTE = """\
# Feature: shop

## Phase 1: UI

### Task 1.1: Table
**Files**:
- `{root}/src/app/components/ui/table.tsx`
- `{root}/src/routes/admin.games.$gameId.edit.tsx`

Edit `{root}/src/app/components/ui/table.tsx` only.

### Task 1.2: Pages
**Files**: `{root}/app/[slug]/page.tsx`, `{root}/app/(marketing)/@modal/page.tsx`, `{root}/docs/read me.md`
**Dependencies**: Task 1.1
"""


def absolute_plan(tmp_path, root, extra=""):
    path = tmp_path / "plan.md"
    path.write_text(ABSOLUTE.format(root=root) + extra)
    return path


def test_absolute_paths_of_the_authors_checkout_map_to_the_repository(tmp_path):
    plan = load_plan(absolute_plan(tmp_path, "/Users/alice/projects/shop-vite"))
    assert plan.task("1.1").files == ["src/app/components/ui/table.tsx",
                                      "src/routes/admin.games.$gameId.edit.tsx"]
    assert plan.task("1.2").files == ["app/[slug]/page.tsx", "app/(marketing)/@modal/page.tsx",
                                      "docs/read me.md"]
    assert "Edit `src/app/components/ui/table.tsx` only." in plan.task("1.1").body
    warnings = [i for i in validate_plan(plan) if i.code == "absolute-paths-mapped"]
    assert [(w.severity, w.line) for w in warnings] == [("warning", 5)]
    assert "/Users/alice/projects/shop-vite/" in warnings[0].message
    assert errors(plan) == []


def test_with_a_repository_the_prefix_is_where_the_paths_exist(tmp_path):
    # the common folder would be .../shop-vite; the repository holds `shop-vite/...` one level up
    repo = tmp_path / "repo"
    (repo / "shop-vite" / "src" / "app" / "components" / "ui").mkdir(parents=True)
    (repo / "shop-vite" / "app").mkdir()
    plan = load_plan(absolute_plan(tmp_path, "/home/bob/mono/shop-vite"), repo=repo)
    assert plan.task("1.1").files[0] == "shop-vite/src/app/components/ui/table.tsx"
    assert load_plan(absolute_plan(tmp_path, "/home/bob/mono/shop-vite")).task("1.1").files[0] == \
        "src/app/components/ui/table.tsx"


@pytest.mark.parametrize("files", ["`/etc/passwd`", "`~/.ssh/config`", "`/usr/lib/x/y/z.so`",
                                   "`/home/bob/.bashrc`"])
def test_paths_that_map_nowhere_stay_errors(tmp_path, files):
    path = tmp_path / "plan.md"
    path.write_text(f"# F\n\n## Phase 1: A\n\n### Task 1.1: T\n**Files**: {files}\n")
    assert [i.code for i in errors(load_plan(path))] == ["unsafe-file-path"]


def test_an_absolute_path_outside_the_prefix_stays_an_error(tmp_path):
    plan = load_plan(absolute_plan(tmp_path, "/Users/alice/projects/shop-vite",
                                   "\n### Task 1.3: Hosts\n**Files**: `/etc/hosts`\n"))
    assert [(i.code, i.message) for i in errors(plan)] == [
        ("unsafe-file-path", "task '1.3': file '/etc/hosts' is absolute")]


@pytest.mark.parametrize("path", ["../x", "-rf", ".git/config", "a\x07b", "src/\u202eb.ts"])
def test_unsafe_paths_stay_errors_among_framework_names(tmp_path, path):
    plan_path = tmp_path / "plan.md"
    plan_path.write_text(f"# F\n\n## Phase 1: A\n\n### Task 1.1: T\n**Files**:\n- `app/[id]/page.tsx`\n- `{path}`\n")
    assert [i.code for i in errors(load_plan(plan_path))] == ["unsafe-file-path"]


PHASE_FILES = {
    "plan-phase1.md": "# Phase 1: Data\n\n**Strategy**: sequential\n\n## Task 1: Schema\n**Files**: `db/schema.sql`\n"
                      "**Dependencies**: None\n\n## Task 2: Models\n**Files**: `src/models.ts`\n",
    "plan-phase2.md": "# Phase 2: API layer\n\n**Strategy**: parallel\n**Dependencies**: Phase 1\n\n"
                      "## Task 3: Routes\n**Files**: `src/api/routes.ts`\n**Dependencies**: Task 2 (models)\n\n"
                      "## Task 4: Auth\n**Files**: `src/api/auth.ts`\n**Dependencies**: Phase 1\n\n"
                      "```bash\n# not a heading\n```\n",
    "plan-phase10.md": "# Phase 10: UI Layer\n\n**Dependencies**: Phase 2\n\n## Task 5: Public routes\n"
                       "**Files**: `src/routes/index.tsx`\n**Dependencies**: Task 3 (API layer), Task 4\n",
}


def phase_folder(tmp_path):
    folder = tmp_path / "specs" / "x" / "plan"
    folder.mkdir(parents=True)
    for name, text in PHASE_FILES.items():
        (folder / name).write_text(text)
    return folder


def test_a_folder_of_phase_files_is_one_plan(tmp_path):
    plan = load_plan(phase_folder(tmp_path))
    assert plan.name == "x" and [p.number for p in plan.phases] == [1, 2, 10]
    assert [p.strategy.value for p in plan.phases] == ["sequential", "parallel", "sequential"]
    assert {t.id: t.dependencies for t in plan.tasks()} == {
        "1": [], "2": [], "3": ["2"], "4": ["1", "2"], "5": ["3", "4"]}
    assert "# not a heading" in plan.task("4").body
    assert errors(plan) == []


def test_one_phase_file_alone_names_the_folder(tmp_path):
    folder = phase_folder(tmp_path)
    with pytest.raises(PlanError) as caught:
        load_plan(folder / "plan-phase2.md")
    assert (caught.value.code, caught.value.line) == ("phase-file", 1)
    assert str(folder) in caught.value.fix


def test_a_phase_file_error_names_its_file(tmp_path):
    folder = phase_folder(tmp_path)
    (folder / "plan-phase2.md").write_text("# Phase 2: API\n\n**Strategy**: sideways\n\n## Task 3: R\n")
    with pytest.raises(PlanError) as caught:
        load_plan(folder)
    assert (caught.value.file, caught.value.line) == (folder / "plan-phase2.md", 3)


FLAT = """\
tasks:
  - id: look
    title: Inspect the code
    phase: inspect
    files: [notes.md]
  - id: impl-a
    title: Implement a
    phase: implement
    parallel: true
    files: [src/a.py]
    dependencies: [look]
  - id: impl-b
    title: Implement b
    phase: implement
    parallel: true
    files: [src/b.py]
  - id: check
    title: Test it
    phase: test
    files: [tests/test_a.py]
    dependencies: [impl-a, impl-b]
"""


def test_flat_task_list_with_phase_keys(tmp_path):
    path = tmp_path / "tasks.yaml"
    path.write_text(FLAT)
    plan = load_plan(path)
    assert [(p.name, p.strategy.value, [t.id for t in p.tasks]) for p in plan.phases] == [
        ("inspect", "sequential", ["look"]), ("implement", "parallel", ["impl-a", "impl-b"]),
        ("test", "sequential", ["check"])]
    assert errors(plan) == []
    path.write_text(FLAT.replace("    phase: test\n", ""))
    with pytest.raises(PlanError) as caught:
        load_plan(path)
    assert (caught.value.code, caught.value.line) == ("task-outside-phase", 17)


TASK_MASTER = """\
{"master": {"tasks": [
  {"id": 1, "title": "Schema", "status": "done", "dependencies": [], "details": "Write db/schema.sql",
   "subtasks": [{"id": 1, "title": "Tables", "status": "pending", "dependencies": []},
                {"id": 2, "title": "Indexes", "status": "pending", "dependencies": [1]}]},
  {"id": 2, "title": "API", "status": "pending", "dependencies": [1], "subtasks": [
     {"id": 1, "title": "Routes in src/api/routes.ts", "status": "pending", "dependencies": []},
     {"id": 2, "title": "Auth", "status": "cancelled", "dependencies": []},
     {"id": 3, "title": "Docs", "status": "pending", "dependencies": ["2.1", 1]}]},
  {"id": 3, "title": "UI", "status": "blocked", "dependencies": [2], "details": "src/ui/app.tsx"}
 ], "metadata": {"created": "2025-01-01"}},
 "later": {"tasks": []}}
"""


def test_task_master_tagged_file_with_subtasks(tmp_path):
    path = tmp_path / ".taskmaster" / "tasks" / "tasks.json"
    path.parent.mkdir(parents=True)
    path.write_text(TASK_MASTER)
    plan = load_plan(path)
    assert [[t.id for t in p.tasks] for p in plan.phases] == [["1.1", "1.2"], ["2.1", "2.2", "2.3"], ["3"]]
    deps = {t.id: t.dependencies for t in plan.tasks()}
    assert deps == {"1.1": [], "1.2": [], "2.1": ["1.1", "1.2"], "2.2": ["2.1"],
                    "2.3": ["1.1", "1.2", "2.1"], "3": ["2.1", "2.2", "2.3"]}
    assert {t.id: t.status for t in plan.tasks()} == {"1.1": "done", "1.2": "done", "2.1": "pending",
                                                      "2.2": "done", "2.3": "pending", "3": "blocked"}
    assert plan.task("2.1").files == ["src/api/routes.ts"] and plan.task("3").files == ["src/ui/app.tsx"]
    assert [w.code for w in plan.parse_warnings] == ["other-tags"]
    assert errors(plan) == []


KITTY_TASKS = """\
# Work Packages: Greeter

## Work Package WP01: Core (Priority: P0) 🎯 MVP
### Included Subtasks
- [x] T001 Add the greeter in `src/greet.py`
- [ ] T002 [P] Test it in `tests/test_greet.py`
### Dependencies
- None (starting package)

## Work Package WP02: CLI (Priority: P1)
### Included Subtasks
- [ ] T003 Add the command in `src/cli.py`
### Dependencies
- Depends on WP01 (needs the greeter).

## Work Package WP03: Docs (Priority: P2)
### Included Subtasks
- [ ] T004 Document it in `docs/usage.md`
### Dependencies
- Depends on WP01–WP02.
"""


def test_spec_kitty_feature_with_work_package_files(tmp_path):
    feature = tmp_path / "kitty-specs" / "001-greeter"
    (feature / "tasks" / "done").mkdir(parents=True)
    (feature / "tasks.md").write_text(KITTY_TASKS)
    (feature / "tasks" / "done" / "WP01-core.md").write_text(
        '---\nwork_package_id: "WP01"\nlane: "planned"\n---\n# Core\nWrite the greeter.\n')
    (feature / "tasks" / "WP02-cli.md").write_text(
        "---\nwork_package_id: WP02\nlane: for_review\ndependencies: []\nowned_files:\n- src/cli/**\n---\nBuild the CLI.\n")
    plan = load_plan(feature / "tasks.md")
    assert plan.name == "001-greeter"
    assert [[t.id for t in p.tasks] for p in plan.phases] == [["WP01", "WP02"], ["WP03"]]
    assert {t.id: (t.status, t.dependencies) for t in plan.tasks()} == {
        "WP01": ("done", []), "WP02": ("pending", []), "WP03": ("pending", ["WP01", "WP02"])}
    assert plan.task("WP02").files == ["src/cli/**"] and "Build the CLI." in plan.task("WP02").body
    assert plan.task("WP03").files == ["docs/usage.md"] and plan.task("WP01").title == "Core"
    assert errors(plan) == []
    (feature / "status.events.jsonl").write_text(
        '{"wp_id": "WP03", "from_lane": "planned", "to_lane": "done"}\n{"event_type": "x"}\n')
    assert load_plan(feature / "tasks.md").task("WP03").status == "done"
