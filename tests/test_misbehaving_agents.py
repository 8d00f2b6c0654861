"""Agents that misbehave: planflow finds the work that is there, reports what the agent did,
kills what it left running (even a daemon that left its group and cleared its environment),
and keeps the user's checkout and other branches intact."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.leftovers import find_marked, kill_marked, kill_worktree_agents, new_marker
from runs import git, make_repo, run_cli, write_plan
from gitrepo import TEST_IDENTITY

pytestmark = pytest.mark.usefixtures("prefect_api")

COMMIT = "git -c user.name=agent -c user.email=agent@example.com commit -q"


def repo_with_feature(tmp_path: Path) -> tuple[Path, str]:
    """A repository with two commits on main and a user branch ``feature`` off the first."""
    repo = make_repo(tmp_path / "repo")
    git(repo, "branch", "feature")
    git(repo, "checkout", "-q", "feature")
    (repo / "f.txt").write_text("user feature\n")
    git(repo, "add", "f.txt")
    git(repo, *TEST_IDENTITY, "commit", "-qm", "user feature")
    git(repo, "checkout", "-q", "main")
    (repo / "m.txt").write_text("main\n")
    git(repo, "add", "m.txt")
    git(repo, *TEST_IDENTITY, "commit", "-qm", "second")
    return repo, git(repo, "rev-parse", "feature")


def task(task_id: str, title: str, run: str) -> str:
    return f"""
              - id: "{task_id}"
                title: {title}
                files: [{task_id}.txt]
                run: '{run} && echo {task_id} > {task_id}.txt'"""


def test_repairable_misbehaviour_is_reported_and_the_work_kept(tmp_path, capsys):
    repo, feature = repo_with_feature(tmp_path)
    head = git(repo, "rev-parse", "HEAD")
    plan = write_plan(tmp_path / "plan.yaml", "name: repairable\nphases:\n  - name: one\n    tasks:" + "".join([
        task("1", "commits itself", f"echo x > own.txt && git add own.txt && {COMMIT} -m own"),
        task("2", "new branch", f"git checkout -q -b agent-feature && echo y > y.txt && git add y.txt && {COMMIT} -m y"),
        task("3", "deletes dot git", "rm .git"),
        task("4", "writes checkout", 'echo leak > "$PLANFLOW_WORKTREE/../../leak.txt"'),
        task("5", "leaves daemon", "(setsid sh -c \"echo \\$\\$ > daemon.pid; exec sleep 3001\" > /dev/null 2>&1 &)"
                                   " && until [ -s daemon.pid ]; do sleep 0.05; done"),  # left its group
        task("6", "huge file", "truncate -s 500M huge.bin"),
        task("7", "escapes group and marker", "(setsid env -i sleep 3007.5 > /dev/null 2>&1 &) && sleep 0.3"),
    ]) + "\n")

    code, status, err = run_cli(capsys, str(plan), "--repo", str(repo), "--retries", "0")

    assert code == 0, err
    warnings = {t["id"]: " | ".join(t["warnings"]) for t in status["tasks"]}
    assert "made 1 commit(s) itself" in warnings["1"]
    assert "checked out agent-feature" in warnings["2"] and "made 1 commit(s) itself" in warnings["2"]
    assert "deleted or replaced its worktree's .git file (restored)" in warnings["3"]
    assert "changed the user's checkout" in warnings["4"] and "leak.txt" in warnings["4"]
    assert "left 1 process(es) running (killed)" in warnings["5"] and "sleep 3001" in warnings["5"]
    assert "wrote huge.bin (524.3 MB, over the 100 MB limit" in warnings["6"]
    assert "left 1 process(es) running (killed)" in warnings["7"] and "sleep 3007.5" in warnings["7"]
    tip = status["stack"][-1]
    files = set(git(repo, "ls-tree", "-r", "--name-only", tip).split())
    assert {"own.txt", "y.txt", "1.txt", "2.txt", "3.txt", "4.txt", "5.txt", "6.txt", "7.txt"} <= files
    assert "huge.bin" not in files
    oversized = repo / ".git" / "planflow" / "runs"
    assert [p.stat().st_size for p in oversized.rglob("huge.bin")] == [500 * 1024 * 1024]
    assert not any(name in _cmdline(p) for p in Path("/proc").glob("[0-9]*")
                   for name in ("sleep\x003001", "sleep\x003007.5"))
    # the user's checkout: HEAD, branch and branches intact; the leaked file reported, left in place
    assert git(repo, "rev-parse", "HEAD") == head and git(repo, "branch", "--show-current") == "main"
    assert git(repo, "rev-parse", "feature") == feature
    assert git(repo, "status", "--porcelain") == "?? leak.txt"


def test_unusable_work_fails_the_task_and_other_branches_are_restored(tmp_path, capsys):
    repo, feature = repo_with_feature(tmp_path)
    plan = write_plan(tmp_path / "plan.yaml", "name: fatal\nphases:\n  - name: one\n    strategy: parallel\n"
                      "    tasks:" + "".join([
                          task("1", "rewrites history", "git reset -q --hard HEAD~1"),
                          task("2", "takes user branch", f"git checkout -q feature && echo z > z.txt"
                                                         f" && git add z.txt && {COMMIT} -m z"),
                          task("3", "behaves", "true"),
                      ]) + "\n")

    code, status, err = run_cli(capsys, str(plan), "--repo", str(repo), "--retries", "0")

    assert code == 1
    errors = {t["id"]: t.get("error") or "" for t in status["tasks"]}
    assert "rewrote history" in errors["1"] and "no longer contains the task's base" in errors["1"]
    assert "checked out feature, which does not contain the task's base" in errors["2"]
    assert "moved branch feature (restored" in errors["2"]
    assert git(repo, "rev-parse", "feature") == feature  # restored; the agent's commit is salvaged
    salvaged = git(repo, "for-each-ref", "--format=%(objectname)", "refs/planflow/salvage/").split()
    assert any(git(repo, "log", "-1", "--format=%s", sha) == "z" for sha in salvaged)
    assert status["tasks"][2]["state"] == "done"
    assert git(repo, "branch", "--show-current") == "main" and git(repo, "status", "--porcelain") == ""


def test_leftover_processes_are_found_by_their_marker(tmp_path):
    import subprocess

    def sleeper(marker: str) -> subprocess.Popen:
        return subprocess.Popen(["sleep", "60"], env={"PLANFLOW_AGENT_MARKER": marker, "PATH": "/usr/bin:/bin"},
                                start_new_session=True)

    token = new_marker(tmp_path / "w")
    daemon, earlier, other = sleeper(token), sleeper(new_marker(tmp_path / "w")), sleeper(new_marker(tmp_path / "x"))
    try:
        assert set(find_marked(token)) == {daemon.pid}
        assert kill_marked(token) == {daemon.pid: "sleep 60"}
        assert daemon.wait(timeout=5) == -9 and earlier.poll() is None
        # a dead run's agents in worktree w: found by the worktree's key, the others left alone
        assert kill_worktree_agents([tmp_path / "w"]) == {earlier.pid: "sleep 60"}
        assert earlier.wait(timeout=5) == -9 and other.poll() is None
    finally:
        other.kill()
        other.wait()


def _cmdline(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""
