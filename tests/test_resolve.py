"""Conflict resolution when stacking a parallel phase: two tasks edit the same lines; the real
Claude Code CLI against the fake LLM server resolves it; with resolution off, or when the
resolved result fails a task's quality gate, the run stops with the report and loses nothing."""

from __future__ import annotations

import json
import shutil

import pytest

from agent_tools import ensure
from blocks.agent_config import AgentConfig
from fake_llm import FakeLLM, Script
from runs import git, make_repo, run_cli, write_plan

pytestmark = pytest.mark.usefixtures("prefect_api")

RUN_ID = "c0f1c7"


def conflict_plan(tmp_path, between: str = ""):
    """Tasks 1.1 and 1.2 rewrite the same line of ``shared.txt`` in parallel; each gate checks
    its own word is there. ``between``: a task written (as a YAML flow mapping) between them."""
    middle = f"\n              - {between}" if between else ""
    return write_plan(tmp_path / "plan.yaml", f"""\
        name: clash
        run_id: {RUN_ID}
        phases:
          - name: one
            strategy: parallel
            tasks:
              - {{id: "1.1", title: left, files: [shared.txt], agent: shell,
                  run: "printf 'top\\nleft\\nend\\n' > shared.txt", verify: ["grep -qx left shared.txt"]}}{middle}
              - {{id: "1.2", title: right, files: [shared.txt], agent: shell,
                  run: "printf 'top\\nright\\nend\\n' > shared.txt", verify: ["grep -qx right shared.txt"]}}
        """)


def commit_base(repo):
    (repo / "shared.txt").write_text("top\nmiddle\nend\n")
    git(repo, "add", "shared.txt")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "shared")


def branches_of(status):
    return {t["id"]: t["branch"] for t in status["tasks"]}


def test_resolver_agent_settles_the_conflict(tmp_path, capsys):
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed: Claude Code cannot be installed")
    executable = ensure("claude")
    repo = make_repo(tmp_path / "repo")
    commit_base(repo)
    resolved = repo / ".worktrees" / f"{RUN_ID}-resolve-1-2" / "shared.txt"
    script = Script(path=str(resolved), content="top\nleft\nright\nend\n", tool="Bash",
                    final_text="Kept both lines.\nDECISION: keep both words")
    with FakeLLM(script) as server:
        AgentConfig(kind="claude", executable=str(executable), model="claude-sonnet-4-5",
                    base_url=server.url, api_key="sk-fake-resolver", cli_retries=0, max_turns=6,
                    timeout_s=240).save("resolver-claude", overwrite=True)
        code, status, err = run_cli(capsys, str(conflict_plan(tmp_path)), "--allow-overlap", "--repo", str(repo),
                                    "--agent-block", "resolver-claude")
        prompts = [json.dumps(call.body) for call in server.model_calls()]

    assert code == 0, err
    tip = status["stack"][-1]
    assert git(repo, "show", f"{tip}:shared.txt") == "top\nleft\nright\nend"
    assert git(repo, "rev-parse", f"{tip}~1") == git(repo, "rev-parse", status["stack"][0])
    task = {t["id"]: t for t in status["completed_tasks"]}["1.2"]
    assert task["warnings"] == ["stacking conflict with task 1.1 in shared.txt resolved by the claude agent"]
    # the resolver saw the conflict: both sides and both tasks
    assert any("task 1.2 against task 1.1" in p and "left" in p and "right" in p for p in prompts)
    # task 1.2's own commit is kept; the resolver's worktree is gone; the checkout is untouched
    own = git(repo, "rev-parse", f"refs/planflow/{RUN_ID}/task-1-2")
    assert git(repo, "show", f"{own}:shared.txt") == "top\nright\nend"
    assert not resolved.parent.exists()
    assert git(repo, "status", "--porcelain") == ""
    assert status["tasks"][1]["tokens_in"] > 0


def test_no_resolve_conflicts_stops_with_the_report_and_both_branches_intact(tmp_path, capsys):
    repo = make_repo(tmp_path / "repo")
    commit_base(repo)

    code, status, err = run_cli(capsys, str(conflict_plan(tmp_path)), "--allow-overlap", "--repo", str(repo),
                                "--agent", "claude", "--no-resolve-conflicts")

    assert code == 1
    assert "Stacking conflict: task 1.2 conflicts with task 1.1 in shared.txt" in status["conflict"]
    assert "resolver" not in status["conflict"]
    branches = branches_of(status)
    assert git(repo, "show", f"{branches['1.1']}:shared.txt") == "top\nleft\nend"
    assert git(repo, "show", f"{branches['1.2']}:shared.txt") == "top\nright\nend"
    assert not (repo / ".worktrees" / f"{RUN_ID}-resolve-1-2").exists()


def test_resolution_failing_a_gate_stops_with_the_report(tmp_path, capsys):
    repo = make_repo(tmp_path / "repo")
    commit_base(repo)
    keep_left_only = "printf 'top\\nleft\\nend\\n' > shared.txt"

    code, status, err = run_cli(capsys, str(conflict_plan(tmp_path)), "--allow-overlap", "--repo", str(repo),
                                "--resolve-conflicts", "--agent-command", keep_left_only)

    assert code == 1
    report = status["conflict"]
    assert "task 1.2 conflicts with task 1.1 in shared.txt" in report
    assert "The resolver agent could not settle it" in report
    assert "fails task 1.2's quality gate 1 failed (exit 1)" in report
    branches = branches_of(status)
    assert git(repo, "show", f"{branches['1.2']}:shared.txt") == "top\nright\nend"
    kept = repo / ".worktrees" / f"{RUN_ID}-resolve-1-2"
    assert (kept / "shared.txt").read_text() == "top\nleft\nend\n"


def test_shell_resolver_after_a_replayed_task_adds_only_the_resolved_commit(tmp_path, capsys):
    repo = make_repo(tmp_path / "repo")
    commit_base(repo)
    other = '{id: "1.3", title: other, files: [other.txt], agent: shell, run: "echo o > other.txt"}'
    keep_both = "printf 'top\\nleft\\nright\\nend\\n' > shared.txt"

    code, status, err = run_cli(capsys, str(conflict_plan(tmp_path, between=other)), "--allow-overlap", "--repo",
                                str(repo), "--resolve-conflicts", "--agent-command", keep_both)

    assert code == 0, err
    base = git(repo, "rev-parse", f"{status['stack'][0]}~1")
    tip = status["stack"][-1]
    # one commit per task: 1.3 was replayed onto 1.1, the resolved 1.2 sits on that replay
    assert git(repo, "rev-list", "--count", f"{base}..{tip}") == "3"
    assert git(repo, "rev-parse", f"{tip}~1") == git(repo, "rev-parse", status["stack"][1])
    assert git(repo, "show", f"{tip}:shared.txt") == "top\nleft\nright\nend"
    assert git(repo, "show", f"{tip}:other.txt") == "o"
    warnings = {t["id"]: t.get("warnings") for t in status["completed_tasks"]}
    note = "stacking conflict with task 1.1 in shared.txt resolved by the shell agent"
    assert warnings["1.2"] == [note]
    record = json.loads((repo / f".git/planflow/runs/{RUN_ID}/context/task-1-2.json").read_text())
    assert record["errors"] == [note] and record["commit"] == git(repo, "rev-parse", tip)


def test_dag_schedule_resolves_against_the_stacked_task_that_touched_the_files(tmp_path, capsys):
    repo = make_repo(tmp_path / "repo")
    commit_base(repo)
    keep_both = "printf 'top\\nleft\\nright\\nend\\n' > shared.txt"

    code, status, err = run_cli(capsys, str(conflict_plan(tmp_path)), "--allow-overlap", "--repo", str(repo),
                                "--schedule", "dag", "--resolve-conflicts", "--agent-command", keep_both)

    assert code == 0, err
    assert git(repo, "show", f"{status['stack'][-1]}:shared.txt") == "top\nleft\nright\nend"
    # whichever task the DAG stacked second conflicted, against the first (never "the base")
    [(task, warnings)] = [(t["id"], t["warnings"]) for t in status["completed_tasks"]
                          if t.get("warnings")]
    other = "1.2" if task == "1.1" else "1.1"
    assert warnings == [f"stacking conflict with task {other} in shared.txt resolved by the shell agent"]
    logs = repo / ".git" / "planflow" / "runs" / RUN_ID / "logs"
    prompt = (logs / f"resolve-{task.replace('.', '-')}.prompt.md").read_text()
    assert f"task {task} against task {other}" in prompt
    assert f"grep -qx {'left' if other == '1.1' else 'right'}" in prompt  # the other's gate


def test_no_resolver_starts_once_the_budget_is_spent(tmp_path, capsys):
    from test_agent_runs import executable, result_event

    repo = make_repo(tmp_path / "repo")
    commit_base(repo)
    mark, called = tmp_path / "left-started", tmp_path / "resolver-called"
    right = executable(tmp_path / "right", (
        f"for i in $(seq 150); do [ -f {mark} ] && break; sleep 0.1; done\n"  # 1.1 has started
        f"printf 'top\\nright\\nend\\n' > shared.txt; echo '{result_event(0.6)}'\n"))
    resolver = executable(tmp_path / "resolver", f"touch {called}; echo '{result_event(0.1)}'\n")
    AgentConfig(kind="claude", executable=str(right)).save("spends-on-right", overwrite=True)
    AgentConfig(kind="claude", executable=str(resolver)).save("spending-resolver", overwrite=True)
    plan = write_plan(tmp_path / "plan.yaml", f"""\
        name: clash
        phases:
          - name: one
            strategy: parallel
            tasks:
              - {{id: "1.1", title: left, files: [shared.txt], agent: shell,
                  run: "touch {mark}; printf 'top\\\\nleft\\\\nend\\\\n' > shared.txt"}}
              - {{id: "1.2", title: right, files: [shared.txt], agent: spends-on-right}}
        """)

    code, status, err = run_cli(capsys, str(plan), "--allow-overlap", "--repo", str(repo), "--agent-block",
                                "spending-resolver", "--budget-usd", "0.5")

    assert code == 1
    assert "task 1.2 conflicts with task 1.1 in shared.txt" in status["conflict"]
    assert "No resolver agent was started: the run's cost $0.6000 passed its budget $0.5" in status["conflict"]
    assert not called.exists()
    branches = branches_of(status)
    assert git(repo, "show", f"{branches['1.2']}:shared.txt") == "top\nright\nend"
