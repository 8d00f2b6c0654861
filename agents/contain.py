"""How ``run_process`` keeps what a process starts from outliving it: ``contained_argv``.

Every process runs under the reaper (``agents/reaper.py``), which kills and reports what the
program left running once it has ended. Where the system allows it, the reaper is also the
first process of a new PID namespace with its own ``/proc``:

    setpriv --pdeathsig KILL unshare --pid --fork --kill-child --mount-proc [--map-current-user] \\
        python -I -S reaper.py ...

so that nothing the program starts can leave: a daemon that leaves the process group and
clears its environment (``setsid env -i ...``) is still in the namespace, and the kernel kills
every process of a namespace when its first process ends. ``--kill-child`` ends the
namespace when ``unshare`` dies, and ``--pdeathsig`` kills ``unshare`` when planflow dies (a
``kill -9`` of planflow), so a killed run leaves no agent behind. The program sees only its
own processes in ``/proc``, not planflow's environment or other agents'. As root no user
namespace is needed; otherwise ``--map-current-user`` adds one (the same uid inside).

``$PLANFLOW_CONTAINMENT`` chooses: ``auto`` (default: the namespace when a probe run of the
command above works, else the reaper alone), ``namespace`` (raise ``ContainmentError`` when
it does not work) or ``reaper`` (never a namespace). The reaper alone is a child subreaper,
so daemons still end up below it and are killed and reported; what it cannot stop is a
process that kills the reaper itself (same user) before it leaves, and a process started by
a service outside (``systemd-run``, ``at``, a container daemon).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
from pathlib import Path

CONTAINMENT_VAR = "PLANFLOW_CONTAINMENT"
REAPER = Path(__file__).with_name("reaper.py")
_probed: dict[bool, list[str] | str] = {}
_probe_lock = threading.Lock()


class ContainmentError(RuntimeError):
    """``$PLANFLOW_CONTAINMENT`` asks for what this system cannot give (or is not a mode)."""


def containment() -> tuple[str, str]:
    """The mode ``run_process`` uses here and why: (``namespace`` or ``reaper``, a sentence).

    Raises ``ContainmentError`` for a bad ``$PLANFLOW_CONTAINMENT`` or an impossible
    ``namespace``."""
    wanted = os.environ.get(CONTAINMENT_VAR, "auto")
    if wanted not in ("auto", "namespace", "reaper"):
        raise ContainmentError(f"{CONTAINMENT_VAR} must be auto, namespace or reaper, not {wanted!r}")
    if wanted == "reaper":
        return "reaper", f"{CONTAINMENT_VAR}=reaper"
    prefix = namespace_prefix()
    if isinstance(prefix, list):
        user = "" if "--map-current-user" not in prefix else " in a user namespace"
        return "namespace", f"a PID namespace per process{user} (unshare)"
    if wanted == "namespace":
        raise ContainmentError(f"{CONTAINMENT_VAR}=namespace, but no PID namespace can be made"
                               f" here: {prefix}")
    return "reaper", f"no PID namespace: {prefix}"


def namespace_prefix() -> list[str] | str:
    """The command that starts a program in a new PID namespace, or the reason there is
    none (a missing tool, or the probe's error). Probed once per process and user."""
    root = os.geteuid() == 0
    with _probe_lock:
        if root not in _probed:
            _probed[root] = _probe(root)
        return _probed[root]


def _probe(root: bool) -> list[str] | str:
    from agents.process import run_process

    setpriv, unshare = shutil.which("setpriv"), shutil.which("unshare")
    if not (setpriv and unshare and sys.platform.startswith("linux")):
        return "setpriv and unshare (util-linux) are needed, on Linux"
    prefix = [setpriv, "--pdeathsig", "KILL", unshare, "--pid", "--fork", "--kill-child",
              "--mount-proc", *([] if root else ["--map-current-user"])]
    probe = [*prefix, sys.executable, "-I", "-S", "-c", "pass"]  # the reaper's interpreter, there
    with tempfile.TemporaryDirectory(prefix="planflow-probe-") as folder:
        outcome = run_process(probe, Path(folder), {"PATH": os.defpath}, 60,
                              Path(folder) / "probe.log", contain=False)
    if outcome.ok:
        return prefix
    shown = " ".join(Path(part).name for part in probe)
    return f"`{shown}` failed: {outcome.output_tail.strip()[-300:]}"


def contained_argv(argv: list[str], report_fd: int, grace_s: float) -> list[str]:
    """``argv`` run under the reaper (in a PID namespace when ``containment`` says so); the
    reaper writes its report to ``report_fd`` and gives the program ``grace_s`` seconds
    between SIGTERM and SIGKILL. Raises ``ContainmentError`` (see ``containment``)."""
    mode, _ = containment()
    prefix = namespace_prefix() if mode == "namespace" else []
    parent = 0 if prefix else os.getpid()
    reaper = [sys.executable, "-I", "-S", str(REAPER), str(report_fd), f"{grace_s:g}", str(parent)]
    return [*prefix, *reaper, "--", *argv]
