"""``planflow mcp`` driven by the MCP SDK's own client over stdio (and once over streamable
HTTP), against the session's Prefect server: tools listed, a plan error with file and line,
a plan executed in the background into a stack, the authoring flows, cancellation, a second
start of a running plan, and paths outside the repository."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from mcp_client import BIN, server_env, session
from runs import git, make_repo, write_plan

ROOT = Path(__file__).resolve().parents[1]
TOOLS = {"validate_plan", "dry_run", "execute_plan", "run_status", "cancel_run", "write_spec",
         "write_plan"}

BAD_PLAN = """\
# Feature: broken - Implementation Plan

## Phase 1: One

**Strategy**: Sequential

### Task 1.1: A

**Files**:
- a.txt

**Complexity**: M (2h)

**Dependencies**: Task 9.9

**Description**: write a
"""


def stack_plan(path: Path, run_id: str) -> Path:
    return write_plan(path, f"""\
        name: mcp stack
        run_id: {run_id}
        phases:
          - name: base
            tasks:
              - {{id: "1.1", title: base, files: [base.txt], run: "echo base > base.txt"}}
          - name: pair
            strategy: parallel
            tasks:
              - {{id: "2.1", title: left, files: [l.txt], depends_on: ["1.1"], run: "echo l > l.txt"}}
              - {{id: "2.2", title: right, files: [r.txt], depends_on: ["1.1"], run: "echo r > r.txt"}}
        """)


@pytest.fixture
def repo(tmp_path) -> Path:
    """A scratch repository holding ``bad.md``; afterwards, every background run the test
    started in it is killed with its process group (a failed test leaves none behind)."""
    path = make_repo(tmp_path / "repo")
    (path / "bad.md").write_text(BAD_PLAN)
    yield path
    for record in (path / ".git" / "planflow" / "runs").glob("*/launch.json"):
        pid = json.loads(record.read_text()).get("pid")
        try:
            if pid and str(path).encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
    for pid in sleepers(path):
        os.kill(pid, signal.SIGKILL)


def test_tools_errors_and_a_background_run_into_a_stack(repo, tmp_path, prefect_api):
    plan = stack_plan(repo / "plan.yaml", "3c4d5e")
    (tmp_path / "outside.md").write_text(BAD_PLAN)
    os.symlink(tmp_path / "outside.md", repo / "link.md")
    line = BAD_PLAN.splitlines().index("### Task 1.1: A") + 1
    secret = "sk-mcp-7f3a9c0e1b2d4e5f"
    (repo / "secret.md").write_text(BAD_PLAN.replace("Task 9.9", f"Task {secret}"))

    with session(repo, server_env(PREFECT_API_URL=prefect_api, MCP_TEST_TOKEN=secret)) as mcp:
        assert set(mcp.tools()) == TOOLS
        for tool in ("validate_plan", "dry_run"):  # a result, and a tool error
            leak = mcp.error(tool, path="secret.md")
            assert "depends on unknown task '[redacted]'" in leak and secret not in leak
        bad = mcp.call("validate_plan", path="bad.md")
        assert bad.is_error
        assert f"{repo / 'bad.md'}:{line}: error: task 1.1 depends on unknown task '9.9'" in bad.content[0].text
        assert bad.structured_content["errors"][0]["line"] == line
        assert "depends on unknown task" in mcp.error("dry_run", path="bad.md")
        assert "missing.md" in mcp.error("dry_run", path="missing.md")
        for outside in ("../outside.md", str(tmp_path / "outside.md"), "link.md"):
            assert "is outside the repository" in mcp.error("validate_plan", path=outside)
        assert "is outside the repository" in mcp.error("execute_plan", path="plan.yaml", repo=str(tmp_path))
        assert "unknown agent 'nope'" in mcp.error("execute_plan", path="plan.yaml", agent="nope")
        assert "6 hex" in mcp.error("run_status", run_id="../../x")

        schedule = mcp.ok("dry_run", path="plan.yaml", max_parallel=2)
        assert schedule["critical_path"] == ["1.1", "2.1"] and schedule["schedule"] == "dag"

        started = mcp.ok("execute_plan", path="plan.yaml")
        assert started["run_id"] == "3c4d5e" and started["mode"] == "local"
        assert started["ui_url"].startswith(prefect_api.removesuffix("/api")) and started["flow_run_id"] in started["ui_url"]
        again = mcp.error("execute_plan", path=str(plan))
        assert "run 3c4d5e is already executing (pid" in again

        status = mcp.wait("3c4d5e")
        assert status["status"] == "completed", status
        assert mcp.resource("planflow://runs/3c4d5e/status")["status"] == "completed"
    assert status["stack"] == ["3c4d5e-task-1-1-base", "3c4d5e-task-2-1-left", "3c4d5e-task-2-2-right"]
    assert git(repo, "log", "--format=%s", "3c4d5e-task-2-2-right").splitlines()[:3] == [
        "[3c4d5e] task 2.2: right", "[3c4d5e] task 2.1: left", "[3c4d5e] task 1.1: base"]
    assert status["launch"]["executing"] is False and status["launch"]["exit_code"] == 0
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        assert client.read_flow_run(started["flow_run_id"]).state.is_completed()


def test_cancel_stops_the_run_and_keeps_its_branches_and_worktrees(repo, prefect_api):
    write_plan(repo / "slow.yaml", """\
        name: slow
        run_id: 7e8f90
        phases:
          - name: one
            tasks:
              - {id: "1.1", title: quick, files: [a.txt], run: "echo a > a.txt"}
              - {id: "1.2", title: slow, files: [b.txt], run: "echo b > b.txt; exec sleep 3017"}
        """)
    with session(repo, server_env(PREFECT_API_URL=prefect_api)) as mcp:
        assert "no run 7e8f90" in mcp.error("cancel_run", run_id="7e8f90")
        started = mcp.ok("execute_plan", path="slow.yaml", timeout_s=900)
        mcp.wait("7e8f90", until=lambda s: any(t["id"] == "1.2" and t["state"] == "running"
                                                for t in s.get("tasks", [])))
        deadline = time.monotonic() + 180
        while not sleepers(repo):
            assert time.monotonic() < deadline, "the slow task's agent did not start"
            time.sleep(0.5)
        cancelled = mcp.ok("cancel_run", run_id="7e8f90")
        assert cancelled["cancelled"] is True
        assert set(cancelled["branches"]) >= {"7e8f90-task-1-1-quick", "7e8f90-task-1-2-slow"}
        assert cancelled["worktrees"] == [str(repo / ".worktrees" / "7e8f90-task-1-2")]
        status = mcp.ok("run_status", run_id="7e8f90")
        assert status["status"] == "failed" and "cancelled" in status["output"]
        assert "run 7e8f90 is not executing (status: failed)" in mcp.error("cancel_run", run_id="7e8f90")
    assert not sleepers(repo), "the cancelled run's agent is still running"
    assert (repo / ".worktrees" / "7e8f90-task-1-2" / "b.txt").read_text() == "b\n"
    assert git(repo, "show", "7e8f90-task-1-1-quick:a.txt") == "a"
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        assert client.read_flow_run(started["flow_run_id"]).state.name == "Cancelled"


def sleepers(repo: Path) -> list[int]:
    """Pids of the slow task's agent (``sleep 3017`` in a worktree of ``repo``)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if (proc.name.isdigit() and (proc / "cmdline").read_bytes() == b"sleep\x003017\x00"
                    and Path(os.readlink(proc / "cwd")).is_relative_to(repo)):
                found.append(int(proc.name))
        except OSError:
            pass
    return found


def test_spec_then_plan_through_the_authoring_flows(repo, prefect_api):
    author = f"sh {ROOT / 'examples' / 'authoring' / 'author.sh'}"
    with session(repo, server_env(PREFECT_API_URL=prefect_api), "--agent-command", author) as mcp:
        started = mcp.ok("write_spec", request="-Add text statistics: word counts and reading time")
        spec = mcp.wait(started["run_id"])
        assert spec["status"] == "completed", spec
        path, branch = spec["result"]["path"], spec["result"]["branch"]
        assert path.startswith(f"specs/{started['run_id']}-") and branch == f"{started['run_id']}-spec"
        assert "## Requirements" in git(repo, "show", f"{branch}:{path}")
        planned = mcp.ok("write_plan", spec_path=path)
        assert planned["run_id"] == started["run_id"]
        plan = mcp.wait(planned["run_id"])
        assert plan["status"] == "completed", plan
        assert plan["result"]["attempts"] == 2 and plan["result"]["branch"] == f"{started['run_id']}-plan"


def test_streamable_http_on_loopback(repo):
    write_plan(repo / "plan.yaml", """\
        name: http
        phases:
          - name: one
            strategy: parallel
            tasks:
              - {id: "1.1", title: left, files: [l.txt], size: M}
              - {id: "1.2", title: right, files: [r.txt], size: L}
        """)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = open(repo.parent / "mcp-http.log", "w")
    proc = subprocess.Popen([str(BIN / "planflow"), "mcp", "--http", str(port), "--repo", str(repo)],
                            env=server_env(), stdin=subprocess.DEVNULL, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_listening(port, proc, repo.parent / "mcp-http.log")
        import anyio
        from mcp import Client

        async def drive():
            async with Client(f"http://127.0.0.1:{port}/mcp") as client:
                names = {t.name for t in (await client.list_tools()).tools}
                valid = await client.call_tool("validate_plan", {"path": "plan.yaml"})
                schedule = await client.call_tool("dry_run", {"path": "plan.yaml", "max_parallel": 1})
                bad = await client.call_tool("validate_plan", {"path": "bad.md"})
                return names, valid, schedule, bad

        names, valid, schedule, bad = anyio.run(drive)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        log.close()
    assert names == TOOLS
    assert not valid.is_error and valid.structured_content["valid"] and valid.structured_content["tasks"] == 2
    assert schedule.structured_content["parallel_hours"] == 6 and schedule.structured_content["sequential_hours"] == 6
    assert bad.is_error and "bad.md:7: error" in bad.content[0].text


def wait_listening(port: int, proc: subprocess.Popen, log: Path, timeout_s: float = 240) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"planflow mcp --http not listening after {timeout_s} s:\n{log.read_text()}")
