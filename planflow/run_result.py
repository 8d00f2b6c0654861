"""What ``planflow run`` reports once its flow run has ended: the status the run itself wrote,
or else the error that ended it, and the exit code.

The status file is the result only when the flow run this command started wrote it
(``RunStatus.flow_run_id``) and finished it (``finished_at``): a status left by another run
(the run that holds the lock, an earlier one) or a stale one (a run that died on a full disk)
is never printed as this run's result. Exit codes (the CLI's): 1 the run failed, 2 bad input,
4 the run is already executing (``RunInProgress``, or the flow run ended Cancelled because
another run held its run id: ``flows.run_slot.is_busy``), 5 a disk is full (``DiskFull``, or any
error that says so).
"""

from __future__ import annotations

from pathlib import Path

from prefect.exceptions import FailedRun
from prefect.states import State

from flows.run_slot import is_busy
from gitops.runlock import RunInProgress
from planning.disk import says_disk_full
from planning.errors import PlanError
from planning.status import RunStatus, read_status

EXIT_FAILED, EXIT_BAD_INPUT, EXIT_RUNNING, EXIT_DISK_FULL = 1, 2, 4, 5


def own_status(path: Path, run_id: str, state: State) -> RunStatus | None:
    """The status at ``path`` when the flow run that ended in ``state`` wrote it for run
    ``run_id`` and finished it; else None (missing, unreadable, another run's, unfinished)."""
    try:
        status = read_status(path)
    except (OSError, ValueError):
        return None
    flow_run_id = str(state.state_details.flow_run_id)
    if status.run_id != run_id or status.flow_run_id != flow_run_id or status.finished_at is None:
        return None
    return status


def run_error(state: State) -> BaseException | None:
    """The exception the flow run raised, None when it returned (completed, or a ``Failed``
    state whose message its status holds)."""
    if not (state.is_failed() or state.is_crashed()):
        return None
    result = state.result(raise_on_failure=False)
    if isinstance(result, FailedRun) or not isinstance(result, BaseException):
        return None
    return result


def describe_error(error: BaseException) -> str:
    """One message for ``error``: its own for planflow's errors, else ``Type: message``."""
    if isinstance(error, (RunInProgress, PlanError, OSError)):
        return str(error)
    return f"{type(error).__name__}: {error}"


def exit_code(error: BaseException | None, state: State | None = None) -> int:
    """The exit code for a run that ended in ``state`` with ``error`` (None: it failed
    without raising)."""
    if isinstance(error, RunInProgress) or (state is not None and is_busy(state)):
        return EXIT_RUNNING
    if error is not None and says_disk_full(error):
        return EXIT_DISK_FULL
    if isinstance(error, PlanError):
        return EXIT_BAD_INPUT
    return EXIT_FAILED
