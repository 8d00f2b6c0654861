"""The real, pinned agent CLIs run as a task of a two-task plan through ``planflow run``, each
against the project's fake LLM server (``fake_llm.py``), with a model set and with none (the
CLI's default model, as a user runs it): the edit lands committed on the task's branch, and
the ledger shows the same figures for every CLI for the same scripted exchange (tokens in with
the cached ones, cached, out, one model request per server reply); with the CLIs' own retries
left at planflow's default (off), a 401 (also one whose body names no status) fails in seconds
as ``auth`` without a retry and a 429 is ``rate_limit``; a 500 is retried and fails with the
agent's error; the API key appears nowhere but in the agent's requests; nothing of a run is
left in the shared temp folder; aider's crashed edit is not work done.

The CLIs are installed by ``agent_tools.ensure`` on first use into ``.cache/agents/``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from agent_tools import INSTALL_SECONDS, ensure
from blocks.agent_config import AgentConfig
from fake_llm import FakeLLM, Script
from runs import git, make_repo, run_cli, write_plan

pytestmark = pytest.mark.usefixtures("prefect_api")

RUN_ID = "e2e0a1"
WORKTREE = f".worktrees/{RUN_ID}-task-2-1"

CLIS = {
    "claude": {"model": "claude-sonnet-4-5", "server_error": "fake 500 error"},
    "codex": {"model": "fake-model", "server_error": "high demand"},
    "gemini": {"model": "gemini-2.5-flash", "server_error": "fake 500 error"},
    "opencode": {"model": "fake-model", "server_error": "fake 500 error"},
    "aider": {"model": "fake-model", "server_error": "InternalServerError"},
    "qwen": {"model": "fake-model", "server_error": "fake 500 error"},
}
"""Per CLI: the model name it is configured with and a piece of its own 500 error text."""

TIMES: dict[str, float] = {}

CACHED, CACHE_WRITE = 100, 20
"""Of each reply's 123 input tokens, how many the fake server reports as read from the cache
(and, on Claude's wire, written to it)."""


@pytest.fixture(scope="module", params=list(CLIS))
def cli(request) -> tuple[str, Path]:
    """The CLI name and its installed executable (installed on first use)."""
    name = request.param
    if name != "aider" and shutil.which("npm") is None:
        pytest.skip("npm is not installed: the npm-based CLIs cannot be installed")
    return name, ensure(name)


def save_block(cli: str, executable: Path, server: FakeLLM, key: str, model: bool = True) -> str:
    """An ``AgentConfig`` block for ``cli`` against ``server`` (``model``: with the model of
    ``CLIS``, else none: the CLI's default), the CLI's own retries left at planflow's default;
    returns its name."""
    name = f"e2e-{cli}"
    AgentConfig(kind=cli, executable=str(executable), model=CLIS[cli]["model"] if model else None,
                base_url=server.url, api_key=key, max_turns=6, timeout_s=240).save(
                    name, overwrite=True)
    return name


def two_task_plan(tmp_path: Path) -> Path:
    return write_plan(tmp_path / "plan.yaml", f"""\
        name: e2e
        run_id: {RUN_ID}
        phases:
          - name: setup
            tasks:
              - {{id: "1.1", title: notes, files: [notes.txt], agent: shell,
                  run: "echo notes > notes.txt"}}
          - name: agent
            tasks:
              - id: "2.1"
                title: hello file
                files: [hello.txt]
                prompt: Create hello.txt containing the line 'hello from fake llm'.
        """)


def script_for(cli: str, repo: Path, **fields) -> Script:
    """Codex's tools run in the worktree and want a relative path; the others an absolute one.
    Errors say when to retry (``retry-after-ms``: 1, as OpenAI's API does), which opencode's
    own backoff (it has no setting for it), the HTTP clients inside aider and Qwen Code's on a
    429 (``retry-after``: 1 s) honour: their retries still happen, in seconds, not minutes.
    aider's own loop (about a minute) and Qwen Code's on a 500 ignore it."""
    path = "hello.txt" if cli == "codex" else str(repo / WORKTREE / "hello.txt")
    return Script(path=path, retry_after_ms=1, **fields)


def assert_no_secret(key: str, repo: Path, status: dict, err: str):
    """``key`` is nowhere in the run's files (logs, agent homes, status), output or artifacts;
    returns the tasks table artifact."""
    assert key not in json.dumps(status) and key not in err
    for path in (repo / ".git" / "planflow").rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes(), f"the API key leaked into {path}"
    from prefect.artifacts import Artifact

    artifact = Artifact.get(f"planflow-{RUN_ID}-tasks")
    assert artifact is not None and key not in json.dumps(artifact.data) + artifact.description
    return artifact


def temp_leftovers(started: float) -> list[Path]:
    """Files an agent CLI is known to leave in the shared temp folder, made since ``started``
    (UNIX seconds): Gemini's client-error reports (the prompt, the worktree's file tree)."""
    shared = Path(tempfile.gettempdir())
    return [p for p in shared.glob("gemini-client-error-*") if p.stat().st_mtime >= started]


@pytest.mark.parametrize("model", [True, False], ids=["model", "default-model"])
def test_cli_edits_a_file_through_the_fake_server(cli, model, tmp_path, capsys):
    name, executable = cli
    repo = make_repo(tmp_path / "repo")
    key = f"sk-planflow-secret-{name}-0123456789"
    started = time.monotonic()
    script = script_for(name, repo, tokens_cached=CACHED, tokens_cache_write=CACHE_WRITE,
                        final_text="Done.\nDECISION: one file\nPENDING: nothing")
    with FakeLLM(script) as server:
        block = save_block(name, executable, server, key, model)
        code, status, err = run_cli(capsys, str(two_task_plan(tmp_path)), "--repo", str(repo),
                                    "--agent-block", block)
    TIMES[f"{name} ok ({'model' if model else 'default model'})"] = time.monotonic() - started

    assert code == 0, err
    branch = status["stack"][-1]
    assert git(repo, "show", f"{branch}:hello.txt") == "hello from fake llm"
    assert git(repo, "log", "-1", "--format=%s", branch).endswith("task 2.1: hello file")
    assert git(repo, "show", f"{status['stack'][0]}:notes.txt") == "notes"
    task = status["tasks"][1]
    calls = server.model_calls()
    assert calls and any(key in json.dumps(c.headers) for c in calls)
    # the requests of the agent's work offer tools; side requests (titles, Gemini's routing)
    # do not and are not in the CLI's report; aider offers no tools at all
    work = [c for c in calls if (c.body or {}).get("tools") or _codex_tools(c.body)] or calls
    n = len(work)
    if name == "gemini" and not model:  # its stats also count its default model's routing call
        n = len(calls)
    # one ledger for every CLI: the same figures for the same exchange (aider prints no cached
    # figure for OpenAI's cached_tokens: unknown, not 0)
    cached = None if name == "aider" else CACHED * n
    assert (task["tokens_in"], task["tokens_cached"], task["tokens_out"], task["turns"]) == (
        123 * n, cached, 45 * n, n), task
    assert task["attempts"] == 1 and status["totals"]["tokens_in"] == task["tokens_in"]
    assert "total" in err and "tokens in" in err and "requests" in err
    artifact = assert_no_secret(key, repo, status, err)
    row = {r["task"]: r for r in json.loads(artifact.data)}["2.1"]
    assert (row["tokens_in"], row["attempts"]) == (task["tokens_in"], 1)
    assert f"totals: {task['tokens_in']} tokens in" in artifact.description
    record = next((repo / ".git" / "planflow" / "runs" / RUN_ID / "context").glob("task-2-1*.json"))
    context = json.loads(record.read_text())
    assert context["decisions"] == ["one file"] and context["pending"] == ["nothing"]


def _codex_tools(body) -> bool:
    """Whether a Responses request offers tools as Codex's default model does (an
    ``additional_tools`` input item)."""
    return any(isinstance(i, dict) and i.get("type") == "additional_tools"
               for i in (body or {}).get("input") or [])


@pytest.mark.slow  # aider's and Qwen Code's own retries take minutes
@pytest.mark.parametrize("status_code,neutral,expected", [
    (401, False, "auth"), (401, True, "auth"), (429, False, "rate_limit")],
    ids=["401", "401-neutral", "429"])
def test_cli_api_error_fails_fast_with_its_class(cli, status_code, neutral, expected, tmp_path,
                                                 capsys):
    name, executable = cli
    if neutral and name == "aider":
        expected = "rejected"  # aider (litellm) reports it as a BadRequestError, no status
    repo = make_repo(tmp_path / "repo")
    key = f"sk-planflow-secret-{name}-{status_code}"
    started, wall = time.monotonic(), time.time()
    with FakeLLM(script_for(name, repo, error_status=status_code, neutral_error=neutral)) as server:
        block = save_block(name, executable, server, key)
        code, status, err = run_cli(capsys, str(two_task_plan(tmp_path)), "--repo", str(repo),
                                    "--agent-block", block, "--retries", "2" if status_code == 401 else "0")
    seconds = time.monotonic() - started
    TIMES[f"{name} {status_code}{' neutral' if neutral else ''}"] = seconds

    assert code == 1, err
    failed = status["failed_tasks"]
    assert [t["id"] for t in failed] == ["2.1"]
    assert f"failure: {expected}" in failed[0]["error"]
    assert status["tasks"][1]["attempts"] == 1
    assert seconds < 600, f"{name}: a {status_code} took {seconds:.0f} s to fail"
    assert_no_secret(key, repo, status, err)
    assert temp_leftovers(wall) == []
    if name == "gemini":  # it writes its client-error report, into the run's own temp folder
        logs = repo / ".git" / "planflow" / "runs" / RUN_ID / "logs"
        assert list(logs.glob("task-2-1.attempt-1.tmp/**/gemini-client-error-*.json"))


def test_aider_crashed_edit_is_not_work_done(tmp_path, capsys):
    executable = ensure("aider")
    repo = make_repo(tmp_path / "repo")
    with FakeLLM(script_for("aider", repo, aider_crash=True)) as server:
        block = save_block("aider", executable, server, "sk-planflow-secret-aider-crash")
        code, status, err = run_cli(capsys, str(two_task_plan(tmp_path)), "--repo", str(repo),
                                    "--agent-block", block, "--retries", "0")

    # aider exits 0 having written nothing; the empty hello.txt it used to create (the task's
    # file given on its command line) no longer passes for work done
    assert code == 1, err
    assert [t["id"] for t in status["failed_tasks"]] == ["2.1"]
    assert "changed no file" in status["failed_tasks"][0]["error"]
    assert status["tasks"][1]["state"] == "failed"


@pytest.mark.slow  # aider's and Qwen Code's own retries take minutes
def test_cli_500_is_retried_then_fails_with_the_agents_error(cli, tmp_path, capsys):
    name, executable = cli
    repo = make_repo(tmp_path / "repo")
    key = f"sk-planflow-secret-{name}-500"
    started = time.monotonic()
    with FakeLLM(script_for(name, repo, error_status=500)) as server:
        block = save_block(name, executable, server, key)
        code, status, err = run_cli(capsys, str(two_task_plan(tmp_path)), "--repo", str(repo),
                                    "--agent-block", block, "--retries", "1")
    TIMES[f"{name} 500"] = time.monotonic() - started

    assert code == 1, err
    error = status["failed_tasks"][0]["error"]
    assert "failure: server_error" in error and CLIS[name]["server_error"] in error
    assert status["tasks"][1]["attempts"] == 2
    assert_no_secret(key, repo, status, err)


def test_report_times(capsys):
    """Prints install and run times per CLI (``pytest -s`` shows them)."""
    with capsys.disabled():
        print()
        for cli, seconds in sorted(INSTALL_SECONDS.items()):
            print(f"install {cli}: {seconds:.1f} s (0: already in .cache/agents)")
        for what, seconds in sorted(TIMES.items()):
            print(f"run {what}: {seconds:.1f} s")
