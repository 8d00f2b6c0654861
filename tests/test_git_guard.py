"""planflow's own git calls run nothing an agent planted (hooks, fsmonitor, filters added to the
shared config), see no secret and end at a time limit; what an agent changed in the shared git
files and refs is put back and reported; ``planflow clean`` deletes only branches planflow made."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gitops.errors import GitError
from gitops.repo import open_repository
from gitrepo import TEST_IDENTITY
from planflow.cli import main
from runs import git, make_repo, run_cli, write_plan

pytestmark = pytest.mark.usefixtures("prefect_api")

SECRET = "sk-guard-test-0123456789abcdef"


def shared_files(repo: Path) -> dict[str, bytes]:
    common = repo / ".git"
    return {str(p.relative_to(common)): p.read_bytes() for part in ("config", "hooks", "info")
            for p in ([common / part] if (common / part).is_file() else (common / part).rglob("*"))
            if p.is_file()}


def plant_script(tmp_path: Path, log: Path) -> Path:
    """An agent that plants a logging filter, an fsmonitor, hooks and attributes in the shared
    git directory, then does its work."""
    spy = tmp_path / "spy.sh"
    spy.write_text(f'#!/bin/sh\nenv >> "{log}"\ncat\n')
    spy.chmod(0o755)
    script = tmp_path / "plant.sh"
    script.write_text(f"""set -e
common=$(git rev-parse --path-format=absolute --git-common-dir)
git config filter.spy.clean "{spy}"
git config filter.spy.required true
git config core.fsmonitor "{spy}"
echo '* filter=spy' >> "$common/info/attributes"
for hook in post-checkout reference-transaction pre-commit post-commit; do
  cp "{spy}" "$common/hooks/$hook"
done
echo work > 1.txt
""")
    return script


def test_planted_config_and_hooks_never_run_and_are_put_back(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    repo = make_repo(tmp_path / "repo")
    open_repository(repo)  # adds .worktrees/ to info/exclude, as every run does first
    before = shared_files(repo)
    log = tmp_path / "spy.log"
    plan = write_plan(tmp_path / "plan.yaml", f"""\
        name: planted
        phases:
          - name: one
            tasks:
              - {{id: "1", title: plants, files: [1.txt], run: "sh {plant_script(tmp_path, log)}"}}
          - name: two
            tasks:
              - {{id: "2", title: after, files: [2.txt], run: "echo two > 2.txt"}}
        """)

    code, status, err = run_cli(capsys, str(plan), "--repo", str(repo), "--retries", "0")

    assert code == 0, err
    warning = " | ".join(status["tasks"][0]["warnings"])
    assert "changed the repository's shared git files (restored)" in warning
    assert "config changed (core.fsmonitor, filter.spy.clean, filter.spy.required)" in warning
    assert "hooks/post-checkout added" in warning and "info/attributes added" in warning
    assert not log.exists(), log.read_text()[:500]  # no hook, filter or fsmonitor ran
    assert shared_files(repo) == before
    assert git(repo, "show", f"{status['stack'][-1]}:1.txt") == "work"


def test_config_added_after_the_start_is_neutralised_and_the_users_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    repo_path = make_repo(tmp_path / "repo")
    git(repo_path, "config", "filter.upper.clean", "tr a-z A-Z")  # the user's own filter
    repo = open_repository(repo_path)
    worktree = repo.prepare_worktree(repo_path / ".worktrees" / "w", "guarded", "HEAD")
    log = tmp_path / "spy.log"
    plant_script(tmp_path, log)  # writes spy.sh
    spy = tmp_path / "spy.sh"
    # what an agent does while planflow commits another task's work
    git(worktree, "config", "filter.spy.clean", str(spy))
    git(worktree, "config", "filter.upper.clean", str(spy))  # and hijacks the user's filter
    (repo_path / ".git" / "hooks" / "pre-commit").write_bytes(spy.read_bytes())
    (repo_path / ".git" / "hooks" / "pre-commit").chmod(0o755)
    (worktree / ".gitattributes").write_text("*.txt filter=spy\n*.up filter=upper\n")
    (worktree / "a.txt").write_text("plain\n")
    (worktree / "b.up").write_text("shout\n")

    commit = repo.commit_all(worktree, "guarded commit")

    assert not log.exists()
    assert git(repo_path, "show", f"{commit}:a.txt") == "plain"
    assert git(repo_path, "show", f"{commit}:b.up") == "SHOUT"  # the baseline filter still runs


def test_git_sees_no_secret_and_a_hanging_call_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("MY_SERVICE_TOKEN", SECRET)
    repo_path = make_repo(tmp_path / "repo")
    log = tmp_path / "env.log"
    git(repo_path, "config", "filter.env.clean", f"sh -c 'env > {log}; cat'")
    git(repo_path, "config", "filter.slow.clean", "sleep 60")
    repo = open_repository(repo_path)
    worktree = repo.prepare_worktree(repo_path / ".worktrees" / "w", "envtest", "HEAD")
    (worktree / ".gitattributes").write_text("*.txt filter=env\n*.slow filter=slow\n")
    (worktree / "a.txt").write_text("a\n")
    repo.commit_all(worktree, "env")
    text = log.read_text()
    assert "PATH=" in text and SECRET not in text

    (worktree / "b.slow").write_text("b\n")
    monkeypatch.setenv("PLANFLOW_GIT_TIMEOUT_S", "1")
    with pytest.raises(GitError, match=r"timed out after 1 s .*PLANFLOW_GIT_TIMEOUT_S"):
        repo.commit_all(worktree, "slow")


def test_the_users_branches_and_tags_are_restored(tmp_path, capsys):
    repo = make_repo(tmp_path / "repo")
    (repo / "two.txt").write_text("2\n")
    git(repo, "add", "two.txt")
    git(repo, *TEST_IDENTITY, "commit", "-qm", "second")
    git(repo, "branch", "feature", "HEAD~1")
    git(repo, "tag", "v1", "HEAD~1")
    git(repo, "checkout", "-qb", "work")  # the user works on another branch than main
    refs = git(repo, "for-each-ref", "--format=%(refname) %(objectname)")
    agent = ("git branch -D feature && git branch -f main HEAD~1 && git tag -d v1"
             " && git branch agent-made && echo x > 1.txt")
    plan = write_plan(tmp_path / "plan.yaml", f"""\
        name: refs
        phases:
          - name: one
            tasks:
              - {{id: "1", title: branches, files: [1.txt], run: "{agent}"}}
        """)

    code, status, err = run_cli(capsys, str(plan), "--repo", str(repo), "--retries", "0")

    assert code == 0, err
    warning = " | ".join(status["tasks"][0]["warnings"])
    assert "deleted branch feature (restored to" in warning
    assert "moved branch main (restored to" in warning and "deleted tag v1 (restored to" in warning
    assert "created branch agent-made (left as it is)" in warning
    after = git(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads/feature",
                "refs/heads/main", "refs/heads/work", "refs/tags/v1")
    assert after.splitlines() == [line for line in refs.splitlines()
                                  if line.split()[0] in ("refs/heads/feature", "refs/heads/main",
                                                         "refs/heads/work", "refs/tags/v1")]


def test_clean_deletes_only_branches_planflow_created(tmp_path, capsys):
    repo = make_repo(tmp_path / "repo")
    plan = write_plan(tmp_path / "plan.yaml", """\
        name: mine
        run_id: c0ffee
        phases:
          - name: one
            tasks:
              - {id: "1", title: one, files: [1.txt], run: "echo 1 > 1.txt"}
        """)
    code, status, err = run_cli(capsys, str(plan), "--repo", str(repo), "--retries", "0")
    assert code == 0, err
    git(repo, "merge", "-q", "--ff-only", status["stack"][-1])
    git(repo, "branch", "c0ffee-task-9-mine")  # the user's, named like a task branch

    code = main(["clean", "--all", "--repo", str(repo), "--json"])
    report = json.loads(capsys.readouterr().out)

    assert code == 0 and list(report["deleted_branches"]) == [status["tasks"][0]["branch"]]
    assert git(repo, "branch", "--list", "c0ffee-task-9-mine") != ""


def test_what_an_agent_of_a_killed_run_planted_is_put_back_on_the_next_open(tmp_path):
    import subprocess

    from gitops.repo import Repository
    from gitops.shared_files import SharedFiles

    repo_path = make_repo(tmp_path / "repo")
    common = repo_path / ".git"
    record = common / "planflow" / "shared-git" / "w.json"
    SharedFiles(common, record)  # recorded when the agent started
    config = (common / "config").read_bytes()
    git(repo_path, "config", "filter.spy.clean", "sleep 100000")  # planted; then planflow is killed
    dead = subprocess.Popen(["true"])
    dead.wait()
    data = json.loads(record.read_text())
    record.write_text(json.dumps({**data, "pid": dead.pid}))

    Repository(repo_path)  # the re-run opens the repository

    assert (common / "config").read_bytes() == config and not record.exists()


def test_a_branch_moved_by_one_of_two_parallel_agents_is_restored_once_by_its_own_task(tmp_path):
    from gitops.refwatch import RefWatch

    repo_path = make_repo(tmp_path / "repo")
    git(repo_path, "branch", "feature")
    feature = git(repo_path, "rev-parse", "feature")
    for name in ("a", "b"):
        git(repo_path, "worktree", "add", "-q", "-b", f"task-{name}", str(tmp_path / name))
    repo = open_repository(repo_path)
    admin = {name: repo.common_dir / "worktrees" / name for name in ("a", "b")}
    watch_a = RefWatch(repo, "refs/heads/task-a", admin["a"])
    watch_b = RefWatch(repo, "refs/heads/task-b", admin["b"])
    # b's agent commits on the user's branch, then planflow has put b back on its own branch
    git(tmp_path / "b", "checkout", "-q", "feature")
    (tmp_path / "b" / "z.txt").write_text("z\n")
    git(tmp_path / "b", "add", "z.txt")
    git(tmp_path / "b", *TEST_IDENTITY, "commit", "-q", "-m", "z")
    git(tmp_path / "b", "checkout", "-q", "task-b")

    assert watch_a.restore() == []  # a's check ended first: the move is b's, left to b's watch
    assert git(repo_path, "rev-parse", "feature") != feature
    [warning] = watch_b.restore()
    assert warning.startswith("moved branch feature (restored to")
    assert git(repo_path, "rev-parse", "feature") == feature
    # a restore of a ref another check already put back does nothing and does not fail
    repo.restore_ref("refs/heads/feature", feature, "0" * 40)
    assert git(repo_path, "rev-parse", "feature") == feature
