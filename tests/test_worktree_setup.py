"""Worktrees ready to work in: the repository configuration (``.planflow.yaml``, front matter,
``--worktree-config``), copied ignored files, shared folders and the setup command, on real git
repositories; full runs check what each agent finds before it starts."""

from __future__ import annotations

import os
import textwrap

import pytest

from gitops.prepare import PrepareError, SharedFolders, copy_ignored, link_tree, share_key
from gitops.repo import open_repository
from planning.errors import PlanError
from planning.worktree_config import Share, WorktreeConfig, load_config_file, plan_config, resolve_config
from runs import git, make_repo, run_cli, write_plan
from tasks.errors import SetupFailed
from tasks.worktree_setup import ready_worktree

CONFIG = """\
    copy: [.env, "config/*.local.json"]
    setup: echo ready > built.txt
    share:
      - path: node_modules
        key: [package-lock.json]
        run: mkdir -p node_modules/left-pad && echo "$$" > node_modules/left-pad/index.js && echo built >> BUILDS
    """
"""A Node-like configuration; BUILDS is replaced by a file outside the repository."""

AGENT = ('test -f .env && grep -qx "KEY=local" .env && test -f config/db.local.json'
         ' && grep -qx ready built.txt && test -f node_modules/left-pad/index.js || exit 9;'
         ' cat node_modules/left-pad/index.js > "seen-$PLANFLOW_TASK_ID.txt"')
"""A shell agent that exits 9 unless the worktree is ready, then records the shared file."""


def node_repo(tmp_path):
    """A repository ignoring .env, config/*.local.json, built.txt and node_modules, with those
    files in the checkout (not committed) and a committed package-lock.json."""
    repo = make_repo(tmp_path / "repo")
    (repo / ".gitignore").write_text(".env\nconfig/*.local.json\nbuilt.txt\nnode_modules/\n")
    (repo / "package-lock.json").write_text('{"lockfileVersion": 3}\n')
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "node")
    (repo / ".env").write_text("KEY=local\n")
    (repo / "config").mkdir()
    (repo / "config" / "db.local.json").write_text("{}\n")
    return repo


# --- the configuration -------------------------------------------------------------------

def test_sources_override_key_by_key(tmp_path):
    repo = make_repo(tmp_path / "repo")
    (repo / ".planflow.yaml").write_text("copy: [.env]\nsetup: make deps\n")
    plan = tmp_path / "plan.md"
    plan.write_text("---\nrunId: a1b2c3\nworktree:\n  setup: npm ci\n---\n# Plan\n")
    cli = tmp_path / "cli.yaml"
    cli.write_text("copy: [.env.local]\n")

    config = resolve_config(repo, plan, cli)

    assert config.copy_ == [".env.local"] and config.setup == "npm ci" and config.share == []
    assert plan_config(plan).setup == "npm ci"
    assert resolve_config(repo, None, None).setup == "make deps"
    assert resolve_config(tmp_path, None, None).empty


@pytest.mark.parametrize(("text", "line", "words"), [
    ("copy: [.env]\nshare:\n  - path: ../up\n    key: [a.lock]\n    run: x\n", 3, "inside it"),
    ("setup: x\ncopyy: [.env]\n", 2, "copyy"),
    ("share:\n  - path: node_modules\n    run: npm ci\n", 2, "key"),
    ("- just\n- a list\n", 1, "not a mapping"),
])
def test_a_bad_file_names_file_line_and_fix(tmp_path, text, line, words):
    path = tmp_path / ".planflow.yaml"
    path.write_text(text)
    with pytest.raises(PlanError) as caught:
        load_config_file(path)
    assert caught.value.line == line and words in str(caught.value)
    assert caught.value.file == path and caught.value.fix


def test_run_refuses_a_bad_configuration_before_anything_starts(tmp_path, capsys):
    repo = make_repo(tmp_path / "repo")
    (repo / ".planflow.yaml").write_text("setup: x\nshare: nope\n")
    plan = write_plan(tmp_path / "plan.yaml", """\
        name: bad
        phases:
          - name: one
            tasks:
              - {id: "1", title: only, files: [a.txt], run: "echo a > a.txt"}
        """)
    code, status, err = run_cli(capsys, str(plan), "--repo", str(repo))
    assert code == 2 and status is None
    assert ".planflow.yaml:2" in err and "share" in err and "Traceback" not in err
    assert git(repo, "branch", "--list") == "* main"


# --- copying and sharing ----------------------------------------------------------------

def test_copy_takes_ignored_files_and_refuses_tracked_risks(tmp_path):
    repo = node_repo(tmp_path)
    worktree = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", str(worktree), "HEAD")

    copied, empty = copy_ignored(repo, worktree, [".env", "config/*.local.json", "nothing*"])

    assert copied == [".env", "config/db.local.json"] and empty == ["nothing*"]
    assert (worktree / ".env").read_text() == "KEY=local\n"
    (repo / "notes.txt").write_text("not ignored\n")
    with pytest.raises(PrepareError, match="notes.txt is not ignored by git"):
        copy_ignored(repo, worktree, ["notes.txt"])
    assert not (worktree / "notes.txt").exists()


def test_a_kept_folder_is_linked_and_its_key_follows_the_lock_file(tmp_path):
    share = Share(path="node_modules", key=["package-lock.json"], run="npm ci")
    first, second = tmp_path / "a", tmp_path / "b"
    for worktree in (first, second):
        (worktree / "node_modules" / "pkg" / "lib").mkdir(parents=True)
        (worktree / "package-lock.json").write_text("v1\n")
    (first / "node_modules" / "pkg" / "lib" / "index.js").write_text("module.exports = 1\n")
    os.symlink("../pkg/lib/index.js", first / "node_modules" / "pkg" / "main.js")
    shared = SharedFolders(tmp_path / "share")
    key = share_key(first, share)

    assert shared.restore(share, key, second) is None
    assert shared.keep(share, key, first) and not shared.keep(share, key, first)
    mode = shared.restore(share, key, second)

    linked = second / "node_modules" / "pkg" / "lib" / "index.js"
    assert mode in ("reflink", "hardlink") and linked.read_text() == "module.exports = 1\n"
    assert os.readlink(second / "node_modules" / "pkg" / "main.js") == "../pkg/lib/index.js"
    if mode == "hardlink":
        assert linked.stat().st_ino == (first / "node_modules/pkg/lib/index.js").stat().st_ino
    (second / "package-lock.json").write_text("v2\n")
    assert share_key(second, share) != key
    assert share_key(first, share.model_copy(update={"run": "npm install"})) != key
    assert link_tree(first / "node_modules", tmp_path / "copy") in ("reflink", "hardlink")


# --- runs ---------------------------------------------------------------------------------

@pytest.mark.usefixtures("prefect_api")
def test_each_worktree_is_ready_before_its_agent_starts(tmp_path, capsys):
    repo = node_repo(tmp_path)
    builds = tmp_path / "builds.log"
    (repo / ".planflow.yaml").write_text(textwrap.dedent(CONFIG).replace("BUILDS", str(builds)))
    plan = write_plan(tmp_path / "plan.yaml", f"""\
        name: ready
        phases:
          - name: one
            tasks:
              - {{id: "1", title: first, files: [seen-1.txt], run: '{AGENT}'}}
              - {{id: "2", title: second, files: [seen-2.txt], run: '{AGENT}'}}
        """)
    head, user_status = git(repo, "rev-parse", "HEAD"), git(repo, "status", "--porcelain")

    code, status, err = run_cli(capsys, str(plan), "--repo", str(repo), "--retries", "0")

    assert code == 0, err
    assert builds.read_text() == "built\n"  # node_modules built once, linked into the second
    tip = status["stack"][-1]
    assert git(repo, "show", f"{tip}:seen-1.txt") == git(repo, "show", f"{tip}:seen-2.txt")
    committed = git(repo, "ls-tree", "-r", "--name-only", tip).split()
    assert not {".env", "built.txt", "config/db.local.json"} & set(committed)
    assert not any(name.startswith("node_modules") for name in committed)
    assert all(task["setup_s"] > 0 for task in status["tasks"])
    assert "setup s" in err.splitlines()[[i for i, line in enumerate(err.splitlines())
                                          if "tokens in" in line][0]]
    assert git(repo, "rev-parse", "HEAD") == head and git(repo, "status", "--porcelain") == user_status
    logs = repo / ".git" / "planflow" / "runs" / status["run_id"] / "logs"
    assert (logs / "task-1.attempt-1.share-1.log").is_file()
    assert not (logs / "task-2.attempt-1.share-1.log").exists()
    assert (logs / "task-2.attempt-1.setup.log").is_file()


@pytest.mark.usefixtures("prefect_api")
def test_a_failing_setup_is_classed_setup_retried_and_keeps_the_worktree(tmp_path, capsys):
    repo = node_repo(tmp_path)
    calls = tmp_path / "agent-calls.log"
    config = tmp_path / "worktree.yaml"
    config.write_text("copy: [.env]\nsetup: echo cannot install; exit 3\n")
    plan = write_plan(tmp_path / "plan.yaml", f"""\
        name: broken
        phases:
          - name: one
            tasks:
              - {{id: "1", title: only, files: [a.txt], run: 'echo called >> {calls}; echo a > a.txt'}}
        """)

    code, status, err = run_cli(capsys, str(plan), "--repo", str(repo), "--retries", "1",
                                "--worktree-config", str(config))

    assert code == 1
    error = status["failed_tasks"][0]["error"]
    assert "the setup command `echo cannot install; exit 3` exited 3 (failure: setup)" in error
    assert "cannot install" in error
    assert not calls.exists()  # the agent never started
    logs = repo / ".git" / "planflow" / "runs" / status["run_id"] / "logs"
    assert [p.name for p in sorted(logs.glob("*.setup.log"))] == [
        "task-1.attempt-1.setup.log", "task-1.attempt-2.setup.log"]
    worktree = repo / ".worktrees" / f"{status['run_id']}-task-1"
    assert (worktree / ".env").is_file()


def test_an_empty_configuration_asks_for_nothing():
    assert WorktreeConfig().empty and not WorktreeConfig(setup="x").empty


def test_a_shared_folder_git_does_not_ignore_fails_the_setup(tmp_path):
    repo = node_repo(tmp_path)
    worktree = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", str(worktree), "HEAD")
    config = WorktreeConfig(share=[Share(path="vendor", key=["package-lock.json"], run="mkdir vendor")])
    with pytest.raises(SetupFailed, match="share: vendor/ is not ignored by git.*failure: setup"):
        ready_worktree(config, open_repository(repo), worktree, "b", "1", tmp_path / "t.log", 60)
    assert not (worktree / "vendor").exists()
