"""Slots of the agent limit that a killed run left taken go back to the limit.

A slot of a Prefect global concurrency limit is held through a lease that its holder renews
(``prefect.concurrency.sync.concurrency``). A ``prefect server start`` server gives back the
slots of a lease that expired (its holder died) through its repossessor service. The temporary
local server a run starts when ``PREFECT_API_URL`` is not set runs no repossessor and keeps its
leases in memory, which dies with it: a run killed there (SIGKILL, a crash) left its slots
taken in ``$PREFECT_HOME``'s database for good, and every later run waited for a slot forever.

So without ``PREFECT_API_URL``, planflow keeps the leases on disk with Prefect's filesystem
lease storage (``$PREFECT_HOME/concurrency_leases``, shared by every local run) and does the
repossessor's job itself: ``release_expired_slots`` gives back the slots of every lease that
was not renewed for ``LEASE_S`` seconds, at the start of a run and each time an agent has
waited ``RECHECK_S`` seconds for a slot.
"""

from __future__ import annotations

import os
from pathlib import Path

from prefect.client.orchestration import get_client
from prefect.server.concurrency.lease_storage.filesystem import ConcurrencyLeaseStorage
from prefect.settings import PREFECT_API_URL, PREFECT_HOME
from prefect.utilities.asyncutils import run_coro_as_sync

LEASE_S = 60.0
"""Lease of a held slot, seconds (Prefect's minimum); renewed by Prefect every 45 s."""
RECHECK_S = 10.0
"""Seconds an agent waits for a slot before expired leases are given back and it asks again."""

_LEASE_STORAGE_VAR = "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE"
_FILESYSTEM = "prefect.server.concurrency.lease_storage.filesystem"


def keep_leases_on_disk() -> None:
    """Without ``PREFECT_API_URL`` (a run starts a temporary local server), make that server
    keep its leases on disk: sets ``PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE`` in this
    process's environment (unless the user set it), so call it before the first flow starts
    the server."""
    if not PREFECT_API_URL.value():
        os.environ.setdefault(_LEASE_STORAGE_VAR, _FILESYSTEM)


def release_expired_slots() -> int:
    """When the server's leases are on disk in this ``$PREFECT_HOME`` (``keep_leases_on_disk``
    or a test harness configured the same way), give back the slots of every expired lease;
    returns the number of leases released (0 otherwise: a server started by the user runs its
    own repossessor)."""
    if os.environ.get(_LEASE_STORAGE_VAR) != _FILESYSTEM:
        return 0
    storage = ConcurrencyLeaseStorage(Path(PREFECT_HOME.value()) / "concurrency_leases")
    expired = run_coro_as_sync(storage.read_expired_lease_ids())
    if not expired:
        return 0
    with get_client(sync_client=True) as client:
        for lease_id in expired:
            client.release_concurrency_slots_with_lease(lease_id)
    return len(expired)
