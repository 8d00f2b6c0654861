"""The review loop of a phase: verdict parsing, and end-to-end runs of ``planflow run`` with a
scripted shell reviewer, a review command and a human answering through the Prefect API,
against real git repositories and the session's real Prefect server."""

from __future__ import annotations

import json
import re
import threading
import time
from datetime import datetime, timezone

import pytest

from agents.review_prompt import MalformedVerdict, parse_verdicts
from planflow.cli import main
from runs import git, make_repo, run_cli, write_plan

STATS = json.dumps(
    'if grep -q "Review comments to address" "$PLANFLOW_PROMPT_FILE";'
    ' then echo "stats: handles empty input" > stats.txt;'
    ' else echo "stats: crashes on empty input" > stats.txt; fi')
"""A shell agent's script that writes a bug first, and the fix when told review comments."""

PLAN = """\
    name: reviewed
    phases:
      - name: base
        tasks:
          - {id: "1.1", title: base, files: [a.txt], run: "echo a > a.txt"}
      - name: features
        strategy: parallel
        tasks:
          - {id: "2.1", title: words, files: [words.txt], run: "echo words > words.txt"}
          - {id: "2.3", title: stats, files: [stats.txt], run: %s}
      - name: report
        tasks:
          - {id: "3.1", title: report, files: [report.txt], run: "cat stats.txt > report.txt"}
    """ % STATS

ONE_TASK = """\
    name: one task
    phases:
      - name: one
        tasks:
          - {id: "1.1", title: doc, files: [doc.txt], run: "echo doc > doc.txt"}
    """

APPENDING = """\
    name: appending
    phases:
      - name: one
        tasks:
          - {id: "1.1", title: doc, files: [doc.txt], run: "echo line >> doc.txt"}
      - name: two
        tasks:
          - {id: "2.1", title: later, files: [b.txt], run: "echo b > b.txt"}
    """
"""Each fix of task 1.1 appends one more line."""

REVIEWER = """\
echo "$PLANFLOW_TASK_ID" >> {calls}
for id in $(grep -o '^## Task [^:]*' "$PLANFLOW_PROMPT_FILE" | cut -d' ' -f3); do
  echo "### Task $id"
  if [ "$id" = 2.3 ] && grep -q crashes stats.txt; then
    echo "VERDICT: REJECTED"; echo "- stats crashes on empty input"
  else
    echo "VERDICT: APPROVED"; echo "- looks right"
  fi
done"""


def flow_runs(since: datetime) -> list[str]:
    """Names of the flow runs started after ``since``, oldest first."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterStartTime
    from prefect.client.schemas.sorting import FlowRunSort

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(start_time=FlowRunFilterStartTime(after_=since)),
            sort=FlowRunSort.START_TIME_ASC)
    return [run.name for run in runs]


def review_flow_runs(since: datetime) -> list[str]:
    """Names of the review-round subflow runs started after ``since``, oldest first."""
    return [name for name in flow_runs(since) if name.startswith("review-")]


def test_parse_verdicts_reads_one_section_per_task():
    answer = ("Overall fine.\n## Task 2.1: words\n**VERDICT: APPROVED**\nclean\n"
              "### task 2.3\n`VERDICT: rejected`\n- empty input\n- no test\n")
    verdicts = parse_verdicts(answer, ["2.1", "2.3"])
    assert verdicts["2.1"].approved and verdicts["2.1"].comments == "clean"
    assert not verdicts["2.3"].approved
    assert verdicts["2.3"].comments == "- empty input\n- no test"


@pytest.mark.parametrize("answer, problem", [
    ("VERDICT: APPROVED", "task 2.1 has no `### Task 2.1` section"),
    ("### Task 2.1\nlooks good", "task 2.1 has 0 VERDICT lines"),
    ("### Task 2.1\nVERDICT: APPROVED\nVERDICT: REJECTED", "task 2.1 has 2 VERDICT lines"),
    ("### Task 9.9\nVERDICT: APPROVED\n### Task 2.1\nVERDICT: APPROVED", "names no reviewed task"),
    ("### Task 2.1\nVERDICT: APPROVED\n### Task 2.1\nVERDICT: APPROVED", "task 2.1 has two sections"),
])
def test_malformed_answers_say_what_is_wrong(answer, problem):
    with pytest.raises(MalformedVerdict, match=problem.replace("(", r"\(").replace("`", ".")):
        parse_verdicts(answer, ["2.1"])


@pytest.mark.usefixtures("prefect_api")
def test_reject_then_approve_fixes_the_branch_and_restacks(tmp_path, capsys):
    repo = make_repo(tmp_path / "repo")
    calls = tmp_path / "reviews.log"
    plan = write_plan(tmp_path / "plan.yaml", PLAN)
    since = datetime.now(timezone.utc)

    code, status, err = run_cli(capsys, str(plan), "--repo", str(repo), "--run-id", "aaa001",
                                "--reviewer", "agent",
                                "--review-command", REVIEWER.format(calls=calls))

    assert code == 0, err
    assert status["status"] == "completed"
    branches = {task["id"]: task["branch"] for task in status["tasks"]}
    assert git(repo, "show", f"{branches['2.3']}:stats.txt") == "stats: handles empty input"
    # the stack holds the fix: phase 3 was built on it, and every branch sits on the one before
    assert git(repo, "show", f"{branches['3.1']}:report.txt") == "stats: handles empty input"
    tips = [git(repo, "rev-parse", branch) for branch in status["stack"]]
    for parent, child in zip(tips, tips[1:]):
        assert git(repo, "merge-base", "--is-ancestor", parent, child) == ""
    log = git(repo, "log", "--format=%s", branches["2.3"], "-3")
    assert "task 2.3: stats (review fix, round 1)" in log
    # the fixer was told what the reviewer said
    logs = repo / ".git" / "planflow" / "runs" / "aaa001" / "logs"
    fix_prompt = (logs / "task-2-3.fix-1.prompt.md").read_text()
    assert "## Review comments to address" in fix_prompt
    assert "Review round 1 (agent reviewer): - stats crashes on empty input" in fix_prompt
    # one review per phase, two for phase 2, each its own subflow run
    assert calls.read_text().split() == ["review-phase-1-round-1", "review-phase-2-round-1",
                                         "review-phase-2-round-2", "review-phase-3-round-1"]
    assert review_flow_runs(since) == ["review-phase-1-round-1", "review-phase-2-round-1",
                                       "review-phase-2-round-2", "review-phase-3-round-1"]

    from prefect.artifacts import Artifact

    verdicts = Artifact.get("planflow-aaa001-review-phase-2-round-1").data
    assert "| 2.3 | rejected | - stats crashes on empty input |" in verdicts
    assert "| 2.1 | approved |" in verdicts and "Reviewer: 0 tokens in" in verdicts

    # resuming replays the verdicts and the fix from the cache: no reviewer, no agent runs
    again = run_cli(capsys, str(plan), "--repo", str(repo), "--run-id", "aaa001",
                    "--reviewer", "agent", "--review-command", REVIEWER.format(calls=calls))
    assert again[0] == 0, again[2]
    assert len(calls.read_text().split()) == 4
    assert all(task["cached"] for task in again[1]["tasks"])
    assert status["reviews"] and again[1]["reviews"] == []  # replayed verdicts spent nothing
    assert [git(repo, "rev-parse", branch) for branch in again[1]["stack"]] == tips


@pytest.mark.usefixtures("prefect_api")
def test_three_rejections_stop_the_run_with_the_comments(tmp_path, capsys):
    repo = make_repo(tmp_path / "repo")
    plan = write_plan(tmp_path / "plan.yaml", APPENDING)
    reviewer = ('n=$(grep -c "^- Review round" "$PLANFLOW_PROMPT_FILE" || true);'
                ' printf "### Task 1.1\\nVERDICT: REJECTED\\nneeds docs (seen %s earlier comments)\\n" "$n"')

    code, status, err = run_cli(capsys, str(plan), "--repo", str(repo), "--run-id", "aaa002",
                                "--reviewer", "agent", "--review-command", reviewer)

    assert code == 1
    assert status["status"] == "failed"
    assert "review rejected task(s) 1.1 after 3 rounds" in status["output"]
    assert "needs docs (seen 2 earlier comments)" in status["output"]
    assert [t["id"] for t in status["failed_tasks"]] == ["1.1"]
    assert "needs docs" in status["failed_tasks"][0]["error"]
    assert status["tasks"][1]["state"] == "skipped"
    # two fixes (rounds 1 and 2), each given every comment so far; the work is kept
    branch = status["tasks"][0]["branch"]
    assert git(repo, "show", f"{branch}:doc.txt").split() == ["line"] * 3
    logs = repo / ".git" / "planflow" / "runs" / "aaa002" / "logs"
    second = (logs / "task-1-1.fix-2.prompt.md").read_text()
    assert "Review round 1 (agent reviewer): needs docs (seen 0" in second
    assert "Review round 2 (agent reviewer): needs docs (seen 1" in second
    assert not (logs / "task-1-1.fix-3.prompt.md").exists()


@pytest.mark.usefixtures("prefect_api")
def test_a_malformed_verdict_is_asked_again_once(tmp_path, capsys):
    repo = make_repo(tmp_path / "repo")
    plan = write_plan(tmp_path / "plan.yaml", ONE_TASK)
    calls = tmp_path / "calls"
    # answers in prose first, in the format when told what was wrong
    reviewer = (f'echo x >> {calls}; if grep -q "could not be read" "$PLANFLOW_PROMPT_FILE"; then'
                ' printf "### Task 1.1\\nVERDICT: APPROVED\\n"; else echo "Looks good to me!"; fi')
    code, status, err = run_cli(capsys, str(plan), "--repo", str(repo), "--run-id", "aaa003",
                                "--reviewer", "agent", "--review-command", reviewer)
    assert code == 0, err
    assert calls.read_text().split() == ["x", "x"]
    logs = repo / ".git" / "planflow" / "runs" / "aaa003" / "logs"
    retry = (logs / "review-phase-1-round-1.attempt-2.prompt.md").read_text()
    assert "task 1.1 has no `### Task 1.1` section" in retry
    assert [(r["scope"], r["round"], r["attempts"]) for r in status["reviews"]] == [("phase-1", 1, 2)]

    # a reviewer that never follows the format fails the round after one retry
    code, status, err = run_cli(capsys, str(plan), "--repo", str(repo), "--run-id", "aaa004",
                                "--reviewer", "agent", "--review-command", "echo 'Looks good!'")
    assert code == 1
    assert "review round 1 failed" in status["output"]
    assert "malformed way twice" in status["output"]
    assert status["reviews"][0]["attempts"] == 2  # a failed reviewer's spend is counted too
    assert (logs.parent.parent / "aaa004" / "logs" / "review-phase-1-round-1.attempt-2.log").is_file()


@pytest.mark.usefixtures("prefect_api")
def test_review_command_rejects_then_approves_the_fixed_tip(tmp_path, capsys):
    repo = make_repo(tmp_path / "repo")
    plan = write_plan(tmp_path / "plan.yaml", """\
        name: tested
        phases:
          - name: one
            tasks:
              - {id: "1.1", title: stats, files: [stats.txt], run: %s}
        """ % STATS)
    code, status, err = run_cli(capsys, str(plan), "--repo", str(repo), "--run-id", "aaa005",
                                "--reviewer", "command", "--review-command", "! grep crashes stats.txt")
    assert code == 0, err
    assert git(repo, "show", f"{status['stack'][0]}:stats.txt") == "stats: handles empty input"
    logs = repo / ".git" / "planflow" / "runs" / "aaa005" / "logs"
    assert "exited 1 on the stack tip" in (logs / "task-1-1.fix-1.prompt.md").read_text()


def test_a_command_reviewer_needs_its_command(tmp_path, capsys):
    plan = write_plan(tmp_path / "plan.yaml", """\
        name: x
        phases:
          - name: one
            tasks:
              - {id: "1", title: a, files: [a.txt], run: "echo a > a.txt"}
        """)
    code = main(["run", str(plan), "--repo", str(make_repo(tmp_path / "repo")), "--reviewer", "command"])
    assert code == 2
    assert "reviewer `command` needs review_command (--review-command)" in capsys.readouterr().err


def start_run(plan, repo, run_id: str, *args: str):
    """``planflow run`` in a thread (a human review pauses it): (status file, thread, a list
    that receives the exit code)."""
    codes: list[int] = []
    runner = threading.Thread(target=lambda: codes.append(main([
        "run", str(plan), "--repo", str(repo), "--run-id", run_id, "--retry-delay", "0",
        "--human-review-timeout", "300", *args])))
    runner.start()
    return repo / ".git" / "planflow" / "runs" / run_id / "status.json", runner, codes


def wait_for_pause(status_file, count: int, timeout_s: float = 600.0) -> str:
    """The id of the flow run the run's status says waits for its ``count``-th human review,
    once Prefect has it paused (the line comes just before the pause: on a loaded machine the
    API may still say Running for a while)."""
    from prefect.client.orchestration import get_client

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if status_file.is_file():
            output = json.loads(status_file.read_text())["output"]
            waiting = re.search(rf"round {count}: waiting for a human review: .*\(([0-9a-f-]{{36}})\)", output)
            if waiting:
                with get_client(sync_client=True) as client:
                    state = client.read_flow_run(waiting[1]).state
                if state and (state.is_paused() or state.is_final()):
                    return waiting[1]
        time.sleep(0.2)
    raise AssertionError(f"no human review {count} within {timeout_s:g} s: {status_file.read_text()}")


@pytest.mark.usefixtures("prefect_api")
def test_human_review_rejects_then_approves_through_the_api(tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.flow_runs import resume_flow_run

    repo = make_repo(tmp_path / "repo")
    plan = write_plan(tmp_path / "plan.yaml", """\
        name: human
        phases:
          - name: one
            tasks:
              - id: "1.1"
                title: greeting
                files: [hello.txt]
                run: |
                  if grep -q "Review comments" "$PLANFLOW_PROMPT_FILE"; then echo "Hello, World!" > hello.txt
                  else echo "hi" > hello.txt; fi
        """)
    status_file, runner, codes = start_run(plan, repo, "aaa006", "--reviewer", "human")
    try:
        first = wait_for_pause(status_file, 1)
        with get_client(sync_client=True) as client:
            paused = client.read_flow_run(first)
        assert paused.state.is_paused() and paused.name == "review-phase-1-round-1"
        keyset = paused.state.state_details.run_input_keyset
        with get_client(sync_client=True) as client:
            schema = json.loads(client.read_flow_run_input(first, keyset["schema"]))
            description = json.loads(client.read_flow_run_input(first, keyset["description"]))
        assert schema["properties"]["task_1_1"]["title"] == "Task 1.1: greeting"
        assert "Task 1.1 (greeting): branch `aaa006-task-1-1-greeting`" in description
        # what the UI's Resume form sends
        resume_flow_run(first, run_input={"task_1_1": {"verdict": "reject",
                                                        "comments": "greet the whole World"}})
        second = wait_for_pause(status_file, 2)
        assert second != first
        resume_flow_run(second, run_input={"task_1_1": {"verdict": "approve", "comments": ""}})
    finally:
        runner.join(timeout=180)
    assert codes == [0]
    status = json.loads(status_file.read_text())
    assert status["status"] == "completed"
    assert git(repo, "show", f"{status['stack'][0]}:hello.txt") == "Hello, World!"
    prompt = (repo / ".git" / "planflow" / "runs" / "aaa006" / "logs" / "task-1-1.fix-1.prompt.md")
    assert "Review round 1 (human reviewer): greet the whole World" in prompt.read_text()

    # resuming replays the person's answers (kept with the run) and the fix: nobody is asked
    tip = git(repo, "rev-parse", status["stack"][0])
    assert main(["run", str(plan), "--repo", str(repo), "--run-id", "aaa006", "--reviewer", "human",
                 "--human-review-timeout", "5"]) == 0
    again = json.loads(status_file.read_text())
    assert again["status"] == "completed" and git(repo, "rev-parse", again["stack"][0]) == tip


@pytest.mark.usefixtures("prefect_api")
def test_review_at_the_end_judges_the_whole_stack_once(tmp_path, capsys):
    repo = make_repo(tmp_path / "repo")
    plan = write_plan(tmp_path / "plan.yaml", """\
        name: end review
        phases:
          - name: one
            tasks:
              - {id: "1", title: a, files: [a.txt], run: "echo a > a.txt"}
          - name: two
            tasks:
              - {id: "2", title: b, files: [b.txt], run: "echo b > b.txt", depends_on: ["1"]}
        """)
    since = datetime.now(timezone.utc)
    code, status, err = run_cli(capsys, str(plan), "--repo", str(repo), "--run-id", "aaa007",
                                "--reviewer", "command", "--review-frequency", "end",
                                "--review-command",
                                'test -f a.txt -a -f b.txt; [ "$(echo $PLANFLOW_REVIEW_TASKS)" = "1 2" ]')
    assert code == 0, err
    # explicit dependencies: the dag schedule runs across phases, the review comes at the end
    assert [name for name in flow_runs(since) if "-round-" in name or "-dag" in name] == [
        "aaa007-dag", "review-end-round-1"]

    # review frequency off: a reviewer that rejects everything is never asked
    since = datetime.now(timezone.utc)
    code, status, err = run_cli(capsys, str(plan), "--repo", str(repo), "--run-id", "aaa011",
                                "--reviewer", "command", "--review-frequency", "off",
                                "--review-command", "exit 1")
    assert code == 0, err
    assert status["status"] == "completed"
    assert not [name for name in flow_runs(since) if name.startswith("review-")]


@pytest.mark.usefixtures("prefect_api")
def test_rejections_escalate_to_a_person_who_approves(tmp_path):
    from prefect.flow_runs import resume_flow_run

    repo = make_repo(tmp_path / "repo")
    plan = write_plan(tmp_path / "plan.yaml", ONE_TASK)
    status_file, runner, codes = start_run(plan, repo, "aaa008", "--reviewer", "command",
                                           "--review-command", "exit 1", "--max-review-rounds", "1",
                                           "--escalate-to-human")
    try:
        paused = wait_for_pause(status_file, 2)
        resume_flow_run(paused, run_input={"task_1_1": {"verdict": "approve", "comments": ""}})
    finally:
        runner.join(timeout=180)
    assert codes == [0]
    status = json.loads(status_file.read_text())
    assert status["status"] == "completed"
    assert git(repo, "show", f"{status['stack'][0]}:doc.txt") == "doc"


@pytest.mark.usefixtures("prefect_api")
def test_an_unanswered_human_review_fails_the_round_at_its_timeout(tmp_path, capsys):
    repo = make_repo(tmp_path / "repo")
    plan = write_plan(tmp_path / "plan.yaml", ONE_TASK)
    code, status, err = run_cli(capsys, str(plan), "--repo", str(repo), "--run-id", "aaa009",
                                "--reviewer", "human", "--human-review-timeout", "3")
    assert code == 1
    assert status["status"] == "failed"
    assert "review round 1 failed: no human review within 3 s" in status["output"]
    assert git(repo, "show", f"{status['tasks'][0]['branch']}:doc.txt") == "doc"


@pytest.mark.usefixtures("prefect_api")
def test_the_reviewers_spend_counts_toward_the_budget(tmp_path, capsys):
    from blocks.agent_config import AgentConfig
    from test_agent_runs import executable

    repo = make_repo(tmp_path / "repo")
    plan = write_plan(tmp_path / "plan.yaml", APPENDING)
    answer = json.dumps({"type": "result", "subtype": "success", "is_error": False,
                         "result": "### Task 1.1\nVERDICT: REJECTED\nneeds more lines",
                         "num_turns": 1, "total_cost_usd": 0.6, "session_id": "s",
                         "usage": {"input_tokens": 10, "output_tokens": 5}})
    reviewer = executable(tmp_path / "reviewer", f"echo '{answer}'\n")
    AgentConfig(kind="claude", executable=str(reviewer)).save("costly-reviewer", overwrite=True)

    code, status, err = run_cli(capsys, str(plan), "--repo", str(repo), "--run-id", "aaa012",
                                "--reviewer", "agent", "--reviewer-agent", "costly-reviewer",
                                "--budget-usd", "1.0")

    assert code == 1
    # round 1 ($0.60) rejects and the fix runs; round 2 ($1.20) passes the budget: no fix
    assert status["status"] == "stopped" and "passed the budget $1.0" in status["output"]
    assert [(r["round"], r["cost_usd"], r["tokens_in"]) for r in status["reviews"]] == [
        (1, 0.6, 10), (2, 0.6, 10)]
    assert status["totals"]["cost_usd"] == 1.2
    assert re.search(r"review  p1 r2 +10 +- +5 +0\.6000", err)  # the ledger printed at the end
    assert [t["state"] for t in status["tasks"]] == ["done", "skipped"]
    assert git(repo, "show", f"{status['tasks'][0]['branch']}:doc.txt").split() == ["line"] * 2


def test_review_feedback_is_part_of_a_fix_task_cache_key(tmp_path):
    from planning.models import PlanTask
    from tasks.plan_task import TaskSpec

    first = TaskSpec(run_id="abc123", repo=tmp_path, plan_name="p", base="b" * 40,
                     task=PlanTask(id="1", title="t"))
    fix = first.model_copy(update={"start": "c" * 40, "review_round": 1, "feedback": ["add tests"]})
    other = fix.model_copy(update={"feedback": ["add docs"]})
    assert "review" not in first.cache_parts()
    assert len({json.dumps(spec.cache_parts(), sort_keys=True) for spec in (first, fix, other)}) == 3


@pytest.mark.usefixtures("prefect_api")
def test_claude_code_reviews_through_the_fake_llm_server(tmp_path, capsys):
    """The verdict travels through a real coding-agent CLI's final message."""
    import shutil

    from agent_tools import ensure
    from blocks.agent_config import AgentConfig
    from fake_llm import FakeLLM, Script

    if shutil.which("npm") is None:
        pytest.skip("npm is not installed: Claude Code cannot be installed")
    repo = make_repo(tmp_path / "repo")
    plan = write_plan(tmp_path / "plan.yaml", """\
        name: agent review
        phases:
          - name: one
            tasks:
              - {id: "1.1", title: notes, files: [notes.txt], run: "echo the notes > notes.txt"}
        """)
    script = Script(path=str(repo / ".worktrees" / "aaa010-review-phase-1" / "scratch.md"),
                    final_text="### Task 1.1: notes\nVERDICT: APPROVED\nnotes.txt holds the notes")
    with FakeLLM(script) as server:
        AgentConfig(kind="claude", executable=str(ensure("claude")), model="claude-sonnet-4-5",
                    base_url=server.url, api_key="sk-review-0123456789", cli_retries=0,
                    max_turns=4, timeout_s=240).save("review-claude", overwrite=True)
        code, status, err = run_cli(capsys, str(plan), "--repo", str(repo), "--run-id", "aaa010",
                                    "--reviewer", "agent", "--reviewer-agent", "review-claude")
    assert code == 0, err
    assert status["status"] == "completed"
    asked = json.dumps(server.model_calls()[0].body)
    assert "VERDICT: APPROVED" in asked and "+the notes" in asked
    # the reviewer's tokens are in the run's ledger
    assert status["reviews"][0]["tokens_in"] > 0
    assert status["totals"]["tokens_in"] == status["reviews"][0]["tokens_in"]
