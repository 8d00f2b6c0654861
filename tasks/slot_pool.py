"""``SlotPool``: slots of one Prefect global concurrency limit, held by this process and lent
to its threads one after another.

Taking a slot from the server costs an API round trip to acquire it and one to release it,
and while the server's database is busy (SQLite, many task runs) either can take seconds. A
run's tasks follow each other closely, so a slot an agent gives back is kept for
``linger_s`` seconds: the next agent of this process takes it without asking the server. A
slot unused for that long goes back to the server; ``release_all`` gives every idle slot back
at once (the end of a run). The limit still holds: a kept slot counts as taken for every other
process, which waits at most ``linger_s`` longer for it.

Each held slot is a holder thread inside Prefect's ``concurrency()`` context (so the lease is
renewed by Prefect as usual), started in an empty ``contextvars`` context so that no task
run's concurrency context adopts (and releases) the lease when that task run ends. A holder
that waited ``RECHECK_S`` seconds for a slot has the slots of dead runs' expired leases given
back (``tasks.leases``) and asks again.

``reserve`` takes slots ahead of the agents that will need them (a wave about to start), one
request at a time and without waiting: when several agents of a wave ask at once while their
task runs are being written, a local server's SQLite refuses some requests as busy, Prefect
answers 503 and its client retries after 2 s (``2 ** attempt`` seconds, not configurable),
which every agent of the wave then waits (measured: the first 4 tasks of an 8-task parallel
phase 2.0 to 2.6 s each instead of 0.2 to 0.4 s).
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from prefect.concurrency.sync import concurrency
from prefect.concurrency.asyncio import ConcurrencySlotAcquisitionError

from tasks.leases import LEASE_S, RECHECK_S, release_expired_slots


class _Holder:
    """One slot, held by a daemon thread until it has been idle for ``linger_s`` or is closed;
    with ``wait`` False, ``acquire`` gives up at once when the limit is full."""

    def __init__(self, limit: str, linger_s: float, wait: bool = True) -> None:
        self._limit, self._linger_s, self._wait = limit, linger_s, wait
        self._cond = threading.Condition()
        self._state = "acquiring"  # -> busy -> idle <-> busy -> closed
        self._idle_since = 0.0
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=contextvars.Context().run, args=(self._hold,),
                                        name=f"slot-{limit}", daemon=True)

    def acquire(self) -> None:
        """Start the thread and wait until it holds the slot; re-raises its error (e.g.
        ``ConcurrencySlotAcquisitionError`` when the limit does not exist)."""
        self._thread.start()
        with self._cond:
            self._cond.wait_for(lambda: self._state != "acquiring")
        if self._error is not None:
            raise self._error

    def alive(self) -> bool:
        """True while the slot is being acquired, held or kept idle (not yet going back)."""
        with self._cond:
            return self._state not in ("closing", "closed")

    def claim(self) -> bool:
        """Take the idle slot for a new agent; False when it is already going back."""
        with self._cond:
            if self._state != "idle":
                return False
            self._state = "busy"
            return True

    def give_back(self) -> None:
        """Mark the slot idle; it goes back to the server after ``linger_s`` unless claimed."""
        with self._cond:
            self._state, self._idle_since = "idle", time.monotonic()
            self._cond.notify_all()

    def close(self, timeout_s: float) -> None:
        """Give an idle slot back to the server now and wait up to ``timeout_s`` seconds."""
        with self._cond:
            if self._state == "idle":
                self._state = "closing"
                self._cond.notify_all()
        self._thread.join(timeout_s)

    def _hold(self) -> None:
        try:
            while True:
                try:
                    with concurrency(self._limit, occupy=1, strict=True,
                                     timeout_seconds=RECHECK_S, lease_duration=LEASE_S,
                                     max_retries=None if self._wait else 0):
                        self._serve()
                    return
                except TimeoutError:  # every slot taken for RECHECK_S: some may be a dead run's
                    release_expired_slots()
        except BaseException as error:  # handed to the thread waiting in acquire()
            with self._cond:
                self._error, self._state = error, "closed"
                self._cond.notify_all()

    def _serve(self) -> None:
        """Lend the acquired slot until it has been idle for ``linger_s`` or is closed."""
        with self._cond:
            self._state = "busy"
            self._cond.notify_all()
            while not self._expired():
                self._cond.wait(self._linger_s)
            self._state = "closed"

    def _expired(self) -> bool:
        if self._state == "closing":
            return True
        return self._state == "idle" and time.monotonic() - self._idle_since >= self._linger_s


class SlotPool:
    """Slots of the global concurrency limit ``limit`` for this process's threads.

    ``slot()`` holds one for a ``with`` block (waits while the limit is full); a returned
    slot is lent to the next caller for ``linger_s`` seconds before it goes back to the server.
    """

    def __init__(self, limit: str, linger_s: float) -> None:
        self.limit, self.linger_s = limit, linger_s
        self._lock = threading.Lock()
        self._idle: list[_Holder] = []
        self._holders: list[_Holder] = []  # every slot taken and not yet given back

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one slot for the block. Raises what Prefect's ``concurrency()`` raises (e.g.
        ``ConcurrencySlotAcquisitionError`` when the limit does not exist)."""
        holder = self._take()
        try:
            yield
        finally:
            holder.give_back()
            with self._lock:
                self._idle.append(holder)

    def reserve(self, count: int) -> int:
        """Take slots from the server now, one request after another, until this process keeps
        ``count`` (lent or idle; they are lent like any returned slot and go back after
        ``linger_s`` unused). Stops at the first slot the server does not give at once (the
        limit is full, or missing: ``slot`` then waits or raises as usual). Returns how many
        were taken."""
        with self._lock:
            missing = count - len(self._live())
        taken = 0
        for _ in range(missing):
            holder = _Holder(self.limit, self.linger_s, wait=False)
            try:
                holder.acquire()
            except ConcurrencySlotAcquisitionError:
                break
            holder.give_back()
            with self._lock:
                self._holders.append(holder)
                self._idle.append(holder)
            taken += 1
        return taken

    def release_all(self, timeout_s: float = 10.0) -> None:
        """Give every idle slot back to the server now (waits up to ``timeout_s`` seconds each)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for holder in idle:
            holder.close(timeout_s)

    def _take(self) -> _Holder:
        with self._lock:
            while self._idle:
                holder = self._idle.pop()
                if holder.claim():
                    return holder
        holder = _Holder(self.limit, self.linger_s)
        holder.acquire()
        with self._lock:
            self._live().append(holder)
        return holder

    def _live(self) -> list[_Holder]:
        """The slots this process keeps (lent or idle), the ones gone back dropped; call with
        ``_lock`` held."""
        self._holders = [holder for holder in self._holders if holder.alive()]
        return self._holders
