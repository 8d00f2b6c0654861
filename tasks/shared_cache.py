"""The cache shared by workers on several machines: result storage every worker reaches and
cache locks in Redis.

``$PLANFLOW_RESULT_STORAGE`` names a saved Prefect storage block (``TYPE/NAME``, e.g.
``redisstoragecontainer/planflow-results``; any writable file system block, such as S3 or
GCS from their integrations, works): task results (the cache records) and the results of
``run-task`` flow runs are written there, so every worker finds every finished task and the
parent reads its children's results. ``save_redis_storage`` saves such a block for Prefect's
own ``RedisStorageContainer``. With ``$PLANFLOW_REDIS_URL`` (``redis://host:port/db``) the
cache's transactions are ``SERIALIZABLE`` with a lock in Redis (``prefect-redis``, the
``topology`` extra): two workers handed the same task at once run its agent once. Both unset,
nothing changes: results are files (``tasks.defaults``) and there is no lock.

Prefect takes a cache lock with no expiry, so the lock of a worker killed with ``kill -9``
would block the task's next run forever. ``tasks.redis_locks.RenewedRedisLockManager`` gives
each lock an expiry of ``$PLANFLOW_LOCK_HOLD_S`` seconds (default 60) that a thread of the
holder renews every third of it while the holder lives: a dead holder's lock expires within
that time.
"""

from __future__ import annotations

import os
from typing import Any

from prefect.blocks.redis import RedisStorageContainer

REDIS_URL_VAR = "PLANFLOW_REDIS_URL"
RESULT_STORAGE_VAR = "PLANFLOW_RESULT_STORAGE"
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


def shared_result_storage() -> str | None:
    """``$PLANFLOW_RESULT_STORAGE``, the slug of a saved storage block, or None when unset."""
    return os.environ.get(RESULT_STORAGE_VAR) or None


def save_redis_storage(url: str, name: str = "planflow-results") -> str:
    """Save a ``RedisStorageContainer`` block on ``url`` named ``name`` on the server of
    ``PREFECT_API_URL`` (replacing one of that name); returns its slug for
    ``$PLANFLOW_RESULT_STORAGE``. Raises what Prefect's client raises when the server cannot
    be reached."""
    RedisStorageContainer(connection_string=url).save(name, overwrite=True)
    return f"{RedisStorageContainer.get_block_type_slug()}/{name}"


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
