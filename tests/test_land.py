"""``planflow land``: each mode and ``--dry-run`` on real repositories, with the user's checkout
byte-identical before and after; a target that moved, conflicts, a checked-out target,
unfinished runs and missing branches; ``--push`` to a bare remote; ``--pr`` through stand-in
``gh`` and ``gs`` executables."""

from __future__ import annotations

import os
import shutil

import pytest

from gitops.repo import open_repository
from gitops.runlock import hold_run_lock
from landing import (GH_BODY, GS_BODY, RUN, TASKS, calls, commit_file, land, moved_target, snapshot,
                     stacked_run, stand_in)
from planflow.cli import main
from planning.status import read_status, status_path
from runs import git, make_repo, run_cli, write_plan

REAL_RUN = "1a2d01"


def tree_files(repo, ref: str) -> list[str]:
    return git(repo, "ls-tree", "-r", "--name-only", ref).splitlines()


def test_fast_forward_with_dry_run_first_leaves_the_checkout_untouched(tmp_path, capsys):
    repo, branches = stacked_run(tmp_path)
    before, main = snapshot(repo), git(repo, "rev-parse", "main")

    code, report, err = land(capsys, repo, "--dry-run")
    assert code == 0, err
    assert report["mode"] == "fast-forward" and report["dry_run"] and report["commits"] == 3
    assert "would land the stack on main" in err and "nothing was changed" in err
    assert git(repo, "rev-parse", "main") == main

    code, report, err = land(capsys, repo)
    assert code == 0, err
    assert git(repo, "rev-parse", "main") == git(repo, "rev-parse", branches[-1]) == report["new_tip"]
    assert snapshot(repo) == before
    assert land(capsys, repo)[2].startswith("main already holds the stack")


@pytest.mark.parametrize("mode", ["squash", "merge", "rebase"])
def test_each_mode_lands_on_a_target_that_moved(tmp_path, capsys, mode):
    repo, branches, moved, old_tips = moved_target(tmp_path, "hotfix.txt", "fix\n")
    before = snapshot(repo)

    code, _, err = land(capsys, repo)
    assert code == 2 and "main has 1 commit(s) the stack lacks" in err
    assert "--rebase" in err and "--merge" in err and "--squash" in err

    code, report, err = land(capsys, repo, f"--{mode}", "--dry-run")
    assert code == 0, err
    assert git(repo, "rev-parse", "main") == moved and report["behind"] == 1
    assert [git(repo, "rev-parse", b) for b in branches] == old_tips

    code, report, err = land(capsys, repo, f"--{mode}")
    assert code == 0, err
    tip = git(repo, "rev-parse", "main")
    assert tip == report["new_tip"] and git(repo, "merge-base", "--is-ancestor", moved, tip) == ""
    assert sorted(tree_files(repo, tip)) == sorted(["README.md", "hotfix.txt", *[t[2] for t in TASKS]])
    parents = git(repo, "log", "-1", "--format=%P", tip).split()
    if mode == "squash":
        assert parents == [moved] and "task 2: checker" in git(repo, "log", "-1", "--format=%B", tip)
    elif mode == "merge":
        assert parents == [moved, old_tips[-1]]
    else:  # each branch replayed onto main, in order, the old tips kept
        new_tips = [git(repo, "rev-parse", b) for b in branches]
        assert new_tips[-1] == tip and git(repo, "rev-list", "--count", f"{moved}..{tip}") == "3"
        assert all(git(repo, "merge-base", "--is-ancestor", below, above) == ""
                   for below, above in zip([moved, *new_tips], new_tips))
        assert len(git(repo, "for-each-ref", "refs/planflow/salvage/").splitlines()) == 3
    assert snapshot(repo) == before
    code, _, err = land(capsys, repo, f"--{mode}")  # landing again lands nothing twice
    assert code == 0 and "already holds the stack" in err and git(repo, "rev-parse", "main") == tip


@pytest.mark.parametrize("mode", ["squash", "merge", "rebase"])
def test_a_conflict_with_the_target_moves_nothing_and_says_how_to_settle_it(tmp_path, capsys, mode):
    repo, branches, moved, tips = moved_target(tmp_path, "check.txt", "someone else's checker\n")
    before = snapshot(repo)

    for extra in (["--dry-run"], []):
        code, report, err = land(capsys, repo, f"--{mode}", *extra)
        assert code == 1 and report is None
        assert "check.txt" in err and "conflict" in err and "git rebase --update-refs main" in err
        assert git(repo, "rev-parse", "main") == moved
        assert [git(repo, "rev-parse", b) for b in branches] == tips
    assert snapshot(repo) == before and not (repo / ".worktrees" / f"{RUN}-land").exists()


def test_a_checked_out_target_needs_update_checkout_and_a_clean_checkout(tmp_path, capsys):
    repo, branches = stacked_run(tmp_path)
    git(repo, "stash", "-q", "--include-untracked")
    git(repo, "switch", "-q", "main")
    (repo / "notes.txt").write_text("the user's untracked notes\n")
    before = snapshot(repo)

    code, _, err = land(capsys, repo)
    assert code == 2 and "main is checked out in" in err and "--update-checkout" in err
    assert snapshot(repo) == before

    (repo / "README.md").write_text("edited\n")
    code, _, err = land(capsys, repo, "--update-checkout")
    assert code == 2 and "uncommitted changes in README.md" in err
    assert (repo / "README.md").read_text() == "edited\n" and not (repo / "parse.txt").exists()

    git(repo, "checkout", "-q", "--", "README.md")
    code, report, err = land(capsys, repo, "--update-checkout")
    assert code == 0, err
    assert report["checkout"] == str(repo) and "updated the checkout" in err
    assert git(repo, "rev-parse", "HEAD") == git(repo, "rev-parse", branches[-1])
    assert (repo / "report.txt").read_text() == "report\n" and (repo / "notes.txt").exists()
    assert git(repo, "status", "--porcelain") == "?? notes.txt"


def test_unknown_unfinished_executing_and_broken_runs_are_refused(tmp_path, capsys):
    repo, branches = stacked_run(tmp_path)
    before = snapshot(repo)
    code, _, err = land(capsys, repo, "--dry-run", "--onto", "nope")
    assert code == 2 and "there is no branch nope" in err
    assert main(["land", "abcdef", "--repo", str(repo)]) == 2
    err = capsys.readouterr().err
    assert f"no run abcdef in {repo}" in err and f"known: {RUN}" in err

    with hold_run_lock(repo / ".git" / "planflow", RUN):
        code, _, err = land(capsys, repo)
    assert code == 4 and "already executing" in err

    path = status_path(repo / ".git" / "planflow", RUN)
    status = read_status(path)
    missing_tip = git(repo, "rev-parse", branches[1])
    git(repo, "branch", "-q", "-D", branches[1])
    code, _, err = land(capsys, repo)
    assert code == 2 and f"branch {branches[1]} of run {RUN}'s stack is missing" in err
    assert f"git branch {branches[1]} {missing_tip}" in err
    git(repo, "branch", branches[1], missing_tip)

    path.write_text(status.model_copy(update={"status": "failed", "output": "task 2 failed"}).model_dump_json())
    code, _, err = land(capsys, repo)
    assert code == 2 and "has not completed (failed: task 2 failed)" in err and "resume" in err

    path.write_text(status.model_copy(update={"base_branch": None}).model_dump_json())
    code, _, err = land(capsys, repo)
    assert code == 2 and "--onto BRANCH" in err
    assert snapshot(repo) == before and git(repo, "rev-parse", "main") == status.base


def test_push_sends_the_landed_branch_to_a_bare_remote(tmp_path, capsys):
    repo, branches = stacked_run(tmp_path)
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "push", "-q", str(remote), "main")
    before = snapshot(repo)

    code, _, err = land(capsys, repo, "--push", "orign")
    assert code == 2 and "there is no remote orign" in err and git(repo, "rev-parse", "main") != git(repo, "rev-parse", branches[-1])
    code, report, err = land(capsys, repo, "--push", str(remote), "--dry-run")
    assert code == 0 and "would push main to" in err
    assert git(remote, "rev-parse", "main") != git(repo, "rev-parse", branches[-1])

    code, report, err = land(capsys, repo, "--push", str(remote))
    assert code == 0, err
    assert report["pushed_to"] == str(remote) and f"pushed main to {remote}" in err
    assert git(remote, "rev-parse", "main") == git(repo, "rev-parse", branches[-1])
    assert git(remote, "for-each-ref", "--format=%(refname)") == "refs/heads/main"
    assert snapshot(repo) == before

    git(repo, "branch", "elsewhere", branches[0])  # a remote that moved is not overwritten
    other = commit_file(repo, "elsewhere", "x.txt", "x\n", "someone else's work")
    git(repo, "push", "-q", "--force", str(remote), "elsewhere:main")
    code, _, err = land(capsys, repo, "--push", str(remote))
    assert code == 1 and "push to" in err and git(remote, "rev-parse", "main") == other


@pytest.fixture
def forge_path(tmp_path, monkeypatch):
    """A ``bin`` folder first on PATH, with only git and Python after it."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    dirs = dict.fromkeys(os.path.dirname(shutil.which(name)) for name in ("git", "python3", "env"))
    monkeypatch.setenv("PATH", os.pathsep.join([str(bin_dir), *dirs]))
    return bin_dir


def with_origin(tmp_path, repo):
    remote = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    return remote


def test_pr_opens_stacked_pull_requests_with_gh(tmp_path, capsys, forge_path):
    repo, branches = stacked_run(tmp_path)
    remote = with_origin(tmp_path, repo)
    log = tmp_path / "gh.log"
    stand_in(forge_path, "gh", GH_BODY.format(auth_exit=0), log)
    before, main = snapshot(repo), git(repo, "rev-parse", "main")

    code, _, err = land(capsys, repo, "--pr", "--dry-run")
    assert code == 0 and f"would open a pull request {branches[1]} -> {branches[0]}" in err
    assert [c["args"][:2] for c in calls(log)] == [["auth", "status"]]

    code, report, err = land(capsys, repo, "--pr")
    assert code == 0, err
    created = [c["args"] for c in calls(log) if c["args"][:2] == ["pr", "create"]]
    assert [(a[a.index("--head") + 1], a[a.index("--base") + 1]) for a in created] == [
        (branches[0], "main"), (branches[1], branches[0]), (branches[2], branches[1])]
    titles = [a[a.index("--title") + 1] for a in created]
    assert titles == ["[1/3] parser (task 1)", "[2/3] checker (task 2)", "[3/3] report (task 3)"]
    body = created[1][created[1].index("--body") + 1]
    assert "Write check.txt." in body and "- [ ] check.txt exists" in body and "Part 2 of 3" in body
    assert [pr["url"] for pr in report["pull_requests"]] == [f"https://github.com/o/r/pull/{n}" for n in (1, 2, 3)]
    assert all(c["cwd"] != str(repo) for c in calls(log))
    assert [git(remote, "rev-parse", b) for b in branches] == [git(repo, "rev-parse", b) for b in branches]
    assert git(repo, "rev-parse", "main") == main and snapshot(repo) == before
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1

    code, report, err = land(capsys, repo, "--pr")  # again: the open pull requests are kept
    assert code == 0 and [pr["action"] for pr in report["pull_requests"]] == ["kept"] * 3
    assert len([c for c in calls(log) if c["args"][:2] == ["pr", "create"]]) == 3


def test_pr_uses_git_spice_when_gh_is_not_logged_in(tmp_path, capsys, forge_path):
    repo, branches = stacked_run(tmp_path)
    with_origin(tmp_path, repo)
    stand_in(forge_path, "gh", GH_BODY.format(auth_exit=1), tmp_path / "gh.log")
    log = tmp_path / "gs.log"
    stand_in(forge_path, "gs", GS_BODY, log)
    before = snapshot(repo)

    code, report, err = land(capsys, repo, "--pr")
    assert code == 0, err
    recorded = calls(log)
    assert [c["args"] for c in recorded[1:]] == [
        ["--no-prompt", "repo", "init", "--trunk", "main", "--remote", "origin"],
        ["--no-prompt", "branch", "track", branches[0], "--base", "main"],
        ["--no-prompt", "branch", "track", branches[1], "--base", branches[0]],
        ["--no-prompt", "branch", "track", branches[2], "--base", branches[1]],
        ["--no-prompt", "stack", "submit", "--fill", "--no-web"]]
    assert recorded[-1]["branch"] == branches[2] and recorded[-1]["cwd"] != str(repo)
    assert report["tool"] == "git-spice" and snapshot(repo) == before
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1


def test_pr_without_gh_or_git_spice_says_what_to_install(tmp_path, capsys, forge_path):
    repo, _ = stacked_run(tmp_path)
    stand_in(forge_path, "gs", "print('GPL Ghostscript 10.0.0')", tmp_path / "ghostscript.log")
    code, _, err = land(capsys, repo, "--pr")
    assert code == 2 and "neither gh nor git-spice is installed" in err
    assert "https://cli.github.com" in err and "git-spice" in err
    stand_in(forge_path, "gh", GH_BODY.format(auth_exit=1), tmp_path / "gh.log")
    code, _, err = land(capsys, repo, "--pr", "--dry-run")
    assert code == 2 and "gh is installed but not logged in" in err and "gh auth login" in err
    stand_in(forge_path, "gh", GH_BODY.format(auth_exit=0), tmp_path / "gh.log")
    code, _, err = land(capsys, repo, "--pr")
    assert code == 2 and "there is no remote origin" in err
    assert land(capsys, repo, "--pr", "--squash")[0] == 2


def test_repository_records_the_branch_a_run_starts_from(tmp_path):
    repo, _ = stacked_run(tmp_path)
    assert open_repository(repo).head_branch() == "work"
    git(repo, "switch", "-q", "--detach")
    assert open_repository(repo).head_branch() is None


SPEC = """\
# Feature: word tools

## Requirements

- **FR-001**: The system MUST count words.
- **FR-002**: The system MUST count lines.
- **FR-003**: The system MUST print a report.
- **NFR-001**: Standard library only.
"""


@pytest.mark.usefixtures("prefect_api")
def test_a_stack_from_a_real_run_lands_pushes_and_opens_pull_requests(tmp_path, capsys, monkeypatch):
    from prefect.artifacts import Artifact

    repo = make_repo(tmp_path / "repo")
    feature = tmp_path / "feature"
    feature.mkdir()
    (feature / "spec.md").write_text(SPEC)
    plan = write_plan(feature / "plan.yaml", f"""\
        name: word tools
        run_id: {REAL_RUN}
        phases:
          - name: build
            tasks:
              - {{id: "1", title: words, prompt: "FR-001 and NFR-001", files: [words.txt], run: "echo w > words.txt"}}
              - {{id: "2", title: lines, prompt: "Implements FR-002.", files: [lines.txt], run: "echo l > lines.txt"}}
              - {{id: "3", title: report, prompt: "FR-003", files: [report.txt], run: "echo r > report.txt"}}
        """)
    code, status, err = run_cli(capsys, str(plan), "--repo", str(repo))
    assert code == 0, err
    branches = status["stack"]
    assert len(branches) == 3 and status["base_branch"] == "main"
    assert status["base"] == git(repo, "rev-parse", "main")
    artifact = Artifact.get(f"planflow-{REAL_RUN}-plan")
    assert "## Requirements (4 of 4 cited, from `spec.md`)" in artifact.data
    assert f"| FR-002 The system MUST count lines | 2 | `{branches[1]}` |" in artifact.data
    assert f"| NFR-001 Standard library only | 1 | `{branches[0]}` |" in artifact.data

    git(repo, "switch", "-q", "-c", "work")  # the user goes on working elsewhere
    (repo / "README.md").write_text("work in progress\n")
    remote = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    before, main_before = snapshot(repo), git(repo, "rev-parse", "main")

    code = main(["land", REAL_RUN, "--repo", str(repo), "--dry-run"])
    assert code == 0 and git(repo, "rev-parse", "main") == main_before, capsys.readouterr().err
    code = main(["land", REAL_RUN, "--repo", str(repo), "--push", "origin"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert git(repo, "rev-parse", "main") == git(remote, "rev-parse", "main") == git(repo, "rev-parse", branches[-1])
    assert git(repo, "log", "--format=%s", "main~3..main").splitlines() == [
        f"[{REAL_RUN}] task 3: report", f"[{REAL_RUN}] task 2: lines", f"[{REAL_RUN}] task 1: words"]

    bin_dir = tmp_path / "bin"
    log = tmp_path / "gh.log"
    stand_in(bin_dir, "gh", GH_BODY.format(auth_exit=0), log)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    assert main(["land", REAL_RUN, "--repo", str(repo), "--pr"]) == 0, capsys.readouterr().err
    created = [c["args"] for c in calls(log) if c["args"][:2] == ["pr", "create"]]
    assert [a[a.index("--base") + 1] for a in created] == ["main", branches[0], branches[1]]
    assert [a[a.index("--head") + 1] for a in created] == branches
    assert snapshot(repo) == before
