"""The cache shared by workers on several machines: result storage and cache locks in Redis.

With ``$PLANFLOW_REDIS_URL`` set (``redis://host:port/db``, the same on every worker and on
the machine of the parent flow), task results (the cache records) and the results of
``run-task`` flow runs are written to Redis through Prefect's ``RedisStorageContainer``
block, so every worker finds every finished task and the parent reads its children's
results; and the cache's transactions are ``SERIALIZABLE`` with a ``RedisLockManager``
(``prefect-redis``, the ``topology`` extra), so two workers handed the same task at once
run its agent once. Unset, nothing changes: results are files (``tasks.defaults``).

Prefect takes a cache lock with no expiry, so the lock of a worker killed with ``kill -9``
would block the task's next run forever. ``tasks.redis_locks.RenewedRedisLockManager`` gives each lock an
expiry of ``$PLANFLOW_LOCK_HOLD_S`` seconds (default 60) that a thread of the holder renews
every third of it while the holder lives: a dead holder's lock expires within that time.
"""

from __future__ import annotations

import os
from typing import Any

from prefect.blocks.redis import RedisStorageContainer

REDIS_URL_VAR = "PLANFLOW_REDIS_URL"
LOCK_HOLD_VAR = "PLANFLOW_LOCK_HOLD_S"
DEFAULT_LOCK_HOLD_S = 60.0
"""Seconds a cache lock outlives its holder (the holder renews it every third of this)."""


def redis_url() -> str | None:
    """``$PLANFLOW_REDIS_URL``, or None when the cache is not shared through Redis."""
    return os.environ.get(REDIS_URL_VAR) or None


def lock_hold_s() -> float:
    """``$PLANFLOW_LOCK_HOLD_S`` in seconds (default 60). Raises ValueError when it is not a
    positive number."""
    value = os.environ.get(LOCK_HOLD_VAR, str(DEFAULT_LOCK_HOLD_S))
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if seconds <= 0:
        raise ValueError(f"{LOCK_HOLD_VAR} must be a positive number of seconds, not {value!r}")
    return seconds


def shared_result_storage() -> RedisStorageContainer | None:
    """The Redis result storage of ``$PLANFLOW_REDIS_URL`` (an unsaved block: nothing is
    registered on the server), or None when the variable is unset."""
    url = redis_url()
    return RedisStorageContainer(connection_string=url) if url else None


def shared_lock_manager() -> Any | None:
    """A ``RenewedRedisLockManager`` on ``$PLANFLOW_REDIS_URL``, or None when it is unset.
    Raises ImportError naming the extra when ``prefect-redis`` is not installed."""
    url = redis_url()
    if not url:
        return None
    try:
        from tasks.redis_locks import RenewedRedisLockManager
    except ImportError as missing:
        raise ImportError(f"{REDIS_URL_VAR} is set but prefect-redis is not installed: "
                          "pip install 'planflow[topology]'") from missing
    return RenewedRedisLockManager(url, lock_hold_s())
