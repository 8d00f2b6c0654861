"""Agents across all runs share one global concurrency limit, ``planflow-agents``.

Every agent run holds one slot (``agent_slot``, strict: a missing limit is an error, not a
warning), so nightly runs of several plans never start more agents than the limit, whatever
their ``--max-parallel``. ``scripts/deploy.sh`` creates the limit on a server
(``PLANFLOW_AGENT_LIMIT``, default 4); ``ensure_agent_limit`` creates it with that default where
it is missing (ephemeral mode, tests). Per agent kind, a tag limit (``prefect concurrency-limit
create agent:claude 2``) caps one kind: task runs of that kind are then tagged ``agent:{name}``
(``agent_tags``); without a limit they carry no tag, since Prefect takes a lease-based slot
over the API for every tag of a task run, limit or not.

Slots are taken through a ``SlotPool``: a slot an agent gives back is lent to this process's
next agent for ``SLOT_LINGER_S`` seconds before it goes back to the server, which saves two
API round trips per task (seconds each while the server's database is busy); kept slots go
back at the end of the run (``agent_limit``). Before a wave starts, its slots are taken one
after another (``reserve_agent_slots``): asked for at once while the wave's task runs are
written, a local server's SQLite refuses some as busy and Prefect's client retries after 2 s.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

from tasks.leases import release_expired_slots
from tasks.slot_pool import SlotPool

AGENT_LIMIT = "planflow-agents"
SLOT_LINGER_S = 2.0
"""Seconds a slot an agent gave back stays with this process for its next agent."""

_pool = SlotPool(AGENT_LIMIT, SLOT_LINGER_S)


def default_agent_slots() -> int:
    """``$PLANFLOW_AGENT_LIMIT`` (default 4): slots of a limit planflow creates itself.
    Raises ValueError when the variable is not a positive integer."""
    value = os.environ.get("PLANFLOW_AGENT_LIMIT", "4")
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"PLANFLOW_AGENT_LIMIT must be a positive integer, not {value!r}")
    return int(value)


def ensure_agent_limit() -> None:
    """Create the ``planflow-agents`` global concurrency limit when the server has none;
    an existing limit (set by the operator, or by another run starting at the same moment) is
    left as it is. Slots a killed run left taken
    on a temporary local server go back first (``tasks.leases``)."""
    release_expired_slots()
    ensure_global_limit(AGENT_LIMIT, default_agent_slots())


def ensure_global_limit(name: str, limit: int) -> None:
    """Create the global concurrency limit ``name`` with ``limit`` slots when the server has
    none; an existing one (also one that another run created between this read and this create)
    is left as it is."""
    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            try:
                client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=limit))
            except ObjectAlreadyExists:  # another run created it just now
                pass


@contextmanager
def agent_limit() -> Iterator[None]:
    """Around a run: ``ensure_agent_limit`` first, and on the way out (also on an error) give
    the slots this process keeps idle back to the server, while the server is still there."""
    ensure_agent_limit()
    try:
        yield
    finally:
        _pool.release_all()


@contextmanager
def agent_slot() -> Iterator[None]:
    """Hold one slot of ``planflow-agents`` while an agent runs (waits while all are taken).
    Raises ``ConcurrencySlotAcquisitionError`` when the limit does not exist."""
    with _pool.slot():
        yield


def reserve_agent_slots(count: int) -> int:
    """Take slots of ``planflow-agents`` now, before a wave of agents asks for them at once,
    until this process keeps ``count`` (``SlotPool.reserve``: without waiting, a slot unused
    for ``SLOT_LINGER_S`` goes back). Returns how many were taken."""
    return _pool.reserve(count)


def agent_tags(agent: str) -> set[str]:
    """The tags of a task run whose agent is ``agent``: ``{"agent:{agent}"}`` when the server
    has a tag concurrency limit for that tag, else none (one API call; ask once per run)."""
    tag = f"agent:{agent}"
    with get_client(sync_client=True) as client:
        try:
            client.read_concurrency_limit_by_tag(tag)
        except ObjectNotFound:
            return set()
    return {tag}
