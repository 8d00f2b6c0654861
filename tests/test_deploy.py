"""planflow as a Prefect deployment, for real: `prefect server start` on 127.0.0.1 with its own
PREFECT_HOME, the project's prefect.yaml deployed by scripts/deploy.sh, process workers, flow
runs created through the API the way the UI's Run form creates them, and a worker killed
with SIGKILL mid-run."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zoneinfo
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from runs import git, make_repo, write_plan

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

# slow: run first (tests/conftest.py; one process runs them all, sharing the module's server)
pytestmark = pytest.mark.slow


class Served:
    """A running Prefect server configured for planflow: ``env`` for its subprocesses,
    ``url`` its API, ``repo`` the scratch repository plans run on, ``work`` a scratch folder."""

    def __init__(self, env: dict[str, str], url: str, repo: Path, work: Path) -> None:
        self.env, self.url, self.repo, self.work = env, url, repo, work

    @contextmanager
    def client(self):
        from prefect.client.orchestration import get_client
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings({PREFECT_API_URL: self.url}):
            with get_client(sync_client=True) as client:
                yield client

    @contextmanager
    def worker(self, name: str, limit: int | None = None,
               clones: Path | None = None) -> Iterator[subprocess.Popen]:
        """A process worker of the planflow pool in its own session, running at most ``limit``
        flow runs at once and keeping its clones of shared remotes in ``clones`` (a machine of
        its own, in effect); killed with its session on exit."""
        log = open(self.work / f"worker-{name}.log", "w")
        argv = [str(BIN / "prefect"), "worker", "start", "--pool", "planflow", "--name", name]
        argv += ["--limit", str(limit)] if limit else []
        env = dict(self.env, PLANFLOW_CLONES_DIR=str(clones or self.work / "clones"))
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            yield proc
        finally:
            kill_session(proc)
            log.close()

    def run(self, deployment: str, parameters: dict, timeout_s: float = 180.0):
        """Create a flow run of ``deployment`` with ``parameters`` and wait for a final state."""
        with self.client() as client:
            target = client.read_deployment_by_name(deployment)
            flow_run = client.create_flow_run_from_deployment(target.id, parameters=parameters)
        return self.wait(flow_run.id, timeout_s)

    def wait(self, flow_run_id, timeout_s: float):
        deadline = time.monotonic() + timeout_s
        with self.client() as client:
            while time.monotonic() < deadline:
                flow_run = client.read_flow_run(flow_run_id)
                if flow_run.state and flow_run.state.is_final():
                    return flow_run
                time.sleep(1)
        raise AssertionError(f"flow run {flow_run_id} not finished after {timeout_s} s")


def kill_session(proc: subprocess.Popen) -> None:
    """SIGKILL every process of ``proc``'s session (the worker and the flow runs it started)."""
    subprocess.run(["pkill", "-9", "-s", str(proc.pid)], check=False)
    proc.wait(timeout=10)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[Served]:
    work = tmp_path_factory.mktemp("served")
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    repo = make_repo(work / "repo")
    source = snapshot_source(work / "source")
    # the temp dir of the server and workers: the clones Prefect's pull step makes for each flow
    # run stay behind when a test kills a worker; here they go with the test's folder
    (work / "tmp").mkdir()
    env = dict(os.environ, PREFECT_HOME=str(work / "prefect-home"), PREFECT_API_URL=url,
               TMPDIR=str(work / "tmp"),
               PLANFLOW_RESULTS_DIR=str(work / "results"), PATH=f"{BIN}:{os.environ['PATH']}",
               PLANFLOW_SOURCE=str(source), PLANFLOW_REPO=str(repo), PLANFLOW_TZ="Europe/Berlin",
               PREFECT_SERVER_ANALYTICS_ENABLED="false",
               PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS="5",
               PREFECT_WORKER_QUERY_SECONDS="2", PREFECT_LOGGING_LEVEL="INFO",
               PREFECT_FLOWS_HEARTBEAT_FREQUENCY="30", PLANFLOW_HEARTBEAT_GRACE_S="45")
    log = open(work / "server.log", "w")
    server = subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1",
                               "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_healthy(url, server, work / "server.log")
        subprocess.run(["bash", str(ROOT / "scripts/deploy.sh")], env=env, check=True,
                       capture_output=True, text=True, timeout=300)
        yield Served(env, url, repo, work)
    finally:
        kill_session(server)
        log.close()


def snapshot_source(path: Path) -> Path:
    """A git repository at ``path`` holding this checkout's files as they are now (tracked and
    untracked, not ignored): what the deployments' pull step clones, so workers run the code
    under test rather than the last commit."""
    files = git(ROOT, "ls-files", "--cached", "--others", "--exclude-standard").splitlines()
    for name in files:
        if (ROOT / name).is_file():
            (path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, path / name)
    git(path, "init", "-q", "-b", "main")
    git(path, "add", "-A")
    git(path, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "snapshot")
    return path


def wait_healthy(url: str, server: subprocess.Popen, log: Path, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert server.poll() is None, log.read_text()
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise AssertionError(f"server not healthy after {timeout_s} s:\n{log.read_text()}")


def test_run_created_like_the_ui_form_completes_with_artifacts_and_a_stack(served):
    plan = write_plan(served.work / "ui-plan.yaml", """\
        name: from the ui
        run_id: 0a1b2c
        phases:
          - name: one
            strategy: parallel
            tasks:
              - {id: "1.1", title: left, files: [l.txt], run: "echo l > l.txt"}
              - {id: "1.2", title: right, files: [r.txt], run: "echo r > r.txt"}
        """)
    form = {"plan_path": str(plan), "repo": str(served.repo), "agent": "shell", "max_parallel": 2,
            "retry_delay_s": 0}

    with served.worker("ui"):
        flow_run = served.run("execute-plan/execute-plan", form)

    assert flow_run.state.is_completed(), flow_run.state.message
    from prefect.client.schemas.filters import (ArtifactFilter, ArtifactFilterKey, TaskRunFilter,
                                                TaskRunFilterName)
    from prefect.client.schemas.sorting import ArtifactSort, TaskRunSort

    with served.client() as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(like_="planflow-0a1b2c")),
            limit=10, sort=ArtifactSort.CREATED_DESC)
        task_runs = client.read_task_runs(task_run_filter=TaskRunFilter(
            name=TaskRunFilterName(any_=["1.1 left", "1.2 right"])), limit=10,
            sort=TaskRunSort.EXPECTED_START_TIME_DESC)
    assert {a.key for a in artifacts} == {"planflow-0a1b2c-plan", "planflow-0a1b2c-tasks",
                                          "planflow-0a1b2c-context", "planflow-0a1b2c-progress"}
    table = next(a for a in artifacts if a.key == "planflow-0a1b2c-tasks")
    assert {row["task"]: row["status"] for row in json.loads(table.data)} == {
        "1.1": "done", "1.2": "done", "total": "completed"}
    assert sorted(t.name for t in task_runs if t.state.is_completed()) == ["1.1 left", "1.2 right"]
    assert flow_run.name == "0a1b2c from-the-ui"
    tip = git(served.repo, "rev-parse", "0a1b2c-task-1-2-right")
    assert git(served.repo, "rev-parse", f"{tip}^") == git(served.repo, "rev-parse", "0a1b2c-task-1-1-left")


def test_parameter_form_is_typed_and_rejects_invalid_values(served):
    from prefect.exceptions import PrefectHTTPStatusError

    with served.client() as client:
        deployment = client.read_deployment_by_name("execute-plan/execute-plan")
        schema = deployment.parameter_openapi_schema
        fields = schema["properties"]
        assert fields["max_parallel"]["type"] == "integer" and fields["max_parallel"]["minimum"] == 1
        assert fields["quality_gates"]["type"] == "boolean"
        assert fields["timeout_s"]["type"] == "number"
        assert fields["plan_path"]["type"] == "string"
        with pytest.raises(PrefectHTTPStatusError) as rejected:
            client.create_flow_run_from_deployment(
                deployment.id, parameters={"plan_path": "p.md", "max_parallel": 0})
    assert rejected.value.response.status_code in (409, 422)


def test_form_has_a_field_per_option_and_rejects_rules_between_them_at_creation(served):
    from prefect.exceptions import PrefectHTTPStatusError

    with served.client() as client:
        deployment = client.read_deployment_by_name("execute-plan/execute-plan")
        fields = deployment.parameter_openapi_schema["properties"]
        assert "shell" in fields["agent"]["enum"] and "claude" in fields["agent"]["enum"]
        assert fields["reviewer"]["enum"] == ["none", "agent", "command", "human"]
        assert fields["schedule"]["anyOf"][0]["$ref"].endswith("ScheduleMode")
        assert all(field.get("description") for field in fields.values())
        assert deployment.parameters == {"repo": str(served.repo)}  # no placeholder plan path
        rejected = []
        for parameters in ({"plan_path": "p.md", "reviewer": "command"},  # no review_command
                           {"plan_path": "p.md", "agent": "nope"},
                           {"agent": "shell"}):  # no plan_path
            with pytest.raises(PrefectHTTPStatusError) as error:
                client.create_flow_run_from_deployment(deployment.id, parameters=parameters)
            rejected.append((error.value.response.status_code, error.value.response.text))
    assert [code for code, _ in rejected] == [409, 409, 409]
    assert "review_command" in rejected[0][1] and "'nope' is not one of" in rejected[1][1]
    assert "plan_path" in rejected[2][1]


def test_cli_params_merge_with_the_deployments_defaults(served):
    (served.repo / "specs/cli").mkdir(parents=True)
    write_plan(served.repo / "specs/cli/plan.yaml", """\
        name: from the command line
        run_id: c11c11
        phases:
          - name: one
            tasks:
              - {id: "1", title: cli, files: [c.txt], run: "echo c > c.txt"}
        """)
    with served.worker("cli"):
        typed = subprocess.run(
            [str(BIN / "prefect"), "deployment", "run", "execute-plan/execute-plan",
             "--param", "plan_path=specs/cli/plan.yaml", "--param", "agent=shell",
             "--param", "retry_delay_s=0"],
            env=served.env, capture_output=True, text=True, timeout=300)
        assert typed.returncode == 0, typed.stdout + typed.stderr
        with served.client() as client:
            [flow_run] = [run for run in client.read_flow_runs(limit=50)
                          if run.parameters.get("plan_path") == "specs/cli/plan.yaml"]
        final = served.wait(flow_run.id, 300)

    assert final.state.is_completed(), final.state.message
    assert final.parameters == {"repo": str(served.repo), "plan_path": "specs/cli/plan.yaml",
                                "agent": "shell", "retry_delay_s": 0}
    assert git(served.repo, "show", "c11c11-task-1-cli:c.txt") == "c"


def test_nightly_deployment_is_scheduled_by_the_server(served):
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId, FlowRunFilter
    from prefect.client.schemas.sorting import FlowRunSort

    with served.client() as client:
        nightly = client.read_deployment_by_name("nightly/nightly")
        [schedule] = nightly.schedules
        assert (schedule.schedule.cron, schedule.schedule.timezone) == ("0 2 * * *", "Europe/Berlin")
        deadline = time.monotonic() + 90
        scheduled = []
        while not scheduled and time.monotonic() < deadline:
            scheduled = client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[nightly.id])),
                flow_run_filter=FlowRunFilter(), limit=20, sort=FlowRunSort.EXPECTED_START_TIME_ASC)
            time.sleep(2)
    assert scheduled, "the scheduler made no runs of the nightly deployment"
    first = scheduled[0].expected_start_time
    assert first.astimezone(zoneinfo.ZoneInfo("Europe/Berlin")).hour == 2


def test_killed_worker_run_resumes_from_cache_on_a_new_worker(served):
    repo = make_repo(served.work / "crash-repo")
    calls = served.work / "calls.log"
    tasks = "\n".join(
        f'              - {{id: "{i}", title: step {i}, files: [s{i}.txt], '
        f'run: "echo {i} >> {calls}; sleep 1; echo {i} > s{i}.txt"}}' for i in range(1, 7))
    plan = write_plan(served.work / "crash-plan.yaml", f"""\
        name: crash
        run_id: c0ffee
        phases:
          - name: steps
            tasks:
{tasks}
        """)
    form = {"plan_path": str(plan), "repo": str(repo), "retry_delay_s": 0}
    status_file = repo / ".git/planflow/runs/c0ffee/status.json"

    with served.worker("doomed") as worker:
        with served.client() as client:
            target = client.read_deployment_by_name("execute-plan/execute-plan")
            doomed = client.create_flow_run_from_deployment(target.id, parameters=form)
        deadline = time.monotonic() + 120
        done: list[str] = []
        while len(done) < 3 and time.monotonic() < deadline:
            if status_file.is_file():
                status = json.loads(status_file.read_text())
                done = [t["id"] for t in status["tasks"] if t["state"] == "done"]
            time.sleep(0.2)
        assert len(done) >= 3, "the run did not get going"
        with served.client() as client:  # the flow run's own process, before it can say why
            pid = int(client.read_flow_run(doomed.id).infrastructure_pid.rsplit(":", 1)[-1])
        kill_session(worker)  # the worker first: alive, it would report its child's SIGKILL
        subprocess.run(["kill", "-9", str(pid)], check=False)
    with served.client() as client:  # the heartbeat automation of scripts/deploy.sh
        deadline = time.monotonic() + 600
        while not client.read_flow_run(doomed.id).state.is_crashed():
            assert time.monotonic() < deadline, "the killed run was not marked Crashed in 600 s"
            time.sleep(2)
        crashed = client.read_flow_run(doomed.id).state
    assert "No heartbeat for 45 s" in crashed.message
    finished_before = {t["id"]: t["commit"] for t in json.loads(status_file.read_text())["tasks"]
                       if t["state"] == "done"}
    called_before = calls.read_text().split()

    with served.worker("rescuer"):
        flow_run = served.run("execute-plan/execute-plan", form)

    assert flow_run.state.is_completed(), flow_run.state.message
    released = f"released the lease on planflow-run-c0ffee of flow run {doomed.id}, which died"
    assert released in flow_run_logs(served, flow_run.id, released)
    called_after = calls.read_text().split()[len(called_before):]
    assert not set(called_after) & set(finished_before), (finished_before, called_after)
    assert sorted(set(called_before) | set(called_after)) == ["1", "2", "3", "4", "5", "6"]
    status = json.loads(status_file.read_text())
    assert status["status"] == "completed"
    tip = git(repo, "rev-parse", status["stack"][-1])
    for commit in finished_before.values():
        assert subprocess.run(["git", "-C", str(repo), "merge-base", "--is-ancestor", commit, tip]).returncode == 0
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1
    assert git(repo, "status", "--porcelain") == ""


def test_nightly_runs_each_pending_plan_once(served):
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName
    from prefect.client.schemas.sorting import FlowRunSort

    repo = make_repo(served.work / "nightly-repo")
    for name in ("alpha", "beta", "gamma"):
        (repo / "specs" / name).mkdir(parents=True)
        write_plan(repo / "specs" / name / "plan.yaml", f"""\
            name: {name}
            phases:
              - name: one
                tasks:
                  - {{id: "1", title: {name}, files: [{name}.txt], run: "echo {name} > {name}.txt"}}
            """)
    (repo / "specs" / "gamma" / "plan.yaml").write_text("name: broken\nphases: [\n")

    with served.worker("night"):
        alpha = served.run("execute-plan/execute-plan", {
            "plan_path": str(repo / "specs/alpha/plan.yaml"), "repo": str(repo)})
        nightly = served.run("nightly/nightly", {"repo": str(repo), "plans_dir": "specs"},
                             timeout_s=300)

    assert alpha.state.is_completed() and nightly.state.is_completed(), nightly.state.message
    with served.client() as client:
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["execute-plan"])),
            limit=50, sort=FlowRunSort.START_TIME_DESC)
    planned = sorted(run.parameters["plan_path"] for run in runs
                     if str(repo) in run.parameters["plan_path"])
    assert planned == [str(repo / "specs/alpha/plan.yaml"), str(repo / "specs/beta/plan.yaml")]
    assert git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/").count("-task-1-") == 2
    beta = next(run for run in runs if run.parameters["plan_path"].endswith("beta/plan.yaml"))
    assert beta.name.endswith(" beta") and len(beta.name) == len("abcdef beta")
    from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterFlowRunId
    from prefect.artifacts import Artifact
    from prefect.settings import PREFECT_API_URL, temporary_settings

    lines = flow_run_logs(served, nightly.id, "already completed", "invalid plan:", "as run")
    assert f"skipped {repo}/specs/alpha/plan.yaml: run " in lines and "already completed" in lines
    assert f"skipped {repo}/specs/gamma/plan.yaml: invalid plan:" in lines
    assert f"started {repo}/specs/beta/plan.yaml as run {beta.name}" in lines
    with served.client() as client:
        task_runs = client.read_task_runs(task_run_filter=TaskRunFilter(
            flow_run_id=TaskRunFilterFlowRunId(any_=[nightly.id])))
    assert beta.name in {run.name for run in task_runs}
    assert not any(run.name.startswith("run-") for run in task_runs)
    with temporary_settings({PREFECT_API_URL: served.url}):
        listing = Artifact.get("planflow-nightly").data
    assert "gamma/plan.yaml" in listing and "invalid plan" in listing and "Completed" in listing


def run_tree(client, flow_run_id) -> list:
    """The ids of a flow run and of all its subflow runs (phases, review rounds), read back
    through the API."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId

    ids, level = [flow_run_id], [flow_run_id]
    while level:
        level = [run.id for run in client.read_flow_runs(flow_run_filter=FlowRunFilter(
            parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=level)))]
        ids += level
    return ids


def flow_run_logs(served: Served, flow_run_id, *expected: str, timeout_s: float = 120) -> str:
    """The messages of every log line of a flow run (its own, its subflows' and their task
    runs'), oldest first, one per line, read back through the API once each of ``expected`` is
    in them.

    Prefect's API log handler sends logs in batches from a background worker, so the last lines
    may reach the server after the run's final state; this polls every second up to
    ``timeout_s`` seconds and then returns what it read (the caller's assertion names what is
    missing)."""
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.client.schemas.sorting import LogSort

    deadline = time.monotonic() + timeout_s
    while True:
        logs: list = []
        with served.client() as client:
            runs = LogFilter(flow_run_id=LogFilterFlowRunId(any_=run_tree(client, flow_run_id)))
            while page := client.read_logs(log_filter=runs, limit=200, offset=len(logs),
                                           sort=LogSort.TIMESTAMP_ASC):
                logs += page
        lines = "\n".join(log.message for log in logs)
        if all(text in lines for text in expected) or time.monotonic() > deadline:
            return lines
        time.sleep(1)


def test_run_logs_planflow_lines_and_names_runs_by_run_id_and_task(served):
    from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterFlowRunId

    plan = write_plan(served.work / "logged-plan.yaml", """\
        name: Log check
        run_id: 10a10a
        phases:
          - name: one
            tasks:
              - {id: "1", title: first, files: [a.txt], run: "echo a > a.txt"}
              - {id: "2", title: second, files: [b.txt], run: "echo oops; exit 3"}
        """)
    with served.worker("logs"):
        flow_run = served.run("execute-plan/execute-plan", {"plan_path": str(plan), "retries": 0})

    assert flow_run.state.is_failed() and flow_run.name == "10a10a log-check"
    with served.client() as client:  # the run's task runs and those of its subflows (phases)
        task_runs = client.read_task_runs(task_run_filter=TaskRunFilter(
            flow_run_id=TaskRunFilterFlowRunId(any_=run_tree(client, flow_run.id))))
    assert {"1 first", "2 second"} <= {run.name for run in task_runs}
    lines = flow_run_logs(served, flow_run.id, "oops", "task(s) 2 failed")
    assert "run 10a10a: plan 'Log check', 2 task(s) in 1 phase(s)" in lines
    assert "task 1 'first': attempt 1, shell agent" in lines
    assert "task 1 done (attempt 1): commit" in lines
    assert "stacked task 1: branch 10a10a-task-1-first at" in lines
    assert "task 2: attempt 1 failed: task 2: shell agent exited 3" in lines and "oops" in lines
    assert "task(s) 2 failed" in lines


CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="Debian chromium not installed "
                    "(scripts/test-deps.sh installs it when run as root)")
def test_prefect_ui_shows_the_finished_run_its_logs_phase_subflows_and_artifacts(served):
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName
    from playwright.sync_api import sync_playwright

    plan = write_plan(served.work / "page-plan.yaml", """\
        name: on the page
        run_id: 9a9e00
        phases:
          - name: one
            tasks:
              - {id: "1", title: page, files: [p.txt], run: "echo p > p.txt"}
          - name: two
            tasks:
              - {id: "2", title: later, files: [q.txt], depends_on: ["1"], run: "echo q > q.txt"}
        """)
    with served.worker("page"):
        flow_run = served.run("execute-plan/execute-plan",
                              {"plan_path": str(plan), "repo": str(served.repo)})
    assert flow_run.state.is_completed()
    with served.client() as client:
        [dag] = client.read_flow_runs(flow_run_filter=FlowRunFilter(
            name=FlowRunFilterName(any_=["9a9e00-dag"])))
    screenshots = ROOT / ".planflow" / "test-artifacts"
    screenshots.mkdir(parents=True, exist_ok=True)
    ui = served.url.removesuffix("/api")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{ui}/runs/flow-run/{flow_run.id}")
        page.get_by_text(flow_run.name).first.wait_for(timeout=60_000)
        page.get_by_text("Logs", exact=True).first.click()
        page.get_by_text("run 9a9e00: plan 'on the page'").first.wait_for(timeout=60_000)
        logs = page.inner_text("body")
        page.get_by_text("Artifacts", exact=True).first.click()
        page.get_by_text("planflow-9a9e00-tasks").first.wait_for(timeout=60_000)
        body = page.inner_text("body")
        page.screenshot(path=str(screenshots / "flow-run-page.png"))
        page.goto(f"{ui}/runs/flow-run/{dag.id}")
        page.get_by_text("Subflow Runs", exact=True).first.click()
        page.get_by_text("9a9e00-phase-2").first.wait_for(timeout=60_000)
        subflows = page.inner_text("body")
        page.screenshot(path=str(screenshots / "phase-subflows.png"))
        browser.close()

    assert flow_run.name == "9a9e00 on-the-page" and flow_run.name in body and "Completed" in body
    assert "planflow-9a9e00-plan" in body and "planflow-9a9e00-progress" in body
    assert "run 9a9e00 completed" in logs
    assert "9a9e00-phase-1" in subflows and "9a9e00-phase-2" in subflows
    assert (screenshots / "phase-subflows.png").stat().st_size > 10_000


def test_two_workers_share_one_run_through_a_bare_remote(served):
    remote = served.work / "shared.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(make_repo(served.work / "seed")), str(remote)],
                   check=True)
    checkout = served.work / "checkout"
    subprocess.run(["git", "clone", "-q", str(remote), str(checkout)], check=True)
    tasks = "\n".join(f'              - {{id: "{i}", title: part {i}, files: [p{i}.txt], '
                      f'run: "sleep 3; echo {i} > p{i}.txt"}}' for i in range(1, 5))
    plan = write_plan(served.work / "fanout-plan.yaml", f"""\
        name: fan out
        run_id: fa0a17
        phases:
          - name: parts
            strategy: parallel
            tasks:
{tasks}
        """)
    form = {"plan_path": str(plan), "repo": str(checkout), "remote": str(remote), "max_parallel": 4,
            "retry_delay_s": 0}

    with served.worker("north", limit=2, clones=served.work / "clones-north"), \
            served.worker("south", limit=2, clones=served.work / "clones-south"):
        flow_run = served.run("execute-plan/execute-plan", form, timeout_s=300)

    assert flow_run.state.is_completed(), flow_run.state.message
    status = json.loads((checkout / ".git/planflow/runs/fa0a17/status.json").read_text())
    clones = {Path(t["log_path"]).parents[6].name for t in status["tasks"]}
    assert clones == {"clones-north", "clones-south"}, status["tasks"]
    stack = status["stack"]
    assert len(stack) == 4
    for branch in stack:  # pushed to the shared remote, stacked
        assert git(remote, "rev-parse", f"refs/heads/{branch}") == git(checkout, "rev-parse", branch)
    assert git(checkout, "show", f"{stack[-1]}:p1.txt") == "1"


def test_ship_deployment_pauses_for_both_approvals_then_ships(served):
    from prefect.artifacts import Artifact
    from prefect.flow_runs import resume_flow_run
    from prefect.settings import PREFECT_API_URL, temporary_settings

    repo = served.work / "textkit"
    shutil.copytree(ROOT / "examples/sample-repo", repo)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "textkit")
    form = {"request": "Add text statistics to textkit", "repo": str(repo),
            "agent_command": f"sh {ROOT}/examples/authoring/author.sh", "run_id": "5a1d0c",
            "retry_delay_s": 0, "approve_spec": True, "approve_plan": True}

    with served.worker("ship"), served.client() as client:
        deployment = client.read_deployment_by_name("ship/ship")
        fields = deployment.parameter_openapi_schema["properties"]
        assert fields["approve_plan"]["type"] == "boolean" and fields["request"]["type"] == "string"
        flow_run = client.create_flow_run_from_deployment(deployment.id, parameters=form)
        for kind in ("spec", "plan"):  # what a reviewer reads, then the Resume form
            deadline = time.monotonic() + 120
            while not client.read_flow_run(flow_run.id).state.is_paused():
                assert time.monotonic() < deadline, f"the run never paused for its {kind}"
                time.sleep(1)
            with temporary_settings({PREFECT_API_URL: served.url}):
                assert "# Feature: Text statistics" in Artifact.get(f"planflow-5a1d0c-{kind}").data
                resume_flow_run(flow_run.id, run_input={"approve": True})
        final = served.wait(flow_run.id, 180)

    assert final.state.is_completed(), final.state.message
    status = json.loads((repo / ".git/planflow/runs/5a1d0c/status.json").read_text())
    assert status["stack"][:3] == ["5a1d0c-spec", "5a1d0c-plan", "5a1d0c-task-1-1-tokenizer"]
    assert len(status["stack"]) == 7 and status["status"] == "completed"
    assert "reading time: 1 min" in git(repo, "show", f"{status['stack'][-1]}:tests/test_report.py")


def test_mcp_execute_plan_runs_through_the_deployment_when_a_worker_is_online(served):
    from mcp_client import session

    write_plan(served.repo / "mcp-plan.yaml", """\
        name: from the agent
        run_id: 0dec0d
        phases:
          - name: one
            tasks:
              - {id: "1.1", title: agent side, files: [m.txt], run: "echo m > m.txt"}
        """)
    with served.worker("mcp"):
        wait_worker_online(served, "mcp")
        with session(served.repo, dict(served.env)) as mcp:
            started = mcp.ok("execute_plan", path="mcp-plan.yaml")
            assert started["mode"] == "deployment", started
            assert started["ui_url"].endswith(f"/runs/flow-run/{started['flow_run_id']}")
            status = mcp.wait("0dec0d", timeout_s=300)
    assert status["status"] == "completed", status
    assert status["launch"]["flow_run_state"] == "Completed"
    assert git(served.repo, "show", "0dec0d-task-1-1-agent-side:m.txt") == "m"


def wait_worker_online(served: Served, name: str, timeout_s: float = 180) -> None:
    from prefect.client.schemas.objects import WorkerStatus

    with served.client() as client:
        wait_for(f"worker {name} online", lambda: any(
            w.name == name and w.status == WorkerStatus.ONLINE
            for w in client.read_workers_for_work_pool(work_pool_name="planflow")), timeout_s)


def test_progress_and_tasks_table_move_while_the_run_executes(served):
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    mark = served.work / "go-on"
    plan = write_plan(served.work / "live-plan.yaml", f"""\
        name: live
        run_id: 11fe00
        phases:
          - name: one
            tasks:
              - {{id: "1", title: first, files: [a.txt], run: "echo a > a.txt"}}
              - {{id: "2", title: waits, files: [b.txt],
                 run: "while [ ! -f {mark} ]; do sleep 0.2; done; echo b > b.txt"}}
        """)

    def artifacts(flow_run_id) -> dict:
        with served.client() as client:
            found = client.read_artifacts(artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])))
        return {a.key: a for a in found}

    with served.worker("live"), served.client() as client:
        deployment = client.read_deployment_by_name("execute-plan/execute-plan")
        flow_run = client.create_flow_run_from_deployment(
            deployment.id, parameters={"plan_path": str(plan), "retries": 0})
        deadline = time.monotonic() + 300
        live = {}
        while time.monotonic() < deadline:
            live = artifacts(flow_run.id)
            if "planflow-11fe00-progress" in live and live["planflow-11fe00-progress"].data == 50.0:
                break
            time.sleep(1)
        assert live.get("planflow-11fe00-progress") and live["planflow-11fe00-progress"].data == 50.0, live
        running = client.read_flow_run(flow_run.id).state
        rows = {row["task"]: row for row in json.loads(live["planflow-11fe00-tasks"].data)}
        mark.touch()
        final = served.wait(flow_run.id, 300)

    assert running.is_running()
    assert rows["1"]["status"] == "done" and rows["1"]["branch"] == "11fe00-task-1-first"
    assert rows["2"]["status"] in ("pending", "running") and rows["total"]["status"] == "running"
    assert "1 of 2 tasks finished" in live["planflow-11fe00-progress"].description
    assert final.state.is_completed(), final.state.message
    after = artifacts(flow_run.id)
    assert after["planflow-11fe00-progress"].id == live["planflow-11fe00-progress"].id
    assert after["planflow-11fe00-progress"].data == 100.0
    assert after["planflow-11fe00-tasks"].id == live["planflow-11fe00-tasks"].id  # updated in place
    assert json.loads(after["planflow-11fe00-tasks"].data)[-1]["status"] == "completed"


def test_new_run_of_a_run_id_crashes_its_older_run_left_running(served):
    from prefect.states import Running

    plan = write_plan(served.work / "stale-plan.yaml", """\
        name: stale
        run_id: 5a1e00
        phases:
          - name: one
            tasks:
              - {id: "1", title: only, files: [s.txt], run: "echo s > s.txt"}
        """)
    with served.client() as client:  # what a killed worker leaves: Running, no process
        deployment = client.read_deployment_by_name("execute-plan/execute-plan")
        old = client.create_flow_run_from_deployment(deployment.id, name="5a1e00 stale",
                                                     parameters={"plan_path": str(plan)})
        client.set_flow_run_state(old.id, Running(), force=True)
    with served.worker("stale"):
        new = served.run("execute-plan/execute-plan", {"plan_path": str(plan)})
    with served.client() as client:
        old_state = client.read_flow_run(old.id).state

    assert new.state.is_completed(), new.state.message
    assert old_state.is_crashed() and str(new.id) in old_state.message
    marked = "marked flow run '5a1e00 stale'"
    assert marked in flow_run_logs(served, new.id, marked)


def wait_for(what: str, check, timeout_s: float = 300):
    """Poll ``check()`` every second until it returns something true; returns that."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(1)
    raise AssertionError(f"{what}: not after {timeout_s} s")


def test_second_run_of_a_run_id_is_cancelled_or_waits_through_its_concurrency_limit(served):
    from flows.stale_runs import WAITING_TAG

    mark = served.work / "busy-go-on"
    plan = write_plan(served.work / "busy-plan.yaml", f"""\
        name: busy
        run_id: b05e00
        phases:
          - name: one
            tasks:
              - {{id: "1", title: holds, files: [h.txt],
                 run: "while [ ! -f {mark} ]; do sleep 0.2; done; echo h > h.txt"}}
        """)
    status_file = served.repo / ".git/planflow/runs/b05e00/status.json"
    form = {"plan_path": str(plan), "retries": 0}

    with served.worker("busy"), served.client() as client:
        deployment = client.read_deployment_by_name("execute-plan/execute-plan")
        first = client.create_flow_run_from_deployment(deployment.id, parameters=form)
        wait_for("the first run's task running", lambda: status_file.is_file() and any(
            t["state"] == "running" for t in json.loads(status_file.read_text())["tasks"]))
        limit = client.read_global_concurrency_limit_by_name("planflow-run-b05e00")
        second = served.run("execute-plan/execute-plan", form)
        third = client.create_flow_run_from_deployment(
            deployment.id, parameters=form | {"wait_for_run_s": 600})
        wait_for("the third run waiting", lambda: WAITING_TAG in client.read_flow_run(third.id).tags)
        mark.touch()
        first_final = served.wait(first.id, 300)
        third_final = served.wait(third.id, 300)
        after = client.read_global_concurrency_limit_by_name("planflow-run-b05e00")

    assert (limit.limit, limit.active_slots) == (1, 1)
    assert second.state.is_cancelled(), second.state
    assert "run b05e00 is already executing (pid " in second.state.message
    assert f"in flow run '{first_final.name}' ({first.id})" in second.state.message
    assert first_final.state.is_completed(), first_final.state.message
    assert third_final.state.is_completed(), third_final.state.message
    assert WAITING_TAG not in third_final.tags
    lines = flow_run_logs(served, third.id, "waiting up to 600 s")
    assert "run b05e00 is already executing" in lines and "waiting up to 600 s" in lines
    assert after.active_slots == 0
    assert git(served.repo, "show", "b05e00-task-1-holds:h.txt") == "h"


def test_killed_holder_of_a_run_id_elsewhere_frees_it_when_its_lease_expires(served):
    from flows.run_slot import REPOSSESS_S
    from tasks.leases import LEASE_S

    mark = served.work / "dead-go-on"
    plan = write_plan(served.work / "dead-plan.yaml", f"""\
        name: dead holder
        run_id: dead00
        phases:
          - name: one
            tasks:
              - {{id: "1", title: holds, files: [d.txt],
                 run: "while [ ! -f {mark} ]; do sleep 0.2; done; echo d > d.txt"}}
        """)
    here, there = make_repo(served.work / "machine-a"), make_repo(served.work / "machine-b")
    status_file = here / ".git/planflow/runs/dead00/status.json"

    with served.worker("dead"), served.client() as client:
        deployment = client.read_deployment_by_name("execute-plan/execute-plan")
        doomed = client.create_flow_run_from_deployment(
            deployment.id, parameters={"plan_path": str(plan), "repo": str(here)})
        wait_for("the first run's task running", lambda: status_file.is_file() and any(
            t["state"] == "running" for t in json.loads(status_file.read_text())["tasks"]))
        pid = int(client.read_flow_run(doomed.id).infrastructure_pid.rsplit(":", 1)[-1])
        subprocess.run(["kill", "-9", str(pid)], check=False)
        killed = time.monotonic()
        mark.touch()
        wait_for("the killed run Crashed by its worker",
                 lambda: client.read_flow_run(doomed.id).state.is_crashed(), 180)
        refused = served.run("execute-plan/execute-plan", {"plan_path": str(plan), "repo": str(there)})
        waited = served.run("execute-plan/execute-plan", {"plan_path": str(plan), "repo": str(there),
                                                         "wait_for_run_s": 600}, timeout_s=600)
        freed_after_s = time.monotonic() - killed

    assert refused.state.is_cancelled(), refused.state
    assert "run dead00 is already executing" in refused.state.message
    assert "gives it back when its lease expires" in refused.state.message
    assert waited.state.is_completed(), waited.state.message
    assert git(there, "show", "dead00-task-1-holds:d.txt") == "d"
    print(f"slot of a killed holder free again after {freed_after_s:.0f} s"
          f" (lease {LEASE_S:g} s + repossessor {REPOSSESS_S:g} s)")
