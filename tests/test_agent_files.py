"""What an agent leaves in its worktree that git or planflow could choke on: nested
repositories (kept as plain files, never a gitlink, never blocking a re-run or ``clean``),
file names that are not UTF-8 (escaped in messages), too much data (a limit per task) and too
much output (the log capped, head and tail kept)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agents.logcap import cap_log
from planflow.cli import main
from runs import git, make_repo, run_cli, write_plan

pytestmark = pytest.mark.usefixtures("prefect_api")

RUN = "f11e5a"


def one_task_plan(tmp_path: Path, script: str) -> Path:
    """A plan of run ``RUN`` with one task whose agent runs shell ``script`` (a file)."""
    agent = tmp_path / "agent.sh"
    agent.write_text("set -e\n" + script)
    return write_plan(tmp_path / "plan.yaml", f"""\
        name: files
        run_id: {RUN}
        phases:
          - name: one
            tasks:
              - {{id: "1", title: files, files: [sub/n.txt], run: "sh {agent}"}}
        """)


def tree(repo: Path, commit: str) -> list[tuple[str, str]]:
    """(mode, path) of every entry of ``commit``'s tree."""
    out = git(repo, "ls-tree", "-r", "-z", commit)
    return [(entry.split(" ")[0], entry.split("\t", 1)[1]) for entry in out.split("\0") if entry]


NESTED = ("git init -q sub && echo n > sub/n.txt && git -C sub add n.txt"
          " && git -C sub -c user.name=a -c user.email=a@example.com commit -qm nested\n")


def test_a_committed_nested_repository_becomes_plain_files(tmp_path, capsys):
    repo = make_repo(tmp_path / "repo")
    plan = one_task_plan(tmp_path, NESTED + "git add sub 2>/dev/null\n")  # staged as a gitlink too

    code, status, err = run_cli(capsys, str(plan), "--repo", str(repo), "--retries", "0")

    assert code == 0, err
    assert "created a nested git repository in sub/" in " ".join(status["tasks"][0]["warnings"])
    entries = tree(repo, status["stack"][-1])
    assert ("100644", "sub/n.txt") in entries and not [e for e in entries if e[0] == "160000"]
    [kept] = list((repo / ".git" / "planflow" / "runs" / RUN / "nested").rglob("sub/.git"))
    assert git(kept.parent, "--git-dir", str(kept), "log", "--format=%s") == "nested"


def test_an_uncommitted_nested_repository_blocks_no_rerun_and_no_clean(tmp_path, capsys):
    repo = make_repo(tmp_path / "repo")
    flag = tmp_path / "succeed"
    plan = one_task_plan(tmp_path, f"git init -q sub && echo n > sub/n.txt\ntest -f {flag} || exit 3\n")

    code, status, err = run_cli(capsys, str(plan), "--repo", str(repo), "--retries", "0")
    assert code == 1 and (repo / ".worktrees" / f"{RUN}-task-1" / "sub" / "n.txt").is_file()
    flag.touch()
    code, status, err = run_cli(capsys, str(plan), "--repo", str(repo), "--retries", "0")

    assert code == 0, err  # the kept worktree was salvaged, nested repository and all
    assert ("100644", "sub/n.txt") in tree(repo, status["stack"][-1])
    salvaged = git(repo, "for-each-ref", "--format=%(objectname)", f"refs/planflow/salvage/{RUN}-task-1/")
    assert "sub/n.txt" in git(repo, "ls-tree", "-r", "--name-only", salvaged.split()[0]).split()

    flag.unlink()
    other = write_plan(tmp_path / "other.yaml", plan.read_text().replace(RUN, "0ddba1"))
    assert run_cli(capsys, str(other), "--repo", str(repo), "--retries", "0")[0] == 1
    assert main(["clean", "0ddba1", "--repo", str(repo), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert list(report["removed_worktrees"]) == [str(repo / ".worktrees" / "0ddba1-task-1")]


def test_a_file_name_that_is_not_utf8_is_escaped(tmp_path, capsys):
    repo = make_repo(tmp_path / "repo")
    plan = one_task_plan(tmp_path, "truncate -s 150M \"$(printf 'big\\377.bin')\"\n"
                                   "printf x > \"$(printf 'odd\\377.txt')\"\n")

    code, status, err = run_cli(capsys, str(plan), "--repo", str(repo), "--retries", "0")

    assert code == 0, err
    [task] = status["tasks"]
    warnings = " ".join(task["warnings"])
    assert "wrote big\\xff.bin (157.3 MB, over the 100 MB limit" in warnings
    assert "outside the task's declared files: odd\\xff.txt" in warnings
    assert git(repo, "ls-tree", "--name-only", status["stack"][-1]).splitlines() == [
        "README.md", '"odd\\377.txt"']  # committed (git quotes the name)


@pytest.mark.parametrize("commit", ["", "git add -A && git -c user.name=a -c user.email=a@example.com commit -qm big\n"],
                         ids=["left", "committed-by-the-agent"])
def test_a_task_adding_more_than_its_limit_fails_and_keeps_its_worktree(tmp_path, capsys, monkeypatch, commit):
    monkeypatch.setenv("PLANFLOW_MAX_FILE_MB", "10")
    monkeypatch.setenv("PLANFLOW_MAX_TASK_MB", "20")
    repo = make_repo(tmp_path / "repo")
    plan = one_task_plan(tmp_path, "for n in 1 2 3; do truncate -s 9500000 part$n.bin; done\n" + commit)

    code, status, err = run_cli(capsys, str(plan), "--repo", str(repo), "--retries", "0")

    assert code == 1
    [task] = status["tasks"]
    assert ("added 28.5 MB of files, over the 20 MB limit per task of $PLANFLOW_MAX_TASK_MB"
            in task["error"]), task
    assert (repo / ".worktrees" / f"{RUN}-task-1" / "part3.bin").is_file()
    if not commit:
        assert git(repo, "rev-parse", f"{RUN}-task-1-files") == git(repo, "rev-parse", "HEAD")


def test_an_agent_log_is_capped_with_head_and_tail(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PLANFLOW_MAX_LOG_MB", "1")
    repo = make_repo(tmp_path / "repo")
    plan = one_task_plan(tmp_path, "echo FIRST-LINE\nhead -c 3000000 /dev/zero | tr '\\0' a\n"
                                   "echo; echo LAST-LINE\nmkdir -p sub && echo n > sub/n.txt\n")

    code, status, err = run_cli(capsys, str(plan), "--repo", str(repo), "--retries", "0")

    assert code == 0, err
    [log] = (repo / ".git" / "planflow" / "runs" / RUN / "logs").glob("task-1.attempt-1.log")
    text = log.read_text()
    assert log.stat().st_size < 1_000_200 and text.startswith("FIRST-LINE")
    assert text.rstrip().endswith("LAST-LINE") and "bytes cut from the middle of this log" in text


def test_cap_log_keeps_small_logs_whole(tmp_path):
    log = tmp_path / "log"
    log.write_bytes(b"x" * 100)
    assert cap_log(log, 100) == 0 and log.read_bytes() == b"x" * 100
    log.write_bytes(b"a" * 50 + b"b" * 50 + b"c" * 50)
    assert cap_log(log, 100) == 50
    assert log.read_bytes().startswith(b"a" * 50) and log.read_bytes().endswith(b"c" * 50)
