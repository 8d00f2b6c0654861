"""Quality gates of a plan task: ``run_gates`` runs them in a worktree, and the failure of the
last one is kept (``GateFeedback``) so the task's next attempt can show it to the agent."""

from __future__ import annotations

from pathlib import Path

from agents.process import base_env, run_process
from planning.disk import write_text
from planning.models import PlanTask
from tasks.errors import GateFailed


def run_gates(task: PlanTask, worktree: Path, branch: str, timeout_s: float, log_stem: Path) -> list[str]:
    """Run ``task``'s quality-gate scripts (``bash -e -c``) in ``worktree``, in order.

    Each gate's output goes to ``{log_stem}.gate-N.log``; ``timeout_s`` (seconds) limits each.
    Returns one line per gate, ``gate N passed: `first line of the script```. Raises
    ``GateFailed`` (with the gate's output tail, worktree and ``branch`` kept) at the first
    gate that exits non-zero or times out.
    """
    passed = []
    for number, script in enumerate(task.quality_gates, start=1):
        log_path = log_stem.with_name(f"{log_stem.name}.gate-{number}.log")
        outcome = run_process(["bash", "-e", "-c", script], worktree, base_env({}), timeout_s, log_path)
        if outcome.exit_code != 0:
            what = f"quality gate {number} failed (exit {outcome.exit_code})"
            if outcome.timed_out:
                what = f"quality gate {number} timed out"
            raise GateFailed(task.id, what, worktree, branch, log_path, outcome.output_tail,
                             script=script)
        first_line = (script.strip().splitlines() or [""])[0]
        passed.append(f"gate {number} passed: `{first_line}`")
    return passed


class GateFeedback:
    """The last failed gate of one task, kept in file ``path`` between its attempts.

    ``record(attempt, error)`` writes it; ``read(attempt)`` returns it to attempts after the
    first (None otherwise) and ``clear()`` removes it; a first attempt starts clean, so a
    failure of an earlier run is never shown.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def record(self, attempt: int, error: GateFailed) -> None:
        """Keep ``error`` (a ``GateFailed`` of attempt ``attempt``): what, command, output tail."""
        write_text(
            self.path,
            f"attempt {attempt}: {error.what}\n\nCommand:\n```bash\n{error.script.strip()}\n```\n\n"
            f"Output (last part):\n```\n{error.output.strip()}\n```\n"
        )

    def read(self, attempt: int) -> str | None:
        """The kept failure text for attempt ``attempt`` > 1, else None (and a stale file removed)."""
        if attempt <= 1:
            self.clear()
            return None
        return self.path.read_text() if self.path.is_file() else None

    def clear(self) -> None:
        """Forget the kept failure."""
        self.path.unlink(missing_ok=True)
