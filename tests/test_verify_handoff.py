"""``planflow run`` with the shell agent: a failed quality gate is fed back to the next attempt;
files changed outside a task's declared files are reported; context records of phase 1 reach
a phase 2 task's prompt, and a second run still comes from the cache."""

from __future__ import annotations

import json

import pytest

from runs import git, make_repo, run_cli, write_plan

pytestmark = pytest.mark.usefixtures("prefect_api")


def test_failing_gate_is_retried_with_its_output_in_the_prompt(tmp_path, capsys):
    repo = make_repo(tmp_path / "repo")
    plan = write_plan(tmp_path / "plan.yaml", """\
        name: gates
        run_id: 9a7e01
        phases:
          - name: one
            tasks:
              - id: "1.1"
                title: fix on feedback
                files: [out.txt]
                run: |
                  if grep -q 'gate says: out.txt holds broken' "$PLANFLOW_PROMPT_FILE"; then
                    echo fixed > out.txt
                  else
                    echo broken > out.txt
                  fi
                verify: ['grep -q fixed out.txt || { echo "gate says: out.txt holds $(cat out.txt)"; exit 1; }']
        """)

    code, status, err = run_cli(capsys, str(plan), "--repo", str(repo))

    assert code == 0, err
    task = status["tasks"][0]
    assert task["attempts"] == 2
    assert git(repo, "show", f"{task['branch']}:out.txt") == "fixed"
    logs = repo / ".git" / "planflow" / "runs" / "9a7e01"
    prompt = (logs / "logs" / "task-1-1.prompt.md").read_text()
    assert "## Quality gate failure of the previous attempt" in prompt
    assert "attempt 1: quality gate 1 failed (exit 1)" in prompt
    assert "gate says: out.txt holds broken" in prompt and "grep -q fixed out.txt" in prompt
    record = json.loads((logs / "context" / "task-1-1.json").read_text())
    assert record["errors"] == ["attempt 1: quality gate 1 failed (exit 1)"]
    assert record["gates"] == ["gate 1 passed: `grep -q fixed out.txt || { echo \"gate says: out.txt"
                               " holds $(cat out.txt)\"; exit 1; }`"]


def test_gate_failing_on_every_attempt_fails_the_task_with_its_output(tmp_path, capsys):
    repo = make_repo(tmp_path / "repo")
    plan = write_plan(tmp_path / "plan.yaml", """\
        name: gates
        phases:
          - name: one
            tasks:
              - {id: "1.1", title: never, files: [a.txt], run: "echo a > a.txt",
                 verify: ["echo 'still red: 3 tests failed'; exit 3"]}
        """)

    code, status, err = run_cli(capsys, str(plan), "--repo", str(repo), "--retries", "1")

    assert code == 1
    failed = status["failed_tasks"][0]
    assert "quality gate 1 failed (exit 3)" in failed["error"]
    assert "still red: 3 tests failed" in failed["error"]
    assert status["tasks"][0]["attempts"] == 2


def test_context_of_phase_1_reaches_phase_2_and_outside_files_are_reported(tmp_path, capsys):
    repo = make_repo(tmp_path / "repo")
    plan = write_plan(tmp_path / "plan.yaml", """\
        name: handoff
        run_id: 4a11d0
        phases:
          - name: one
            strategy: parallel
            tasks:
              - id: "1.1"
                title: schema
                files: [a.txt]
                run: |
                  echo a > a.txt; echo stray > stray.txt
                  echo "DECISION: store users in sqlite"
                  echo "PENDING: add an index on email"
              - id: "1.2"
                title: api
                files: [b.txt]
                run: |
                  echo b > b.txt
                  echo "PENDING: add an index on email"
                  echo "PENDING: document the API"
          - name: two
            tasks:
              - {id: "2.1", title: use it, files: [seen.md], run: 'cp "$PLANFLOW_PROMPT_FILE" seen.md'}
        """)

    code, status, err = run_cli(capsys, str(plan), "--repo", str(repo))

    assert code == 0, err
    seen = git(repo, "show", f"{status['stack'][-1]}:seen.md")
    assert "## Context from earlier phases" in seen and "### Phase 1 (tasks 1.1, 1.2)" in seen
    assert "Files modified: `a.txt`, `b.txt`, `stray.txt`" in seen
    assert "- 1.1: store users in sqlite" in seen
    assert seen.count("add an index on email") == 1 and "document the API" in seen
    assert "DECISION: <text>" in seen  # the rules ask for the notes
    first_prompt = (repo / ".git/planflow/runs/4a11d0/logs/task-1-1.prompt.md").read_text()
    assert "Context from earlier phases" not in first_prompt

    warning = "changed files outside the task's declared files: stray.txt"
    assert status["completed_tasks"][0]["warnings"] == [warning]
    assert "warnings" not in status["completed_tasks"][1]
    from prefect.artifacts import Artifact

    rows = {row["task"]: row for row in json.loads(Artifact.get("planflow-4a11d0-tasks").data)}
    assert rows["1.1"]["warnings"] == warning and rows["1.2"]["warnings"] == ""
    context = Artifact.get("planflow-4a11d0-context").data
    assert "### Phase 2 (tasks 2.1)" in context and "Tokens: 0 in, 0 out" in context
    merged = json.loads((repo / ".git/planflow/runs/4a11d0/context/merged.json").read_text())
    assert [phase["pending"] for phase in merged][0] == ["add an index on email", "document the API"]

    again, second, err = run_cli(capsys, str(plan), "--repo", str(repo))
    assert again == 0, err
    assert all(task["cached"] for task in second["tasks"])
