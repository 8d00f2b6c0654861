"""The authoring flows with real agent CLIs against the fake LLM server (``fake_llm.py``):
``planflow ship`` (Claude Code) writes a spec, has its first plan (an XL task and a cycle)
rejected, gets a valid plan on the second attempt (whose prompt carries the validation
errors) and executes it into a stack; ``planflow spec`` (Codex) is sent back once with the
sections it left out.

The CLIs are installed by ``agent_tools.ensure`` on first use into ``.cache/agents/``.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

from agent_tools import ensure
from fake_llm import FakeLLM, Scene, Script
from gitrepo import TEST_IDENTITY
from planflow.cli import main
from planning.authoring import spec_folder
from planning.spectacular import parse_spectacular
from planning.validate import validate_plan
from runs import git, make_repo
from test_agents_e2e import save_block

pytestmark = pytest.mark.usefixtures("prefect_api")

REQUEST = "Add a greeting module with a CLI"

SPEC = textwrap.dedent("""\
    # Feature: Greeting module

    ## Summary
    A `greet(name)` function and a command that prints it.

    ## Requirements
    1. `greet("Ada")` returns `Hello, Ada!`.

    ## Architecture
    A module `greet/core.py` and `greet/cli.py`, following CLAUDE.md (small modules).

    ## Test Plan
    `tests/test_greet.py` checks the greeting.

    ## Out of Scope
    Translations.
    """)

BAD_PLAN = textwrap.dedent("""\
    # Feature: Greeting - Implementation Plan

    ## Phase 1: Everything

    **Strategy**: Parallel

    ### Task 1.1: Whole feature

    **Files**:
    - greet/core.py

    **Complexity**: XL

    **Dependencies**: Task 1.2

    **Description**: Build it all.

    ### Task 1.2: Command

    **Files**:
    - greet/cli.py

    **Complexity**: M (2h)

    **Dependencies**: Task 1.1

    **Description**: The command.
    """)

GOOD_PLAN = textwrap.dedent("""\
    # Feature: Greeting - Implementation Plan

    ## Phase 1: Core

    **Strategy**: Sequential

    ### Task 1.1: Greeting function

    **Files**:
    - greet/core.py

    **Complexity**: S (1h)

    **Dependencies**: None

    **Description**: The greet function.

    **Agent**: shell

    **Run**: `mkdir -p greet && echo 'def greet(name): return f"Hello, {name}!"' > greet/core.py`

    **Quality Gates**:
    ```bash
    grep -q 'def greet' greet/core.py
    ```

    ## Phase 2: Surfaces

    **Strategy**: Parallel

    ### Task 2.1: Command

    **Files**:
    - greet/cli.py

    **Complexity**: M (2h)

    **Dependencies**: Task 1.1

    **Description**: The command.

    **Agent**: shell

    **Run**: `echo 'from greet.core import greet' > greet/cli.py`

    ### Task 2.2: Tests

    **Files**:
    - tests/test_greet.py

    **Complexity**: S (1h)

    **Dependencies**: Task 1.1

    **Description**: The tests.

    **Agent**: shell

    **Run**: `mkdir -p tests && echo 'from greet.core import greet' > tests/test_greet.py`
    """)


def installed(cli: str) -> Path:
    """The CLI's executable (installed on first use); skips when npm is missing."""
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed: the npm-based CLIs cannot be installed")
    return ensure(cli)


def authoring_cli(capsys, *args: str) -> tuple[int, dict | None, str]:
    """``planflow ARGS --retry-delay 0`` in-process: (exit code, stdout JSON or None, stderr)."""
    code = main([*args, "--retry-delay", "0"])
    captured = capsys.readouterr()
    return code, (json.loads(captured.out) if captured.out.strip() else None), captured.err


def repo_with_conventions(path: Path) -> Path:
    repo = make_repo(path)
    (repo / "CLAUDE.md").write_text("Keep modules small.\n")
    git(repo, "add", "CLAUDE.md")
    git(repo, *TEST_IDENTITY, "commit", "-qm", "conventions")
    return repo


def prompts(server: FakeLLM, needle: str) -> list[str]:
    """The JSON of the model calls whose conversation contains ``needle``."""
    return [text for call in server.model_calls() if needle in (text := json.dumps(call.body))]


def test_ship_writes_spec_retries_the_invalid_plan_and_executes_it(tmp_path, capsys):
    executable = installed("claude")
    repo = repo_with_conventions(tmp_path / "repo")
    head = git(repo, "rev-parse", "HEAD")
    run_id = "5a1e01"
    folder = spec_folder(run_id, REQUEST)
    worktree = {step: repo / ".worktrees" / f"{run_id}-{step}" for step in ("spec", "plan")}
    script = Script(scenes=[
        Scene("Fix your previous attempt", str(worktree["plan"] / folder / "plan.md"), GOOD_PLAN,
              tool="Bash"),
        Scene("Decompose a specification", str(worktree["plan"] / folder / "plan.md"), BAD_PLAN),
        Scene("Write a feature specification", str(worktree["spec"] / folder / "spec.md"), SPEC),
    ])
    with FakeLLM(script) as server:
        block = save_block("claude", executable, server, "sk-planflow-ship-0123456789")
        code, result, err = authoring_cli(capsys, "ship", REQUEST, "--repo", str(repo),
                                          "--agent-block", block, "--run-id", run_id)

    assert code == 0, err
    assert result["status"] == "completed"
    assert result["spec"]["attempts"] == 1 and result["plan"]["attempts"] == 2
    assert result["stack"] == [f"{run_id}-spec", f"{run_id}-plan", f"{run_id}-task-1-1-greeting-function",
                               f"{run_id}-task-2-1-command", f"{run_id}-task-2-2-tests"]
    # one stack: HEAD -> spec -> plan -> tasks
    chain = git(repo, "rev-list", "--first-parent", "--max-count=6", result["stack"][-1]).split()
    assert chain[-1] == head and chain[-2] == git(repo, "rev-parse", f"{run_id}-spec")
    assert chain[-3] == git(repo, "rev-parse", f"{run_id}-plan")
    assert git(repo, "show", f"{result['stack'][-1]}:greet/core.py").startswith("def greet")
    # the plan: the agent's second attempt, valid, with planflow's own run id and summary
    plan_text = git(repo, "show", f"{run_id}-plan:{folder}/plan.md")
    plan = parse_spectacular(plan_text, Path(folder) / "plan.md")
    assert plan.run_id == run_id and [t.id for t in plan.tasks()] == ["1.1", "2.1", "2.2"]
    assert not [i for i in validate_plan(plan, strict=True) if i.severity == "error"]
    assert "- Parallel time (4 agents): 3h" in plan_text and "Time savings: 1h (25%)" in plan_text
    assert git(repo, "show", f"{run_id}-spec:{folder}/spec.md") == SPEC.rstrip("\n")
    # the second plan prompt carried the exact validation errors; the first did not
    first, *retries = prompts(server, "Decompose a specification")
    assert "Fix your previous attempt" not in first
    retry = next(text for text in retries if "Fix your previous attempt" in text)
    assert "dependency cycle: 1.1 -> 1.2 -> 1.1" in retry
    assert "task 1.1 is too large for one agent run (size XL)" in retry
    # status went through the authoring phases, then the plan's phases
    assert "spec-generation" in err and "plan-decomposition" in err and "Phase 2:" in err
    # the user's checkout is untouched and the authoring worktrees are gone
    assert git(repo, "rev-parse", "HEAD") == head and git(repo, "status", "--porcelain") == ""
    assert not worktree["spec"].exists() and not worktree["plan"].exists()


def test_spec_by_codex_is_sent_back_with_the_missing_sections(tmp_path, capsys):
    executable = installed("codex")
    repo = repo_with_conventions(tmp_path / "repo")
    run_id = "5c0de1"
    path = f"{spec_folder(run_id, REQUEST)}/spec.md"
    partial = SPEC.split("## Test Plan")[0]
    script = Script(scenes=[Scene("Fix your previous attempt", path, SPEC),
                            Scene("Write a feature specification", path, partial)])
    with FakeLLM(script) as server:
        block = save_block("codex", executable, server, "sk-planflow-spec-0123456789")
        code, result, err = authoring_cli(capsys, "spec", REQUEST, "--repo", str(repo),
                                          "--agent-block", block, "--run-id", run_id)

    assert code == 0, err
    assert (result["path"], result["branch"], result["attempts"]) == (path, f"{run_id}-spec", 2)
    assert result["tokens_in"] > 0
    assert git(repo, "show", f"{run_id}-spec:{path}") == SPEC.rstrip("\n")
    retry = prompts(server, "Fix your previous attempt")[0]
    assert "the section `## Test Plan` is missing" in retry
    assert "the section `## Out of Scope` is missing" in retry
    assert "`CLAUDE.md`" in prompts(server, "Write a feature specification")[0]
    assert f"next: planflow plan {path}" in err
