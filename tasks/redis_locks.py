"""``RenewedRedisLockManager``: Prefect's Redis cache lock with an expiry its holder renews.

Prefect acquires a cache lock with no hold timeout; ``prefect_redis``'s ``RedisLockManager``
then keeps it in Redis until it is released, so a holder killed with ``kill -9`` would block
the task's next run for good. Here each lock expires ``hold_s`` seconds after it was last
renewed, and a daemon thread of the holder renews it every third of that until release.
Imported by ``tasks.shared_cache`` only when ``prefect-redis`` is installed.
"""

from __future__ import annotations

import threading
from typing import Any

from prefect_redis.locking import RedisLockManager
from redis.exceptions import LockError, RedisError


class RenewedRedisLockManager(RedisLockManager):
    """A ``RedisLockManager`` on ``connection_url`` whose locks expire ``hold_s`` seconds
    (float) after their holder stops renewing them."""

    def __init__(self, connection_url: str, hold_s: float) -> None:
        super().__init__(connection_url=connection_url)
        self.hold_s = hold_s
        self._renewals: dict[str, threading.Event] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {**super().__getstate__(), "hold_s": self.hold_s}

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._renewals = {}

    def acquire_lock(self, key: str, holder: str, acquire_timeout: float | None = None,
                     hold_timeout: float | None = None) -> bool:
        """Acquire ``key``'s lock for ``holder`` (waiting at most ``acquire_timeout`` seconds,
        None: as long as it takes) with an expiry of ``hold_timeout`` or ``hold_s`` seconds,
        renewed until ``release_lock``. Returns True when acquired."""
        acquired = super().acquire_lock(key, holder, acquire_timeout, hold_timeout or self.hold_s)
        if acquired and key not in self._renewals:
            self._renewals[key] = stop = threading.Event()
            lock = self._locks[self._lock_name_for_key(key)]
            threading.Thread(target=_renew, args=(lock, stop, self.hold_s / 3), daemon=True,
                             name=f"planflow-lock-{key[:12]}").start()
        return acquired

    def release_lock(self, key: str, holder: str) -> None:
        """Stop renewing ``key``'s lock and release it (``RedisLockManager.release_lock``;
        raises ValueError when ``holder`` does not hold it)."""
        stop = self._renewals.pop(key, None)
        if stop is not None:
            stop.set()
        super().release_lock(key, holder)


def _renew(lock: Any, stop: threading.Event, every_s: float) -> None:
    """Reset ``lock``'s expiry every ``every_s`` seconds until ``stop`` is set or the lock is
    no longer ours (released, or expired while this process was stopped)."""
    while not stop.wait(every_s):
        try:
            lock.reacquire()
        except (LockError, RedisError):
            return
