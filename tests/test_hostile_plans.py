"""Hostile plans: every one is a PlanError naming file, line and fix, and ``planflow run``
writes nothing; a plan that passes carries nothing into a shell or a git option."""

from __future__ import annotations

import ast
from pathlib import Path

import git as gitpython
import pytest

from gitops import command as command_module
from gitops.names import branch_name
from planning.errors import PlanError
from planning.loader import MAX_PLAN_BYTES
from planning.models import Phase, Plan, PlanTask
from planning.safety import file_path_problem
from planning.validate import check_plan
from planflow.cli import load_checked
from runs import git, make_repo, run_cli, write_plan

ROOT = Path(__file__).resolve().parents[1]

HOSTILE_IDS = ["../x", "/etc", "-rf", "a\nb", "1;rm -rf ~", "$(id)", "1\u20241", "\uff11.1", ".git", ""]
HOSTILE_FILES = ["../outside.txt", "/etc/passwd", "~/.bashrc", "-rf", "-", "a\nb.txt", "src/../../up", ".git/hooks/pre-commit", "sub/.GIT/config",
                 "\uff53rc/a.py", "src\uff0fa.py", "a\u202eb.txt", "zero\u200bwidth", "C:/x", "a\\b", " "]
HOSTILE_TITLES = ["two\nlines", "bidi \u202eevil", "nul\x00", "x" * 300 + "\n"]


def plan_of(*tasks: PlanTask, run_id: str | None = None) -> Plan:
    return Plan(name="hostile", run_id=run_id, source=Path("plan.yaml"),
                phases=[Phase(number=1, name="one", tasks=list(tasks))])


def codes(plan: Plan) -> set[str]:
    with pytest.raises(PlanError) as caught:
        check_plan(plan)
    issues = caught.value.issues
    assert all(i.file == Path("plan.yaml") and i.fix for i in issues if i.severity == "error")
    return {i.code for i in issues}


@pytest.mark.parametrize("task_id", HOSTILE_IDS)
def test_hostile_task_id_is_an_error(task_id):
    assert "unsafe-task-id" in codes(plan_of(PlanTask(id=task_id, title="t", files=["a"], line=3)))


@pytest.mark.parametrize("path", HOSTILE_FILES)
def test_hostile_file_path_is_an_error(path):
    assert file_path_problem(path)
    assert codes(plan_of(PlanTask(id="1", title="t", files=[path], line=3))) == {"unsafe-file-path"}


@pytest.mark.parametrize("title", HOSTILE_TITLES)
def test_hostile_title_is_an_error(title):
    assert codes(plan_of(PlanTask(id="1", title=title, files=["a"], line=3))) == {"unsafe-title"}


def test_ids_giving_one_branch_and_a_hostile_run_id_are_errors():
    same = plan_of(PlanTask(id="1.1", title="a", files=["a"]), PlanTask(id="1-1", title="b", files=["b"]))
    assert "task-id-collision" in codes(same)
    assert "unsafe-run-id" in codes(plan_of(PlanTask(id="1", title="t", files=["a"]), run_id="../../x"))


def test_ordinary_paths_and_unicode_titles_pass():
    for path in ["src/app.py", "docs/über.md", "a b/c (1).txt", "src/**/*.ts", ".github/workflows/ci.yml",
                 "src/routes/admin.games.$gameId.edit.tsx", "app/[slug]/page.tsx",
                 "app/(marketing)/@modal/page.tsx", "a;b", "$(id).txt", "`id`", "a|b", "x > y", "a&b"]:
        assert file_path_problem(path) is None, path
    check_plan(plan_of(PlanTask(id="T003", title="Étiquette: --force `x` $(y)", files=["a"])))
    check_plan(plan_of(PlanTask(id="T004", title="long " * 80, files=["a"])))


def test_tasks_giving_one_branch_are_a_branch_collision():
    plan = plan_of(PlanTask(id="1", title="x y", files=["a"], line=3),
                   PlanTask(id="1-x", title="y", files=["b"], line=7))
    with pytest.raises(PlanError) as caught:
        check_plan(plan)
    [issue] = [i for i in caught.value.issues if i.code == "branch-collision"]
    assert issue.line == 7 and "'1'" in issue.message and "'1-x'" in issue.message
    assert "task-1-x-y" in issue.message


@pytest.mark.parametrize("title", ["..", "a.lock", "@{x}", "x..y", "~^:?*[", "-", "---", "é" * 50, "a/b//c."])
def test_every_title_gives_a_valid_branch_name(tmp_path, title):
    task = PlanTask(id="1.2", title=title)
    git(ROOT, "check-ref-format", "--branch", branch_name("a1b2c3", task))


def test_yaml_alias_bomb_is_an_error(tmp_path):
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for n in range(1, 9):
        lines.append(f"a{n}: &a{n} [{', '.join(['*a' if n == 1 else f'*a{n - 1}'] * 10)}]")
    plan = tmp_path / "plan.yaml"
    plan.write_text("\n".join(lines) + "\nname: bomb\nphases: []\n")
    with pytest.raises(PlanError) as caught:
        load_checked(plan, None)
    assert caught.value.code == "yaml-too-large" and caught.value.line == 1
    markdown = tmp_path / "plan.md"
    markdown.write_text("---\n" + "\n".join(lines) + "\n---\n# Feature: x\n")
    with pytest.raises(PlanError) as caught:
        load_checked(markdown, None)
    assert caught.value.code == "yaml-too-large"


def test_huge_plan_symlink_elsewhere_and_device_are_errors(tmp_path):
    big = tmp_path / "plan.md"
    with big.open("w") as handle:
        handle.write("# Feature: big\n## Phase 1: one\n")
        handle.write(("x" * 1023 + "\n") * (10 * 1024))
    assert big.stat().st_size > MAX_PLAN_BYTES
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "specs").mkdir()
    outside = write_plan(tmp_path / "elsewhere" / "plan.yaml", "name: x\nphases: []\n")
    link = tmp_path / "specs" / "plan.yaml"
    link.symlink_to(outside)
    expected = {big: "plan-too-large", link: "plan-symlink",
                Path("/dev/zero"): "plan-unreadable", tmp_path: "plan-unreadable"}
    for path, code in expected.items():
        with pytest.raises(PlanError) as caught:
            load_checked(path, "native")
        assert caught.value.code == code, path


def test_hostile_plan_run_writes_nothing(tmp_path, capsys):
    repo = make_repo(tmp_path / "repo")
    plan = write_plan(tmp_path / "plan.yaml", """\
        name: hostile
        phases:
          - name: one
            tasks:
              - {id: "../../escape", title: x, files: [../../escape.txt], run: "touch ../../pwned"}
              - {id: "2", title: y, files: ["$(touch pwned)", "~/.ssh/config"], run: "touch pwned"}
        """)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    refs = git(repo, "for-each-ref")

    code, status, err = run_cli(capsys, str(plan), "--repo", str(repo))

    assert code == 2 and status is None
    assert "plan.yaml:5: error: task id '../../escape' is not allowed" in err
    assert "file '~/.ssh/config' is absolute" in err
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    assert git(repo, "for-each-ref") == refs


@pytest.mark.usefixtures("prefect_api")
def test_plan_text_reaches_no_shell_and_no_git_option(tmp_path, capsys, monkeypatch):
    repo = make_repo(tmp_path / "repo")
    title = "--hostile-flag $(touch pwned) `touch pwned` ; touch pwned"
    plan = write_plan(tmp_path / "plan.yaml", f"""\
        name: edgy
        phases:
          - name: one
            strategy: parallel
            tasks:
              - id: "-1"
                title: x
                files: [a.txt]
              - id: "T-1"
                title: '{title}'
                files: ["-a.txt", "b (1).txt"]
                run: 'printf "%s" "$PLANFLOW_TASK_TITLE" > title.txt'
        """)
    rejected = pytest.raises(PlanError, load_checked, plan, None).value
    assert {issue.code for issue in rejected.issues} == {"unsafe-task-id", "unsafe-file-path"}
    plan.write_text(plan.read_text().replace('"-1"', '"1"').replace('"-a.txt", ', ""))
    calls: list[list[str]] = []  # every git command line, through GitPython or gitops.command
    execute, run = gitpython.Git.execute, command_module._execute

    def record(self, command, *args, **kwargs):
        calls.append([str(part) for part in command])
        return execute(self, command, *args, **kwargs)

    def record_run(cwd, operation, options, args, env, stdin=None):
        calls.append(["git", *options, *args])
        return run(cwd, operation, options, args, env, stdin)

    monkeypatch.setattr(gitpython.Git, "execute", record)
    monkeypatch.setattr(command_module, "_execute", record_run)
    code, status, err = run_cli(capsys, str(plan), "--repo", str(repo), "--agent-command", "touch a.txt")

    assert code == 0, err
    tip = git(repo, "rev-parse", status["stack"][-1])
    assert git(repo, "show", f"{tip}:title.txt") == title
    assert not list(tmp_path.rglob("pwned")) and not list(Path.cwd().glob("pwned"))
    assert any(title in part for command in calls for part in command)  # the commit message
    for command in calls:
        for part in command:
            assert not (part.startswith("-") and ("hostile" in part or "pwned" in part)), command


def test_no_module_runs_a_shell_string():
    for folder in ("planning", "agents", "gitops", "tasks", "flows", "planflow", "blocks"):
        for path in (ROOT / folder).glob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.keyword):
                    assert node.arg != "shell", f"{path.name} passes shell= to a subprocess"
                if isinstance(node, ast.Attribute) and node.attr in ("system", "popen"):
                    assert not (isinstance(node.value, ast.Name) and node.value.id == "os"), path.name



@pytest.mark.parametrize("name, text, line", [
    ("flow.yaml", "name: x\nphases: " + "[" * 30000 + "]" * 30000 + "\n", 2),
    ("recursion.yaml", "name: x\nphases: " + "[" * 450 + "]" * 450 + "\n", 2),
    ("block.yaml", "name: x\nphases:\n" + "".join(" " * i + "-\n" for i in range(0, 2000, 2)), 103),
    ("items.yaml", "name: x\nphases:\n" + "- " * 2000 + "x\n", 3),
    ("deep.json", '{"phases": ' + "[" * 50000 + "]" * 50000 + "}", 1),
    ("front.md", "---\nfeature: " + "{a: " * 1000 + "}" * 1000 + "\n---\n# x\n", 2),
])
def test_deep_nesting_is_capped_before_parsing(tmp_path, name, text, line):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(PlanError) as caught:
        load_checked(path, None)
    assert (caught.value.code, caught.value.file, caught.value.line) == ("yaml-too-deep", path, line)


def test_bom_and_crlf_front_matter_reads_like_the_plain_file(tmp_path):
    text = "---\nrunId: a1b2c3\n---\n# Feature: x\n\n## Phase 1: A\n\n### Task 1.1: T\n**Files**: `a.py`\n"
    plain = write_plan(tmp_path / "plain.md", text)
    marked = tmp_path / "marked.md"
    marked.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    first, second = load_checked(plain, None), load_checked(marked, None)
    assert second.run_id == first.run_id == "a1b2c3"
    assert second.model_dump(exclude={"source"}) == first.model_dump(exclude={"source"})
