"""The Prefect server of ``planflow run`` (``planflow.prefect_env``, ``planflow.server_local``,
``planflow.server_guard``): start-up failures are one line with exit code 3, a ``kill -9`` of a
run leaves no process behind, and runs share, reuse and replace planflow's local server.

Every command runs as a real subprocess with a server folder and port of its own."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gitrepo import make_repo

LIMIT_S = 600.0
"""Every wait of these tests (a loaded 2-core machine can take minutes to start a server)."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def plan(repo: Path, run: str = "echo task > t-1.txt") -> Path:
    path = repo / "plan.yaml"
    path.write_text("name: one\nphases:\n  - name: p1\n    strategy: parallel\n    tasks:\n"
                    '      - id: "1"\n        title: t1\n        files: [t-1.txt]\n'
                    f"        depends_on: []\n        hours: 1\n        run: {json.dumps(run)}\n")
    return path


@pytest.fixture
def server_env(tmp_path):
    """The environment of a command using its own local server (no ``PLANFLOW_EPHEMERAL``, no
    ``PREFECT_API_URL``); the server is stopped at the end."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("PLANFLOW_EPHEMERAL", "PREFECT_API_URL")}
    env.update(PLANFLOW_SERVER_HOME=str(tmp_path / "server"), PLANFLOW_SERVER_PORT=str(free_port()),
               PLANFLOW_SERVER_TIMEOUT=str(LIMIT_S))
    yield env
    planflow("server", "stop", env=env)


def planflow(*args: str, env: dict, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "planflow.cli", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=LIMIT_S * 2)


def start(*args: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "planflow.cli", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def assert_one_line_error(done: subprocess.CompletedProcess, *words: str) -> str:
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, done.stderr
    assert "(fix: " in errors[0]
    for word in words:
        assert word in errors[0]
    return errors[0]


def record(env: dict) -> dict:
    return json.loads((Path(env["PLANFLOW_SERVER_HOME"]) / "server.json").read_text())


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + LIMIT_S
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {LIMIT_S:g} s"
        time.sleep(0.2)


def descendants(root: int) -> dict[int, str]:
    """{pid: command line} of the live processes below ``root``."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = {}, list(children.get(root, []))
    while todo:
        pid = todo.pop()
        try:
            found[pid] = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        todo += children.get(pid, [])
    return found


def test_a_server_that_does_not_answer_is_one_line_and_exit_3(tmp_path, server_env):
    repo = make_repo(tmp_path / "repo")
    env = server_env | {"PREFECT_API_URL": f"http://127.0.0.1:{free_port()}/api"}
    done = planflow("run", str(plan(repo)), "--repo", str(repo), env=env)
    assert_one_line_error(done, env["PREFECT_API_URL"], "does not answer")
    assert not (Path(server_env["PLANFLOW_SERVER_HOME"]) / "server.json").exists()


def test_a_port_held_by_another_program_is_reported_not_taken(tmp_path, server_env):
    repo = make_repo(tmp_path / "repo")
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        env = server_env | {"PLANFLOW_SERVER_PORT": str(other.getsockname()[1])}
        done = planflow("run", str(plan(repo)), "--repo", str(repo), env=env)
        assert_one_line_error(done, "in use by another program", "PLANFLOW_SERVER_PORT")
    assert not (Path(env["PLANFLOW_SERVER_HOME"]) / "server.json").exists()


def test_a_server_start_that_times_out_is_one_line_and_leaves_no_process(tmp_path, server_env):
    repo = make_repo(tmp_path / "repo")
    env = server_env | {"PLANFLOW_SERVER_TIMEOUT": "0"}
    done = planflow("run", str(plan(repo)), "--repo", str(repo), env=env)
    assert_one_line_error(done, "did not answer within 0 s", "PLANFLOW_SERVER_TIMEOUT")
    pid = record(env)["pid"]
    assert not alive(pid)
    assert not descendants(pid)


def test_an_ephemeral_server_start_that_times_out_is_one_line(tmp_path, server_env):
    repo = make_repo(tmp_path / "repo")
    env = server_env | {"PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "0"}
    done = planflow("run", str(plan(repo)), "--repo", str(repo), "--ephemeral", env=env)
    assert_one_line_error(done, "temporary server")


def test_kill_9_of_an_ephemeral_run_leaves_no_process(tmp_path, server_env):
    repo = make_repo(tmp_path / "repo")
    started = tmp_path / "started"
    run = start("run", str(plan(repo, f"touch {started} && sleep 600")), "--repo", str(repo),
                "--ephemeral", env=server_env)
    try:
        wait_for(lambda: started.exists() or run.poll() is not None, "the task to start")
        assert run.poll() is None, run.communicate()
        below = descendants(run.pid)
        assert any("uvicorn" in line for line in below.values()), below
        assert any("sleep 600" in line for line in below.values()), below
        run.send_signal(signal.SIGKILL)
        run.wait()
        wait_for(lambda: not [pid for pid in below if alive(pid)], "the run's processes to end")
    finally:
        if run.poll() is None:
            run.kill()
        run.communicate()


def test_two_runs_starting_at_once_share_one_server_that_later_runs_reuse(tmp_path, server_env):
    repos = [make_repo(tmp_path / f"repo{i}") for i in (1, 2)]
    runs = [start("run", str(plan(repo)), "--repo", str(repo), env=server_env) for repo in repos]
    outputs = [run.communicate(timeout=LIMIT_S * 2) for run in runs]
    for run, (out, err) in zip(runs, outputs):
        assert run.returncode == 0, err
        assert json.loads(out)["status"] == "completed"
    ui = f"http://127.0.0.1:{server_env['PLANFLOW_SERVER_PORT']}"
    errs = "".join(err for _, err in outputs)
    assert errs.count("starting a local Prefect server") == 1, errs
    assert errs.count(f"{ui}/runs/flow-run/") == 2, errs
    first = record(server_env)

    again = planflow("run", str(plan(repos[0])), "--repo", str(repos[0]), "--run-id", "abcdef",
                     env=server_env)
    assert again.returncode == 0, again.stderr
    assert "starting a local Prefect server" not in again.stderr
    assert f"{ui}/runs/flow-run/" in again.stderr
    assert record(server_env) == first

    status = json.loads(planflow("server", "status", env=server_env).stdout)
    assert (status["running"], status["pid"], status["ui_url"]) == (True, first["pid"], ui)
    found = subprocess.run([sys.executable, "-c", "from planflow.agentside.prefect_api import"
                            " server_url; print(server_url())"], env=server_env,
                           capture_output=True, text=True, timeout=LIMIT_S, check=True)
    assert found.stdout.strip() == f"{ui}/api"


def test_a_dead_or_incompatible_server_is_replaced(server_env):
    assert planflow("server", "start", env=server_env).returncode == 0
    first = record(server_env)
    os.killpg(first["pid"], signal.SIGKILL)
    wait_for(lambda: not alive(first["pid"]), "the server to die")

    done = planflow("server", "start", env=server_env)
    assert done.returncode == 0, done.stderr
    second = record(server_env)
    assert second["pid"] != first["pid"] and json.loads(done.stdout)["running"] is True

    path = Path(server_env["PLANFLOW_SERVER_HOME"]) / "server.json"
    path.write_text(json.dumps(second | {"prefect": "0.0.1"}))
    done = planflow("server", "start", env=server_env)
    assert done.returncode == 0, done.stderr
    assert "replacing the local Prefect server (Prefect 0.0.1" in done.stderr
    assert not alive(second["pid"]) and record(server_env)["pid"] != second["pid"]

    stopped = planflow("server", "stop", env=server_env)
    assert stopped.returncode == 0 and "stopped" in stopped.stderr
    assert json.loads(planflow("server", "status", env=server_env).stdout)["running"] is False
