"""planflow on several machines (``scripts/topology.py``): the Prefect server on PostgreSQL,
Redis for the shared cache (results and locks), a git daemon serving the remote, a parent
machine and two task machines, each a process worker with its own PREFECT_HOME, HOME,
working folder and clones, sharing no folder.

One 12-task plan of three parallel phases runs with its tasks spread over the task machines
(the status JSON, ``planflow status`` and the tasks artifact name each task's worker), then
again from a second parent machine with its own clone, where every task comes from the shared
cache. A task machine killed with ``kill -9`` mid-task: the run completes on the other one.
The agent limit and a phase's ``max_parallel`` hold across machines.

The agents write start and end times to a file of the test (the instrument: planflow shares
no folder between the machines). Slow (the topology takes minutes to come up on a loaded
machine): marked ``slow``; skipped with the reason when PostgreSQL, Redis or prefect-redis
is missing (``scripts/test-deps.sh`` installs the Debian packages as root). The first test,
quick, is the worker-side salvage of a dead task's worktree on its own.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runs import git
from test_deploy import Served

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "topology.py"
WAIT_S = 900.0

sys.path.insert(0, str(ROOT / "scripts"))
import topology as topology_script  # noqa: E402  (the script under test, for missing_tools)

def _missing() -> str | None:
    missing = topology_script.missing_tools()
    try:
        import prefect_redis  # noqa: F401
    except ImportError:
        missing.append("prefect-redis (pip install '.[topology]')")
    return ", ".join(missing) or None


MISSING = _missing()


def test_the_worktree_of_a_dead_task_is_salvaged_and_a_live_ones_kept(tmp_path):
    from gitops.clones import owned_worktree, sweep_dead_worktrees
    from gitops.repo import open_repository
    from runs import make_repo

    repo = open_repository(make_repo(tmp_path / "clone"))
    dead, live = (repo.prepare_worktree(repo.root / ".worktrees" / f"r1-task-{n}", f"r1-task-{n}", "HEAD")
                  for n in (1, 2))
    (dead / "partial.txt").write_text("half done\n")
    (live / "busy.txt").write_text("still going\n")
    gone = subprocess.Popen(["true"])
    gone.wait()
    with owned_worktree(repo, live.name):
        (repo.state_dir / "remote-tasks" / dead.name).write_text(f"{gone.pid} 1\n")
        assert sweep_dead_worktrees(repo) == [dead.name]
        assert live.is_dir() and not dead.exists()
    [salvage] = git(repo.root, "for-each-ref", "--format=%(refname)", "refs/planflow/salvage/").split()
    assert f"/{dead.name}/" in salvage
    assert git(repo.root, "show", f"{salvage}:partial.txt") == "half done"
    assert sweep_dead_worktrees(repo) == [] and live.is_dir()  # its owner finished: no mark


def topo(*args: str, timeout_s: float = WAIT_S) -> subprocess.CompletedProcess:
    """``python scripts/topology.py ARGS``; fails the test with its output when it fails."""
    done = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=timeout_s)
    assert done.returncode == 0, f"topology.py {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done


class Topo(Served):
    """The topology brought up in ``root`` (``state`` as recorded in topology.json), with the
    client and waits of ``test_deploy.Served`` on its server."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.state = json.loads((root / "topology.json").read_text())
        super().__init__(env={}, url=self.state["urls"]["api"], repo=root, work=root)

    @property
    def remote(self) -> str:
        return self.state["urls"]["remote"]

    def checkout(self, machine: str) -> Path:
        return Path(self.state["machines"][machine]["checkout"])

    def start_run(self, parameters: dict):
        with self.client() as client:
            target = client.read_deployment_by_name("execute-plan/execute-plan")
            return client.create_flow_run_from_deployment(target.id, parameters=parameters)

    def finish(self, flow_run_id):
        """The flow run once final (``Served.wait`` with this module's limit)."""
        return self.wait(flow_run_id, WAIT_S)


@pytest.fixture(scope="module")
def topology(tmp_path_factory) -> Iterator[Topo]:
    if MISSING:
        pytest.skip(f"the topology needs {MISSING} (scripts/test-deps.sh installs the Debian "
                    "packages as root)")
    root = tmp_path_factory.mktemp("topology")
    try:
        topo("up", str(root), "--workers", "2", "--parents", "2", "--worker-limit", "2",
             "--agent-limit", "3")
        yield Topo(root)
    finally:
        down = subprocess.run([sys.executable, str(SCRIPT), "down", str(root)],
                              capture_output=True, text=True, timeout=WAIT_S)
        report = json.loads(down.stdout) if down.stdout.strip() else {}
        assert down.returncode == 0 and not report.get("strays"), down.stdout + down.stderr


def agent_command(calls: Path, i: int, seconds: float = 3) -> str:
    """The shell agent of task ``i``: appends ``start i TIME PWD`` and ``end i TIME`` to
    ``calls`` (seconds; ``PWD``, the worktree in a machine's clone, names the machine), taking
    ``seconds`` in between."""
    return (f'echo "start {i} $(date +%s.%N) $PWD" >> {calls}; sleep {seconds}; '
            f'echo {i} > f{i}.txt; echo "end {i} $(date +%s.%N)" >> {calls}')


def twelve_task_plan(path: Path, calls: Path, run_id: str) -> Path:
    """Three parallel phases of four tasks; the second phase caps itself at two at once."""
    phases = []
    for number in range(3):
        cap = "\n    max_parallel: 2" if number == 1 else ""
        tasks = "\n".join(
            f'      - {{id: "{number + 1}.{j}", title: part {number * 4 + j}, '
            f'files: [f{number * 4 + j}.txt], run: \'{agent_command(calls, number * 4 + j)}\'}}'
            for j in range(1, 5))
        phases.append(f"  - name: phase {number + 1}\n    strategy: parallel{cap}\n    tasks:\n{tasks}")
    path.write_text(f"name: twelve\nrun_id: {run_id}\nphases:\n" + "\n".join(phases) + "\n")
    return path


def intervals(calls: Path) -> dict[int, tuple[float, float]]:
    """Agent runs in ``calls``: task number -> (start, end) seconds of the last run."""
    starts, spans = {}, {}
    for line in calls.read_text().splitlines():
        kind, number, stamp = line.split()[:3]
        if kind == "start":
            starts[int(number)] = float(stamp)
        else:
            spans[int(number)] = (starts[int(number)], float(stamp))
    return spans


def most_at_once(spans: list[tuple[float, float]]) -> int:
    """The largest number of the ``spans`` (start, end) that overlap at one instant."""
    events = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


def params(plan: Path, checkout: Path, remote: str) -> dict:
    return {"plan_path": str(plan), "repo": str(checkout), "remote": remote, "agent": "shell",
            "max_parallel": 4, "retry_delay_s": 0}


def status_of(checkout: Path, run_id: str) -> dict:
    return json.loads((checkout / f".git/planflow/runs/{run_id}/status.json").read_text())


@pytest.mark.slow
def test_twelve_tasks_spread_over_machines_then_rerun_elsewhere_from_the_cache(topology, tmp_path):
    calls = tmp_path / "calls.log"
    first = topology.checkout("parent-1")
    plan = twelve_task_plan(first / ".." / "twelve.yaml", calls, "7e12e0")
    started = time.monotonic()
    flow_run = topology.finish(topology.start_run(params(plan, first, topology.remote)).id)
    elapsed = time.monotonic() - started
    assert flow_run.state.is_completed(), flow_run.state.message

    status = status_of(first, "7e12e0")
    workers = {task["id"]: task["worker"] for task in status["tasks"]}
    assert set(workers.values()) == {"task-1", "task-2"}, workers
    per_worker = {name: sorted(t for t, w in workers.items() if w == name) for name in ("task-1", "task-2")}
    spans = intervals(calls)
    assert sorted(spans) == list(range(1, 13))
    # the agent limit (3) over both machines; phase 2's max_parallel (2)
    assert most_at_once(list(spans.values())) <= 3, spans
    assert most_at_once([spans[i] for i in range(5, 9)]) <= 2, spans
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    with topology.client() as client:
        [table] = client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=["planflow-7e12e0-tasks"])), limit=1)
    rows = {row["task"]: row for row in json.loads(table.data)}
    assert {task: rows[task]["worker"] for task in workers} == workers
    stack = status["stack"]
    assert len(stack) == 12
    assert git(first, "show", f"{stack[-1]}:f12.txt") == "12"
    cli = subprocess.run([sys.executable, "-m", "planflow.cli", "status", "7e12e0", "--repo", str(first)],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert cli.returncode == 0 and "run 7e12e0: completed" in cli.stderr, cli.stderr
    assert cli.stderr.count(" on task-") == 12, cli.stderr
    one_run(topology, flow_run)

    # the same plan from the second parent machine, with its own clone: no agent runs
    subprocess.run([sys.executable, str(SCRIPT), "stop", str(topology.root), "parent-1"],
                   check=True, capture_output=True, timeout=WAIT_S)
    second = topology.checkout("parent-2")
    plan_again = twelve_task_plan(second / ".." / "twelve.yaml", calls, "7e12e0")
    before = calls.read_text()
    rerun = topology.finish(topology.start_run(params(plan_again, second, topology.remote)).id)
    assert rerun.state.is_completed(), rerun.state.message
    assert calls.read_text() == before, "an agent ran on the re-run"
    again = status_of(second, "7e12e0")
    assert all(task["cached"] for task in again["tasks"]), again["tasks"]
    assert [git(second, "show", f"{branch}:f{i}.txt") for i, branch in enumerate(again["stack"], 1)] \
        == [str(i) for i in range(1, 13)]
    print(json.dumps({"tasks_per_worker": {k: len(v) for k, v in per_worker.items()},
                      "first_run_s": round(elapsed, 1), "agents_at_once": most_at_once(list(spans.values())),
                      "phase_2_at_once": most_at_once([spans[i] for i in range(5, 9)]),
                      "agent_calls_on_rerun": 0}))


def one_run(topology: Topo, flow_run) -> None:
    """The run and its phases and run-task children form one tree in the API (the UI's run
    graph): every run-task flow run has a parent task run inside a run-phase subflow of it."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId

    with topology.client() as client:
        phases = client.read_flow_runs(flow_run_filter=FlowRunFilter(
            parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[flow_run.id])), limit=50)
        children = client.read_flow_runs(flow_run_filter=FlowRunFilter(
            parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[p.id for p in phases])), limit=200)
    assert len(phases) == 3
    assert len(children) == 12 and all(c.state.is_completed() for c in children)
    assert {c.work_queue_name for c in children} == {"tasks"}


def machine_of(line: str) -> str:
    """The machine whose clone an agent ran in (its ``$PWD``: ``machines/NAME/clones/...``)."""
    return line.split("/machines/", 1)[1].split("/", 1)[0]


@pytest.mark.slow
def test_a_machine_killed_mid_task_the_run_completes_elsewhere_and_its_work_is_salvaged(
        topology, tmp_path):
    calls, release = tmp_path / "calls.log", tmp_path / "release"
    slow = (f'echo "start 2 $(date +%s.%N) $PWD" >> {calls}; echo partial > partial-2.txt; '
            f'for _ in $(seq 600); do [ -e {release} ] && break; sleep 1; done; echo 2 > f2.txt; '
            f'echo "end 2 $(date +%s.%N)" >> {calls}')
    tasks = "\n".join(f'      - {{id: "{i}", title: part {i}, files: [f{i}.txt], '
                      f'run: \'{slow if i == 2 else agent_command(calls, i, 1)}\'}}' for i in range(1, 5))
    checkout = topology.checkout("parent-2")
    plan = checkout.parent / "doomed.yaml"
    plan.write_text(f"name: doomed\nrun_id: d00dad\nphases:\n  - name: one\n    strategy: parallel\n"
                    f"    tasks:\n{tasks}\n")
    flow_run = topology.start_run(params(plan, checkout, topology.remote))
    deadline = time.monotonic() + WAIT_S
    while "start 2 " not in (calls.read_text() if calls.exists() else ""):
        with topology.client() as client:
            state = client.read_flow_run(flow_run.id).state
        assert not state.is_final() and time.monotonic() < deadline, f"task 2 never started: {state}"
        time.sleep(2)
    [line] = [line for line in calls.read_text().splitlines() if line.startswith("start 2 ")]
    doomed = machine_of(line)
    killed_at = time.monotonic()
    topo("kill", str(topology.root), doomed)
    release.touch()
    finished = topology.finish(flow_run.id)
    recovered_s = time.monotonic() - killed_at

    assert finished.state.is_completed(), finished.state.message
    status = status_of(checkout, "d00dad")
    task = {t["id"]: t for t in status["tasks"]}["2"]
    assert task["state"] == "done" and task["attempts"] == 2, task
    assert task["worker"] != doomed
    assert git(checkout, "show", f"{status['stack'][-1]}:f2.txt") == "2"

    # the machine comes back: its next task salvages the killed task's uncommitted work
    other = next(name for name in ("task-1", "task-2") if name != doomed)
    topo("stop", str(topology.root), other)
    topo("start", str(topology.root), doomed)
    try:
        after = checkout.parent / "after.yaml"
        after.write_text(f"name: after\nrun_id: af7e40\nphases:\n  - name: one\n    tasks:\n"
                         f"      - {{id: \"1\", title: after, files: [a.txt], run: 'echo a > a.txt'}}\n")
        assert topology.finish(topology.start_run(params(after, checkout, topology.remote)).id).state.is_completed()
    finally:
        topo("start", str(topology.root), other)
    refs = git(checkout, "ls-remote", topology.remote, "refs/planflow/salvage/*").split()
    [salvage] = [ref for ref in refs if "/d00dad-task-2/" in ref]
    git(checkout, "fetch", "-q", topology.remote, f"{salvage}:{salvage}")
    assert git(checkout, "show", f"{salvage}:partial-2.txt") == "partial"
    print(json.dumps({"killed": doomed, "task_2_attempts": task["attempts"],
                      "task_2_finished_on": task["worker"], "run_completed_s_after_kill": round(recovered_s, 1),
                      "salvage_ref": salvage}))
