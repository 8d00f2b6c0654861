"""One flow run per run id at a time, through Prefect's own concurrency.

A run holds the only slot of the global concurrency limit ``planflow-run-{run_id}`` (limit 1,
created on demand; the UI's Concurrency page shows it taken) with a lease while it works,
renewed every ``0.75 * LEASE_S`` seconds as Prefect's ``concurrency()`` renews its own (the
lease id is needed below, which ``concurrency()`` keeps to itself). A holder that dies stops
renewing, and its lease expires after ``LEASE_S`` seconds (a ``prefect server start`` server
then gives the slot back within its repossessor's ``REPOSSESS_S`` loop; a temporary local
server through ``tasks.leases``).

On the run's machine the file lock of ``gitops.runlock`` stays the guard of the repository's
refs (``planflow land``, ``clean`` and the MCP server take it too) and tells at once whether
the holder of the slot is alive: the kernel drops the lock of a killed process. The lease id
is kept beside the lock (``runs/{run_id}/slot.lease``), so the next run on that repository
gives a dead holder's slot back at once instead of waiting for the lease to expire.

When the slot is taken by a live run, the new flow run waits up to ``wait_s`` seconds (the
``wait_for_run_s`` parameter; default 0), polling every ``POLL_S`` seconds with the tag
``WAITING_TAG`` on it, then ends Cancelled with a message naming the run that holds the slot
(``busy_state``); ``planflow run`` exits 4 for it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import ConcurrencyLeaseHolder
from prefect.client.schemas.responses import ConcurrencyLimitWithLeaseResponse
from prefect.exceptions import ObjectNotFound, PrefectHTTPStatusError
from prefect.states import Cancelled, State

from flows.stale_runs import WAITING_TAG, running_runs_of
from gitops.runlock import RunInProgress, hold_run_lock
from tasks.leases import LEASE_S, release_expired_slots
from tasks.limits import ensure_global_limit
from tasks.run_log import run_logger

LIMIT_PREFIX = "planflow-run-"
POLL_S = 5.0
"""Seconds between two attempts at a taken slot while a run waits."""
REPOSSESS_S = 15.0
"""How often a ``prefect server start`` server gives back the slots of expired leases."""
SLOT_FLOWS = ("execute-plan", "write-spec", "write-plan")
"""The flows that take a run id's slot (named in the message of a taken slot)."""
BUSY = "is already executing"
"""The words of every message saying a run id is taken (``is_busy``)."""


def run_limit(run_id: str) -> str:
    """The name of run ``run_id``'s global concurrency limit: ``planflow-run-{run_id}``."""
    return f"{LIMIT_PREFIX}{run_id}"


def busy_state(error: RunInProgress) -> State:
    """The final state of a flow run that found its run id taken: Cancelled, with why."""
    return Cancelled(message=f"{error}; this flow run did not start it again")


def is_busy(state: State) -> bool:
    """True for a state ``busy_state`` made (the run id was taken by another run)."""
    return state.is_cancelled() and BUSY in (state.message or "")


@contextmanager
def run_slot(state_dir: Path, run_id: str, wait_s: float = 0.0) -> Iterator[None]:
    """Hold run ``run_id``'s run lock (``gitops.runlock``, under ``state_dir``) and the slot of
    ``planflow-run-{run_id}`` for the ``with`` block, waiting up to ``wait_s`` seconds while a
    live run holds either. Raises ``RunInProgress`` (naming the holder: its pid and flow run)
    when they are still taken after ``wait_s``, and Prefect's errors when the server cannot
    be reached."""
    ensure_global_limit(run_limit(run_id), 1)
    deadline, tagged = time.monotonic() + wait_s, False
    with ExitStack() as waiting:
        while True:
            with ExitStack() as held:
                try:
                    held.enter_context(hold_run_lock(state_dir, run_id))
                    held.enter_context(_Lease(state_dir, run_id).held())
                except RunInProgress as busy:
                    busy = _named(busy, state_dir, run_id)
                    if time.monotonic() >= deadline:
                        raise busy from None
                    if not tagged:
                        waiting.enter_context(_tagged_waiting(busy, wait_s))
                        tagged = True
                else:
                    waiting.close()
                    yield
                    return
            time.sleep(min(POLL_S, max(0.0, deadline - time.monotonic())))


def _named(busy: RunInProgress, state_dir: Path, run_id: str) -> RunInProgress:
    """``busy`` raised by the run lock (``busy.holder``: the pid), with the flow run that the
    holder recorded (when it is a flow run)."""
    if busy.holder is None:
        return busy
    try:
        flow_run_id = UUID(json.loads(_Lease(state_dir, run_id).record.read_text())["flow_run_id"])
        with get_client(sync_client=True) as client:
            name = client.read_flow_run(flow_run_id).name
    except (OSError, ValueError, KeyError, ObjectNotFound):
        return busy
    return RunInProgress(f"run {run_id} {BUSY} (pid {busy.holder}) in flow run '{name}'"
                         f" ({flow_run_id}); wait for it or stop it first", busy.holder)


def _this_flow_run() -> UUID | None:
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    return context.flow_run.id if context and context.flow_run else None


@contextmanager
def _tagged_waiting(busy: RunInProgress, wait_s: float) -> Iterator[None]:
    """Log that this flow run waits, and tag it ``WAITING_TAG`` until it stops waiting."""
    run_logger().warning(f"{busy}; waiting up to {wait_s:g} s for it to end")
    flow_run_id = _this_flow_run()
    if flow_run_id is None:
        yield
        return
    with get_client(sync_client=True) as client:
        tags = list(client.read_flow_run(flow_run_id).tags)
        client.update_flow_run(flow_run_id, tags=[*tags, WAITING_TAG])
    try:
        yield
    finally:
        with get_client(sync_client=True) as client:
            tags = [tag for tag in client.read_flow_run(flow_run_id).tags if tag != WAITING_TAG]
            client.update_flow_run(flow_run_id, tags=tags)


class _Lease:
    """The lease of run ``run_id``'s slot, recorded in ``runs/{run_id}/slot.lease`` while held
    (with the flow run holding it) and renewed by a thread every ``0.75 * LEASE_S`` seconds.
    Use it only while holding the run's file lock."""

    def __init__(self, state_dir: Path, run_id: str) -> None:
        self.run_id, self.limit = run_id, run_limit(run_id)
        self.record = state_dir / "runs" / run_id / "slot.lease"

    @contextmanager
    def held(self) -> Iterator[UUID]:
        """Take the slot for the block (giving back first the slot of a dead holder recorded
        here); yields the lease id. Raises ``RunInProgress`` when another run holds it."""
        self._give_back_dead()
        lease_id = self._acquire()
        flow_run_id = _this_flow_run()
        self.record.write_text(json.dumps({"lease_id": str(lease_id),
                                           "flow_run_id": str(flow_run_id or "")}))
        stop = threading.Event()
        renewer = threading.Thread(target=self._renew, args=(lease_id, stop), daemon=True,
                                   name=f"lease-{self.limit}")
        renewer.start()
        try:
            yield lease_id
        finally:
            stop.set()
            renewer.join(timeout=5)
            self.record.unlink(missing_ok=True)
            try:
                with get_client(sync_client=True) as client:
                    client.release_concurrency_slots_with_lease(lease_id)
            except Exception as error:  # noqa: BLE001 - the lease then expires in LEASE_S
                run_logger().warning(f"giving back the slot of {self.limit} failed ({error});"
                                     f" it comes back when its lease expires in {LEASE_S:g} s")

    def _acquire(self) -> UUID:
        release_expired_slots()
        flow_run_id = _this_flow_run()
        holder = ConcurrencyLeaseHolder(type="flow_run", id=flow_run_id) if flow_run_id else None
        with get_client(sync_client=True) as client:
            try:
                response = client.increment_concurrency_slots_with_lease(
                    names=[self.limit], slots=1, mode="concurrency", lease_duration=LEASE_S,
                    holder=holder)
            except PrefectHTTPStatusError as error:
                if error.response.status_code != 423:
                    raise
                raise RunInProgress(self._taken_message(client, flow_run_id)) from None
        return ConcurrencyLimitWithLeaseResponse.model_validate(response.json()).lease_id

    def _taken_message(self, client, flow_run_id: UUID | None) -> str:
        others = running_runs_of(client, self.run_id, str(flow_run_id or ""), SLOT_FLOWS)
        if others:
            names = ", ".join(f"'{run.name}' ({run.id})" for run in others)
            return f"run {self.run_id} {BUSY} in flow run {names}"
        return (f"run {self.run_id} {BUSY} elsewhere: the slot of the concurrency limit"
                f" {self.limit} is taken (a run that was killed gives it back when its lease"
                f" expires, within {LEASE_S + REPOSSESS_S:g} s)")

    def _give_back_dead(self) -> None:
        """We hold the file lock, so a recorded lease is a dead run's: give its slot back."""
        try:
            dead = json.loads(self.record.read_text())
        except (OSError, ValueError):
            return
        with get_client(sync_client=True) as client:
            try:
                client.release_concurrency_slots_with_lease(UUID(dead["lease_id"]))
            except (ObjectNotFound, PrefectHTTPStatusError):  # expired and given back already
                pass
        self.record.unlink(missing_ok=True)
        run_logger().warning(f"released the lease on {self.limit} of flow run"
                             f" {dead.get('flow_run_id') or '?'}, which died holding run {self.run_id}")

    def _renew(self, lease_id: UUID, stop: threading.Event) -> None:
        with get_client(sync_client=True) as client:
            while not stop.wait(0.75 * LEASE_S):
                try:
                    client.renew_concurrency_lease(lease_id=lease_id, lease_duration=LEASE_S)
                except Exception as error:  # noqa: BLE001 - the next renewal may succeed
                    run_logger().warning(f"renewing the lease of {self.limit} failed: {error}")
