"""``planflow clean``: removes a finished run's worktrees after saving their uncommitted work,
deletes only branches whose commits are in HEAD (or named with --force, tip saved), skips an
executing run; ``planflow status`` shows the worktrees' disk use."""

from __future__ import annotations

import json

import pytest

from gitops.repo import open_repository
from gitops.runlock import hold_run_lock
from planflow.cli import main
from runs import git, make_repo, run_cli, write_plan

pytestmark = pytest.mark.usefixtures("prefect_api")

RUN = "c1ea40"


def clean(capsys, repo, *args: str) -> tuple[int, dict, str]:
    code = main(["clean", *args, "--repo", str(repo), "--json"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if captured.out.strip() else {}, captured.err


def status_json(capsys, repo) -> dict:
    assert main(["status", RUN, "--repo", str(repo), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_clean_keeps_every_commit_and_uncommitted_change(tmp_path, capsys):
    repo = make_repo(tmp_path / "repo")
    plan = write_plan(tmp_path / "plan.yaml", f"""\
        name: clean
        run_id: {RUN}
        phases:
          - name: one
            strategy: parallel
            tasks:
              - {{id: "1", title: done, files: [a.txt], run: "echo a > a.txt"}}
              - {{id: "2", title: broken, files: [b.txt], run: "head -c 300000 /dev/urandom > b.bin; exit 3"}}
        """)
    code, status, err = run_cli(capsys, str(plan), "--repo", str(repo), "--retries", "0")
    assert code == 1, err
    before = status_json(capsys, repo)
    assert before["worktrees"] == 1 and before["worktrees_disk_bytes"] >= 300_000
    assert main(["status", RUN, "--repo", str(repo)]) == 0
    assert "worktrees: 1 using 3" in capsys.readouterr().err

    with hold_run_lock(open_repository(repo).state_dir, RUN):  # an executing run is left alone
        code, report, err = clean(capsys, repo, RUN)
    assert code == 2 and RUN in report["skipped"] and (repo / ".worktrees" / f"{RUN}-task-2").is_dir()

    code, report, err = clean(capsys, repo, RUN)

    assert code == 0, err
    assert list(report["removed_worktrees"]) == [str(repo / ".worktrees" / f"{RUN}-task-2")]
    assert report["freed_bytes"] >= 300_000 and "freed 3" in err
    [salvage] = report["salvaged"]
    assert salvage.startswith(f"refs/planflow/salvage/{RUN}-task-2/")
    assert int(git(repo, "cat-file", "-s", f"{salvage}:b.bin")) == 300_000
    assert list(report["deleted_branches"]) == [f"{RUN}-task-2-broken"]  # no commit of its own
    done = f"{RUN}-task-1-done"
    assert list(report["kept_branches"]) == [done] and "1 commit(s) not in HEAD" in err
    assert status_json(capsys, repo)["worktrees_disk_bytes"] == 0

    git(repo, "merge", "-q", "--ff-only", done)  # the user merges the stack: nothing left to keep
    git(repo, "branch", f"{RUN}-task-9-manual", done)  # the user's branches, named like task branches
    git(repo, "-c", "user.name=u", "-c", "user.email=u@x", "commit", "-q", "--allow-empty", "-m", "user work")
    git(repo, "branch", "-f", f"{RUN}-task-8-other", "HEAD")
    git(repo, "reset", "-q", "--hard", done)
    git(repo, "branch", "-f", f"{RUN}-task-2-broken", f"{RUN}-task-8-other")  # planflow's (recorded)
    code, report, err = clean(capsys, repo, "--all", "--force", f"{RUN}-task-2-broken", f"{RUN}-task-8-other",
                              "nonexistent")

    assert code == 0, err
    assert set(report["deleted_branches"]) == {done, f"{RUN}-task-2-broken"}  # never the user's
    assert git(repo, "branch", "--list", f"{RUN}-task-9-manual", f"{RUN}-task-8-other").split() == [
        f"{RUN}-task-8-other", f"{RUN}-task-9-manual"]
    assert report["force_not_deleted"] == [f"{RUN}-task-8-other", "nonexistent"]
    forced_tip = report["deleted_branches"][f"{RUN}-task-2-broken"]
    assert any(git(repo, "rev-parse", ref) == forced_tip
               for ref in git(repo, "for-each-ref", "--format=%(refname)", "refs/planflow/salvage/").split())
    assert git(repo, "cat-file", "-t", f"refs/planflow/{RUN}/task-1") == "commit"


def test_clean_of_an_unknown_run_is_an_error(tmp_path, capsys):
    repo = make_repo(tmp_path / "repo")
    code, _, err = clean(capsys, repo, "abcdef")
    assert code == 2 and "no run abcdef" in err


def test_clean_lists_the_ignored_files_it_deletes(tmp_path, capsys):
    repo = make_repo(tmp_path / "repo")
    (repo / ".gitignore").write_text("build/\n*.log\n")
    git(repo, "add", ".gitignore")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "ignore")
    plan = write_plan(tmp_path / "plan.yaml", f"""\
        name: ignored
        run_id: {RUN}
        phases:
          - name: one
            tasks:
              - {{id: "1", title: fails, files: [a.txt], run: "mkdir build && head -c 5000 /dev/zero > build/out.o && echo x > run.log && exit 3"}}
        """)
    assert run_cli(capsys, str(plan), "--repo", str(repo), "--retries", "0")[0] == 1

    code, report, err = clean(capsys, repo, RUN)

    worktree = str(repo / ".worktrees" / f"{RUN}-task-1")
    assert code == 0 and report["ignored_files"] == {
        worktree: {"count": 2, "bytes": 5002, "files": ["build/out.o", "run.log"]}}
    assert "with 2 ignored file(s), 5.0 kB, not saved: build/out.o, run.log" in err
