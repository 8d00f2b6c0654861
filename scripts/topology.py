"""planflow on several machines, every part real but the network: brought up and taken down.

    python scripts/topology.py up DIR [--workers 2] [--parents 1] [--agent-limit 4] [--seed REPO]
    python scripts/topology.py status DIR        # JSON: every process, alive or not, and the URLs
    python scripts/topology.py kill DIR NAME     # kill -9 a machine: its worker and its flow runs
    python scripts/topology.py start DIR NAME    # start that machine's worker again
    python scripts/topology.py stop DIR NAME     # stop it (SIGTERM)
    python scripts/topology.py env DIR NAME      # the machine's environment, as shell exports
    python scripts/topology.py down DIR          # stop everything; exit 1 if a process is left

``up`` starts, each on 127.0.0.1 with a free port and each logging to ``DIR/logs``:
PostgreSQL (``initdb`` into a fresh data folder; as the ``postgres`` user when run as root),
Redis, the Prefect server on PostgreSQL (``postgresql+asyncpg``), a ``git daemon`` serving two
bare repositories (``repo.git``, the remote plans run on, seeded from ``--seed``; and
``planflow.git``, a snapshot of this checkout the deployments' pull step clones), configures
the server (``scripts/deploy.sh``: work pool, agent limit, deployments), and then starts the
machines: ``task-1`` .. ``task-N`` (process workers of the ``tasks`` work queue, which runs
``run-task``) and ``parent-1`` .. (workers of the ``default`` queue, which runs
``execute-plan``), each with its own ``PREFECT_HOME``, ``HOME``, working folder and clones
under ``DIR/machines/NAME``, sharing no folder: only the server, Redis and the git remote.
Each parent machine has its own clone of the remote at ``DIR/machines/NAME/checkout``.

Every process is started in a session of its own with ``PLANFLOW_TOPOLOGY=DIR`` and
``PLANFLOW_TOPOLOGY_PROCESS=NAME`` in its environment (inherited by what it starts: a worker's
flow runs, which Prefect puts in sessions of their own), and its pid is recorded in
``DIR/topology.json``; ``down`` ends each one with everything carrying its marker (SIGTERM,
then SIGKILL after ``--grace`` seconds), then looks for any process still carrying the
topology's marker and reports (and kills) it. ``up`` also creates the server's automation that
marks a flow run Crashed when its heartbeats stop (a machine died), and saves the Redis result
storage block. Settings for the machines' environment pass through
from this process's environment: ``PREFECT_WORKER_QUERY_SECONDS`` (default 5),
``PLANFLOW_LOCK_HOLD_S``, ``PREFECT_LOGGING_LEVEL``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
MARKER = "PLANFLOW_TOPOLOGY"
PROCESS_MARKER = "PLANFLOW_TOPOLOGY_PROCESS"
POOL = "planflow"
TASK_QUEUE = "tasks"
PARENT_QUEUE = "default"
WAIT_S = 600.0
HEARTBEAT_S = 30
"""Seconds between a flow run's heartbeats (Prefect's minimum)."""
ZOMBIE_AFTER_S = 90
"""A flow run whose heartbeats stopped this long ago is marked Crashed (its machine died)."""
"""The limit of every wait (a service starting, a worker registering), seconds."""
PASS_THROUGH = ("PREFECT_WORKER_QUERY_SECONDS", "PLANFLOW_LOCK_HOLD_S", "PREFECT_LOGGING_LEVEL",
                "PLANFLOW_CONTAINMENT")


class TopologyError(Exception):
    """A part of the topology could not start or stop; the message says which and its log."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def postgres_bin(name: str) -> str:
    """The path of PostgreSQL's ``name`` (``initdb``, ``postgres``, ``pg_isready``): on PATH or
    in Debian's ``/usr/lib/postgresql/VERSION/bin``. Raises TopologyError when missing."""
    found = shutil.which(name) or next(
        (str(p) for p in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)), None)
    if not found:
        raise TopologyError(f"PostgreSQL's {name} not found: apt-get install postgresql")
    return found


def missing_tools() -> list[str]:
    """The system programs ``up`` needs and this machine lacks (Debian package names)."""
    missing = []
    try:
        postgres_bin("initdb")
    except TopologyError:
        missing.append("postgresql")
    if not shutil.which("redis-server"):
        missing.append("redis-server")
    exec_path = subprocess.run(["git", "--exec-path"], capture_output=True, text=True).stdout.strip()
    if not (Path(exec_path) / "git-daemon").is_file():
        missing.append("git (git daemon)")
    return missing


class Topology:
    """The topology recorded in ``DIR/topology.json``: ``state`` holds ``urls``, ``machines``
    (name -> folders and queue) and ``processes`` (name -> pid, argv, log)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.file = self.root / "topology.json"
        self.state = json.loads(self.file.read_text()) if self.file.is_file() else {
            "urls": {}, "machines": {}, "processes": {}}

    def save(self) -> None:
        self.file.write_text(json.dumps(self.state, indent=2) + "\n")

    def logs(self) -> Path:
        path = self.root / "logs"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def spawn(self, name: str, argv: list[str], env: dict[str, str], cwd: Path,
              as_user: str | None = None) -> subprocess.Popen:
        """Start ``argv`` as process ``name`` in its own session with the marker, logging to
        ``logs/NAME.log``; record its pid. ``as_user``: run it as that user (we are root)."""
        if as_user:
            argv = ["setpriv", f"--reuid={as_user}", f"--regid={as_user}", "--init-groups", *argv]
        log = open(self.logs() / f"{name}.log", "ab")
        proc = subprocess.Popen(argv, env={**env, MARKER: str(self.root), PROCESS_MARKER: name},
                                cwd=cwd, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        log.close()
        self.state["processes"][name] = {"pid": proc.pid, "argv": argv,
                                         "log": str(self.logs() / f"{name}.log")}
        self.save()
        return proc

    def wait(self, name: str, ready, what: str, timeout_s: float = WAIT_S) -> None:
        """Poll ``ready()`` until true; TopologyError naming ``what`` and the log when process
        ``name`` exits or ``timeout_s`` seconds pass."""
        deadline = time.monotonic() + timeout_s
        pid = self.state["processes"][name]["pid"]
        while time.monotonic() < deadline:
            if ready():
                return
            if not alive(pid):
                raise TopologyError(f"{what} exited while starting; see {self.log_tail(name)}")
            time.sleep(0.5)
        raise TopologyError(f"{what} not ready after {timeout_s:g} s; see {self.log_tail(name)}")

    def log_tail(self, name: str) -> str:
        log = Path(self.state["processes"][name]["log"])
        tail = log.read_text(errors="replace").splitlines()[-15:] if log.is_file() else []
        return f"{log}:\n" + "\n".join(tail)

    # --- the services ---

    def start_postgres(self) -> None:
        port = free_port()
        as_user = "postgres" if os.geteuid() == 0 else None
        # a folder the postgres user can reach (a root-only parent folder would stop it)
        folder = Path(tempfile.mkdtemp(prefix="planflow-pg-"))
        self.state["postgres_dir"] = str(folder)
        if as_user:
            shutil.chown(folder, as_user, as_user)
        env = dict(os.environ, LC_ALL="C.UTF-8")
        initdb = [postgres_bin("initdb"), "-D", str(folder / "data"), "-U", "postgres",
                  "--auth=trust", "--no-sync", "-E", "UTF8"]
        if as_user:
            initdb = ["setpriv", f"--reuid={as_user}", f"--regid={as_user}", "--init-groups", *initdb]
        done = subprocess.run(initdb, env=env, cwd=folder, capture_output=True, text=True,
                              timeout=WAIT_S)
        if done.returncode:
            raise TopologyError(f"initdb failed: {done.stdout}{done.stderr}")
        # fsync off: a scratch database that dies with the topology
        self.spawn("postgres", [postgres_bin("postgres"), "-D", str(folder / "data"), "-h", "127.0.0.1",
                                "-p", str(port), "-k", str(folder), "-c", "fsync=off",
                                "-c", "max_connections=200"], env, folder, as_user)
        isready = [postgres_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres"]
        self.wait("postgres", lambda: subprocess.run(isready, capture_output=True).returncode == 0,
                  "PostgreSQL")
        psql = [postgres_bin("psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-q",
                "-c", "CREATE DATABASE prefect"]
        subprocess.run(psql, env=env, check=True, capture_output=True, timeout=WAIT_S)
        self.state["urls"]["database"] = f"postgresql+asyncpg://postgres@127.0.0.1:{port}/prefect"

    def start_redis(self) -> None:
        port = free_port()
        folder = self.root / "redis"
        folder.mkdir(parents=True, exist_ok=True)
        self.spawn("redis", ["redis-server", "--bind", "127.0.0.1", "--port", str(port),
                             "--save", "", "--appendonly", "no", "--dir", str(folder)],
                   dict(os.environ), folder)
        self.wait("redis", lambda: port_open(port), "Redis")
        self.state["urls"]["redis"] = f"redis://127.0.0.1:{port}/0"

    def start_git_daemon(self, seed: Path | None) -> None:
        port = free_port()
        served = self.root / "git"
        served.mkdir(parents=True, exist_ok=True)
        git("init", "-q", "--bare", "-b", "main", str(served / "repo.git"))
        git("init", "-q", "--bare", "-b", "main", str(served / "planflow.git"))
        seed = seed or make_seed(self.root / "seed")
        git("-C", str(seed), "push", "-q", str(served / "repo.git"), "HEAD:refs/heads/main")
        source = snapshot_source(self.root / "source")
        git("-C", str(source), "push", "-q", str(served / "planflow.git"), "HEAD:refs/heads/main")
        self.spawn("git-daemon", ["git", "daemon", "--reuseaddr", "--export-all",
                                  "--enable=receive-pack", f"--base-path={served}",
                                  "--listen=127.0.0.1", f"--port={port}", str(served)],
                   dict(os.environ), served)
        self.wait("git-daemon", lambda: port_open(port), "git daemon")
        self.state["urls"]["remote"] = f"git://127.0.0.1:{port}/repo.git"
        self.state["urls"]["source"] = f"git://127.0.0.1:{port}/planflow.git"

    def start_server(self) -> None:
        port = free_port()
        home = self.root / "server" / "prefect-home"
        home.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false",
                   PREFECT_API_DATABASE_CONNECTION_URL=self.state["urls"]["database"],
                   PATH=f"{BIN}:{os.environ['PATH']}")
        env.pop("PREFECT_API_URL", None)
        self.spawn("server", [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1",
                              "--port", str(port)], env, home.parent)
        url = f"http://127.0.0.1:{port}/api"
        self.wait("server", lambda: http_ok(f"{url}/health"), "the Prefect server")
        self.state["urls"]["api"] = url

    def deploy(self, agent_limit: int) -> None:
        """``scripts/deploy.sh`` against the server, with the source served by the daemon."""
        home = self.root / "deployer" / "prefect-home"
        home.mkdir(parents=True, exist_ok=True)
        first_parent = self.root / "machines" / "parent-1" / "checkout"
        env = dict(os.environ, PREFECT_HOME=str(home), PREFECT_API_URL=self.state["urls"]["api"],
                   PLANFLOW_SOURCE=self.state["urls"]["source"], PLANFLOW_REPO=str(first_parent),
                   PLANFLOW_AGENT_LIMIT=str(agent_limit), PATH=f"{BIN}:{os.environ['PATH']}",
                   **{MARKER: str(self.root)})
        done = subprocess.run(["bash", str(ROOT / "scripts/deploy.sh")], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=WAIT_S)
        (self.logs() / "deploy.log").write_text(done.stdout + done.stderr)
        if done.returncode:
            raise TopologyError(f"scripts/deploy.sh failed; see {self.logs() / 'deploy.log'}")
        self.state["result_storage"] = self.save_result_storage()
        self.crash_zombie_runs()

    def crash_zombie_runs(self) -> None:
        """The automation of Prefect's "detect zombie flows" recipe: a running flow run whose
        heartbeats stop for ``ZOMBIE_AFTER_S`` seconds (its machine died) is marked Crashed,
        so the parent's dispatch sees it and runs the task on another worker."""
        from datetime import timedelta

        from prefect.automations import Automation
        from prefect.client.schemas.objects import StateType
        from prefect.events.actions import ChangeFlowRunState
        from prefect.events.schemas.automations import EventTrigger, Posture
        from prefect.events.schemas.events import ResourceSpecification
        from prefect.settings import PREFECT_API_URL, temporary_settings

        final = {f"prefect.flow-run.{name}" for name in ("Completed", "Failed", "Cancelled", "Crashed")}
        with temporary_settings({PREFECT_API_URL: self.state["urls"]["api"]}):
            Automation(
                name="planflow: crash zombie flow runs",
                trigger=EventTrigger(
                    after={"prefect.flow-run.heartbeat"},
                    expect={"prefect.flow-run.heartbeat", *final},
                    match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
                    for_each={"prefect.resource.id"}, posture=Posture.Proactive, threshold=1,
                    within=timedelta(seconds=ZOMBIE_AFTER_S)),
                actions=[ChangeFlowRunState(state=StateType.CRASHED,
                                            message="its heartbeats stopped: the worker's machine is gone")],
            ).create()

    def save_result_storage(self) -> str:
        """The Redis result storage block every machine writes results to; returns its slug."""
        sys.path.insert(0, str(ROOT))
        from prefect.settings import PREFECT_API_URL, temporary_settings

        from tasks.shared_cache import save_redis_storage

        with temporary_settings({PREFECT_API_URL: self.state["urls"]["api"]}):
            return save_redis_storage(self.state["urls"]["redis"])

    # --- the machines ---

    def add_machine(self, name: str, queue: str, limit: int | None) -> None:
        folder = self.root / "machines" / name
        for sub in ("prefect-home", "home", "work", "clones", "tmp"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        machine = {"queue": queue, "limit": limit, "folder": str(folder)}
        if queue == PARENT_QUEUE:
            checkout = folder / "checkout"
            if not checkout.is_dir():
                git("clone", "-q", self.state["urls"]["remote"], str(checkout))
            machine["checkout"] = str(checkout)
        self.state["machines"][name] = machine
        self.save()

    def machine_env(self, name: str) -> dict[str, str]:
        """What machine ``name`` sets: its own folders (home, temp dir: the clones Prefect's
        pull step makes for a flow run stay there when a machine is killed), the server, the
        shared cache (Redis: results and locks)."""
        folder = Path(self.state["machines"][name]["folder"])
        env = {"PREFECT_API_URL": self.state["urls"]["api"],
               "PREFECT_HOME": str(folder / "prefect-home"),
               "HOME": str(folder / "home"),
               "TMPDIR": str(folder / "tmp"),
               "PLANFLOW_CLONES_DIR": str(folder / "clones"),
               "PLANFLOW_REDIS_URL": self.state["urls"]["redis"],
               "PLANFLOW_RESULT_STORAGE": self.state["result_storage"],
               "PREFECT_WORKER_QUERY_SECONDS": "5",
               "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(HEARTBEAT_S),
               "PATH": f"{BIN}:{os.environ['PATH']}"}
        env.update({key: os.environ[key] for key in PASS_THROUGH if key in os.environ})
        return env

    def start_worker(self, name: str) -> None:
        machine = self.state["machines"][name]
        argv = [str(BIN / "prefect"), "worker", "start", "--pool", POOL, "--name", name,
                "--work-queue", machine["queue"]]
        argv += ["--limit", str(machine["limit"])] if machine["limit"] else []
        base = {key: value for key, value in os.environ.items()
                if not key.startswith(("PREFECT_", "PLANFLOW_"))}
        self.spawn(name, argv, {**base, **self.machine_env(name)}, Path(machine["folder"]) / "work")
        api = self.state["urls"]["api"]
        self.wait(name, lambda: name in worker_names(api), f"worker {name}")


def alive(pid: int) -> bool:
    """True while process ``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def marked_processes(root: Path, name: str | None = None) -> dict[int, str]:
    """Every live process whose environment carries ``PLANFLOW_TOPOLOGY=root`` (and, with
    ``name``, ``PLANFLOW_TOPOLOGY_PROCESS=name``: what process ``name`` started, such as a
    worker's flow runs, which Prefect starts in sessions of their own): pid -> command."""
    found = {}
    needles = {f"{MARKER}={root}".encode()} | ({f"{PROCESS_MARKER}={name}".encode()} if name else set())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needles <= set((entry / "environ").read_bytes().split(b"\0")) and alive(int(entry.name)):
                found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(
                    errors="replace").strip()
        except OSError:
            continue
    return found


def session_processes(sid: int) -> list[int]:
    """Live processes of session ``sid``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[3]) == sid and fields[0] != "Z":
                pids.append(int(entry.name))
    return pids


def end_process(topology: "Topology", name: str, sig: int, grace_s: float) -> dict:
    """End process ``name`` and everything it started: its session and every process that
    carries its marker. Sends ``sig``, waits ``grace_s`` seconds, then SIGKILLs what is left
    (``sig`` SIGKILL: at once). Returns {"processes": n, "killed": n SIGKILLed}."""
    def members() -> set[int]:
        root_pid = topology.state["processes"][name]["pid"]
        found = set(session_processes(root_pid)) | set(marked_processes(topology.root, name))
        return found | descendants(found | {root_pid})

    pids = _frozen(members) if sig == signal.SIGKILL else members()
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(alive(pid) for pid in pids | members()):
        time.sleep(0.3)
    killed: set[int] = set()
    for _ in range(5):  # again while a process forked during the last round is left
        left = {pid for pid in pids | members() if alive(pid)}
        if not left:
            break
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        killed |= left
        time.sleep(0.2)
    return {"processes": len(pids | killed), "killed": len(killed)}


def _frozen(members: Callable[[], set[int]]) -> set[int]:
    """SIGSTOP every process of ``members()``, again while new ones appear (forked before
    their parent stopped), and return them all: a machine that dies ends its processes at one
    instant, so none of them may see another one die first (a flow run that saw its `git push`
    killed would report a failure instead of vanishing)."""
    stopped: set[int] = set()
    for _ in range(20):
        new = members() - stopped
        if not new:
            break
        for pid in new:
            try:
                os.kill(pid, signal.SIGSTOP)
            except ProcessLookupError:
                pass
        stopped |= new
    return stopped


def descendants(pids: set[int]) -> set[int]:
    """Every live descendant of ``pids`` (by parent pid in ``/proc``)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = set(), list(pids)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return {pid for pid in found if alive(pid)}


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def worker_names(api: str) -> set[str]:
    """Names of the workers of the pool the server has heard from (empty while it has none)."""
    request = urllib.request.Request(f"{api}/work_pools/{POOL}/workers/filter", data=b"{}",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return {worker["name"] for worker in json.load(response)}
    except OSError:
        return set()


def git(*args: str) -> str:
    done = subprocess.run(["git", *args], capture_output=True, text=True, timeout=WAIT_S)
    if done.returncode:
        raise TopologyError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


IDENTITY = ["-c", "user.name=planflow topology", "-c", "user.email=topology@example.invalid"]


def make_seed(path: Path) -> Path:
    """A one-commit repository at ``path`` (a README): the remote's ``main`` by default."""
    path.mkdir(parents=True, exist_ok=True)
    git("init", "-q", "-b", "main", str(path))
    (path / "README.md").write_text("# seed\n")
    git("-C", str(path), "add", "-A")
    git("-C", str(path), *IDENTITY, "commit", "-qm", "seed")
    return path


def snapshot_source(path: Path) -> Path:
    """A repository at ``path`` holding this checkout's files as they are now (tracked and
    untracked, not ignored): what the deployments' pull step clones on every machine."""
    files = git("-C", str(ROOT), "ls-files", "--cached", "--others", "--exclude-standard").splitlines()
    for name in files:
        if (ROOT / name).is_file():
            (path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, path / name)
    git("init", "-q", "-b", "main", str(path))
    git("-C", str(path), "add", "-A")
    git("-C", str(path), *IDENTITY, "commit", "-qm", "planflow snapshot")
    return path


# --- commands ---

def cmd_up(args: argparse.Namespace) -> int:
    missing = missing_tools()
    if missing:
        print(f"missing system packages: {', '.join(missing)} (apt-get install them)", file=sys.stderr)
        return 3
    topology = Topology(args.dir)
    if topology.state["processes"]:
        print(f"{args.dir} already holds a topology: run `down` first", file=sys.stderr)
        return 2
    topology.root.mkdir(parents=True, exist_ok=True)
    try:
        topology.start_postgres()
        topology.start_redis()
        topology.start_git_daemon(args.seed)
        topology.start_server()
        topology.save()
        topology.deploy(args.agent_limit)
        names = [(f"parent-{i}", PARENT_QUEUE, None) for i in range(1, args.parents + 1)]
        names += [(f"task-{i}", TASK_QUEUE, args.worker_limit) for i in range(1, args.workers + 1)]
        for name, queue, limit in names:
            topology.add_machine(name, queue, limit)
            topology.start_worker(name)
    except (TopologyError, subprocess.SubprocessError, OSError) as failed:
        topology.save()
        print(f"topology not up: {failed}\n(take down what started: "
              f"python scripts/topology.py down {args.dir})", file=sys.stderr)
        return 3
    topology.save()
    print(json.dumps(status(topology), indent=2))
    return 0


def status(topology: Topology) -> dict:
    """The recorded processes with ``alive`` and how many processes each runs now (itself and
    what it started, such as a worker's flow runs), the URLs and the machines."""
    processes = {name: {"pid": p["pid"], "alive": alive(p["pid"]),
                        "processes": len(marked_processes(topology.root, name)), "log": p["log"]}
                 for name, p in topology.state["processes"].items()}
    return {"urls": topology.state["urls"], "machines": topology.state["machines"],
            "processes": processes}


def cmd_status(args: argparse.Namespace) -> int:
    topology = Topology(args.dir)
    report = status(topology)
    known = set().union(*(marked_processes(topology.root, name) for name in topology.state["processes"]))
    report["unrecorded"] = {str(pid): command for pid, command in marked_processes(topology.root).items()
                            if pid not in known}
    print(json.dumps(report, indent=2))
    return 0 if all(p["alive"] for p in report["processes"].values()) else 1


def _machine(args: argparse.Namespace) -> Topology | None:
    """The topology in ``args.dir`` when it has machine ``args.name``; else None, said on stderr."""
    topology = Topology(args.dir)
    if args.name in topology.state["machines"]:
        return topology
    print(f"no machine {args.name} in {args.dir}", file=sys.stderr)
    return None


def cmd_end(args: argparse.Namespace) -> int:
    """``kill``: SIGKILL a machine's worker and flow runs at once (the machine dies: all are
    stopped first, so none sees another die);
    ``stop``: SIGTERM, SIGKILL after ``--grace`` seconds."""
    topology = _machine(args)
    if topology is None:
        return 2
    sig, grace = (signal.SIGKILL, 0.0) if args.command == "kill" else (signal.SIGTERM, args.grace)
    print(json.dumps({args.name: end_process(topology, args.name, sig, grace)}))
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    topology = _machine(args)
    if topology is None:
        return 2
    if alive(topology.state["processes"][args.name]["pid"]):
        print(f"{args.name} is running", file=sys.stderr)
        return 4
    try:
        topology.start_worker(args.name)
    except TopologyError as failed:
        print(str(failed), file=sys.stderr)
        return 3
    return 0


def cmd_env(args: argparse.Namespace) -> int:
    topology = _machine(args)
    if topology is None:
        return 2
    for key, value in topology.machine_env(args.name).items():
        print(f"export {key}={shlex.quote(value)}")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    topology = Topology(args.dir)
    ended = {}
    # workers first (they report to the server), then the server, then what it uses
    order = [n for n in topology.state["processes"] if n in topology.state["machines"]]
    order += [n for n in ("server", "git-daemon", "redis", "postgres") if n in topology.state["processes"]]
    for name in order:
        sig = signal.SIGINT if name == "postgres" else signal.SIGTERM  # postgres: fast shutdown
        ended[name] = end_process(topology, name, sig, args.grace)
    strays = marked_processes(topology.root)
    for pid in strays:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if topology.state.get("postgres_dir"):
        shutil.rmtree(topology.state["postgres_dir"], ignore_errors=True)
    topology.state["processes"] = {}
    topology.save()
    print(json.dumps({"ended": ended, "strays": {str(p): c for p, c in strays.items()}}, indent=2))
    return 1 if strays else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="topology.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start PostgreSQL, Redis, the server, the git daemon, the workers")
    up.add_argument("dir", type=Path)
    up.add_argument("--workers", type=int, default=2, help="task machines (default 2)")
    up.add_argument("--parents", type=int, default=1, help="parent machines (default 1)")
    up.add_argument("--worker-limit", type=int, default=None,
                    help="flow runs at once per task machine (default: no limit)")
    up.add_argument("--agent-limit", type=int, default=4, help="the planflow-agents limit")
    up.add_argument("--seed", type=Path, default=None, help="a repository: the remote's main")
    for name, handler in (("status", cmd_status), ("down", cmd_down)):
        command = sub.add_parser(name)
        command.add_argument("dir", type=Path)
        command.set_defaults(handler=handler)
    sub.choices["down"].add_argument("--grace", type=float, default=30.0)
    for name, handler in (("kill", cmd_end), ("stop", cmd_end), ("start", cmd_start),
                          ("env", cmd_env)):
        command = sub.add_parser(name)
        command.add_argument("dir", type=Path)
        command.add_argument("name")
        command.set_defaults(handler=handler)
    sub.choices["stop"].add_argument("--grace", type=float, default=30.0)
    up.set_defaults(handler=cmd_up)
    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
