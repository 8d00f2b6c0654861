"""The spec and plan authoring rules (pure), and the authoring flows with the shell agent
against real git repositories and the session's Prefect server: a plan rejected on every
attempt keeps its worktree and branch, a finished spec is not written twice, a bad spec path
is bad input, and ``ship`` pauses for approvals that send the spec back with feedback."""

from __future__ import annotations

import json
import textwrap
import threading
import time
from pathlib import Path

import pytest

from planflow.cli import main
from planning.authoring import (
    finish_plan, folder_run_id, plan_issues, spec_findings, spec_folder,
)
from planning.spectacular import parse_spectacular
from runs import git, make_repo
from test_authoring_agents import BAD_PLAN, GOOD_PLAN, SPEC, authoring_cli

SOURCE = Path("specs/a1b2c3-greeting/plan.md")


def test_spec_findings_name_missing_sections_and_conventions():
    assert spec_findings(SPEC, ["CLAUDE.md"]) == []
    partial = SPEC.replace("## Out of Scope", "## Later").replace("CLAUDE.md", "the rules")
    assert spec_findings(partial, ["CLAUDE.md", "AGENTS.md"]) == [
        "the section `## Out of Scope` is missing",
        "the `## Architecture` section names none of the repository's conventions files"
        " (CLAUDE.md, AGENTS.md); say which of their rules apply",
    ]
    # headings inside code blocks do not count; synonyms do
    fenced = "# T\n## Overview\n```\n## Requirements\n```\n## Architecture\n## Testing\n## Non-goals\n"
    assert spec_findings(fenced, []) == ["the section `## Requirements` is missing"]


def test_plan_issues_are_the_validation_errors_plus_explicit_files():
    assert [i.code for i in plan_issues(parse_spectacular(BAD_PLAN, SOURCE))] == [
        "dependency-cycle", "task-too-large"]
    assert plan_issues(parse_spectacular(GOOD_PLAN, SOURCE)) == []
    vague = GOOD_PLAN.replace("- greet/core.py", "- src/*.py").replace("- greet/cli.py", "- greet/")
    issues = plan_issues(parse_spectacular(vague, SOURCE))
    assert [(i.code, i.message.split(" lists ")[0]) for i in issues] == [
        ("vague-file", "task 1.1"), ("vague-file", "task 2.1")]
    assert str(issues[0]) == (f"{SOURCE}:7: error: task 1.1 lists 'src/*.py', not one explicit file"
                              " (fix: list each file the task creates or modifies, relative to the"
                              " repository root)")
    conflict = GOOD_PLAN.replace("- tests/test_greet.py", "- greet/cli.py")
    assert [i.code for i in plan_issues(parse_spectacular(conflict, SOURCE))] == ["file-conflict"]
    no_files = GOOD_PLAN.replace("**Files**:\n- tests/test_greet.py\n", "")
    assert [i.code for i in plan_issues(parse_spectacular(no_files, SOURCE))] == ["no-files"]


def test_finish_plan_sets_the_run_id_and_replaces_the_agents_summary():
    text = "---\nrunId: ffffff\nstatus: ready\n---\n" + GOOD_PLAN + "\n## Execution Summary\n- 99h\n"
    finished = finish_plan(text, parse_spectacular(text, SOURCE), "a1b2c3", "greeting", 2)
    assert finished.startswith("---\nrunId: a1b2c3\nfeature: greeting\nstatus: ready\n---\n# Feature")
    assert "99h" not in finished and finished.count("## Execution Summary") == 1
    assert "- Sequential time: 4h\n- Parallel time (2 agents): 3h\n" in finished
    plan = parse_spectacular(finished, SOURCE)
    assert plan.run_id == "a1b2c3" and len(plan.tasks()) == 3


def test_folders_and_run_ids():
    assert spec_folder("a1b2c3", "Add user authentication with JWT tokens!") == \
        "specs/a1b2c3-add-user-authentication-with"
    assert folder_run_id("specs/a1b2c3-user-auth/spec.md") == ("a1b2c3", "user-auth")
    assert folder_run_id("docs/auth/spec.md") == (None, "auth")


def shell_author(tmp_path: Path, documents: dict[str, str]) -> str:
    """A shell agent command that writes ``documents[f"{step}.{attempt}"]`` (e.g. ``plan.2``;
    else ``documents[step]``) to the document and logs each call to ``calls.log``."""
    folder = tmp_path / "documents"
    folder.mkdir()
    for name, text in documents.items():
        (folder / f"{name}.md").write_text(text)
    return (f'echo "$PLANFLOW_TASK_ID $PLANFLOW_ATTEMPT" >> {tmp_path}/calls.log; '
            f'src={folder}/"$PLANFLOW_TASK_ID.$PLANFLOW_ATTEMPT.md"; '
            f'[ -f "$src" ] || src={folder}/"$PLANFLOW_TASK_ID.md"; cp "$src" "$PLANFLOW_TASK_FILES"')


@pytest.mark.usefixtures("prefect_api")
def test_rejected_plan_keeps_worktree_and_branch_and_says_why(tmp_path, capsys):
    repo = make_repo(tmp_path / "repo")
    spec = repo / "specs" / "b0b0b0-greeting" / "spec.md"
    spec.parent.mkdir(parents=True)
    spec.write_text(SPEC)  # only in the checkout, not committed
    command = shell_author(tmp_path, {"plan": BAD_PLAN})

    code, result, err = authoring_cli(capsys, "plan", str(spec), "--repo", str(repo),
                                      "--agent-command", command, "--attempts", "2")

    assert code == 1 and result is None
    assert "specs/b0b0b0-greeting/plan.md was rejected after 2 attempt(s)" in err
    assert "plan.md:7: error: dependency cycle: 1.1 -> 1.2 -> 1.1" in err
    worktree = repo / ".worktrees" / "b0b0b0-plan"
    assert (worktree / "specs/b0b0b0-greeting/plan.md").read_text() == BAD_PLAN
    assert (worktree / "specs/b0b0b0-greeting/spec.md").read_text() == SPEC  # seeded
    assert git(repo, "rev-parse", "b0b0b0-plan") == git(repo, "rev-parse", "HEAD")
    assert (tmp_path / "calls.log").read_text() == "plan 1\nplan 2\n"
    retry = repo / ".git/planflow/runs/b0b0b0/logs/plan.attempt-2.prompt.md"
    assert "task 1.1 is too large for one agent run (size XL)" in retry.read_text()
    assert git(repo, "status", "--porcelain") == "?? specs/"  # the user's spec, untouched
    assert main(["status", "b0b0b0", "--repo", str(repo)]) == 0
    assert "run b0b0b0: failed  plan-decomposition" in capsys.readouterr().err


@pytest.mark.usefixtures("prefect_api")
def test_spec_is_written_once_and_a_missing_spec_is_bad_input(tmp_path, capsys):
    repo = make_repo(tmp_path / "repo")
    command = shell_author(tmp_path, {"spec": SPEC})
    args = ["spec", "Add a greeting", "--repo", str(repo), "--agent-command", command,
            "--run-id", "c0ffee"]

    first = authoring_cli(capsys, *args)
    again = authoring_cli(capsys, *args)

    assert first[0] == 0 and again[0] == 0, first[2] + again[2]
    assert (first[1]["attempts"], again[1]["attempts"]) == (1, 0)
    assert again[1]["commit"] == first[1]["commit"] == git(repo, "rev-parse", "c0ffee-spec")
    assert (tmp_path / "calls.log").read_text() == "spec 1\n"
    assert "already accepted on branch c0ffee-spec" in again[2]
    code, _, err = authoring_cli(capsys, "plan", "specs/c0ffee-nothing/spec.md", "--repo", str(repo),
                                 "--agent-command", command)
    assert code == 2 and "spec not found: specs/c0ffee-nothing/spec.md" in err


def resume_paused(answers: list[dict], done: threading.Event) -> threading.Thread:
    """A thread that resumes each paused flow run with the next of ``answers``."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateName
    from prefect.flow_runs import resume_flow_run

    def loop() -> None:
        with get_client(sync_client=True) as client:
            while answers and not done.is_set():
                paused = client.read_flow_runs(flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(name=FlowRunFilterStateName(any_=["Paused"]))))
                for run in paused:
                    resume_flow_run(run.id, run_input=answers.pop(0))
                time.sleep(0.5)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread


@pytest.mark.usefixtures("prefect_api")
def test_ship_pauses_for_approvals_and_revises_with_feedback(tmp_path):
    from flows.ship import ShipParams, ship

    repo = make_repo(tmp_path / "repo")
    revised = SPEC.replace("Translations.", "Translations and colours.")
    command = shell_author(tmp_path, {"spec.1": SPEC, "spec.2": revised, "plan": GOOD_PLAN})
    done = threading.Event()
    resume_paused([{"approve": False, "feedback": "Colours are out of scope too."},
                   {"approve": True}, {"approve": True}], done)
    try:
        result = ship(request="Add a greeting", repo=str(repo), agent_command=command,
                      run_id="dec1de", retry_delay_s=0, approve_spec=True, approve_plan=True)
    finally:
        done.set()

    assert result["status"] == "completed" and result["spec"]["attempts"] == 1
    assert git(repo, "show", f"dec1de-spec:{result['spec']['path']}") == revised.rstrip("\n")
    logs = repo / ".git/planflow/runs/dec1de/logs"
    assert "Colours are out of scope too." in (logs / "spec.attempt-2.prompt.md").read_text()
    assert "Revise after review" not in (logs / "spec.attempt-1.prompt.md").read_text()
    assert git(repo, "rev-list", "--count", "dec1de-spec") == "3"  # initial, spec, revision
    from prefect.artifacts import Artifact

    assert "colours" in Artifact.get("planflow-dec1de-spec").data
    assert json.loads(json.dumps(result))["stack"][:2] == ["dec1de-spec", "dec1de-plan"]


def test_prompt_templates_ship_in_the_package():
    from flows.prompts import render

    text = render("plan", spec_path="s.md", plan_path="p.md", run_id="a1b2c3", feature="f")
    assert "runId: a1b2c3" in text and "$" not in text
    assert textwrap.dedent(render("retry", path="p.md", findings="- x")).strip().endswith(
        "keeping what was right.")
