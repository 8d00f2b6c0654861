"""``cap_log``: an agent's log kept to a size limit, its head and tail kept, the cut said.

An agent (or a program it runs) can print hundreds of MB; the log keeps the first and the last
``max_log_bytes() / 2`` bytes (the start says what it was asked and did first, the end holds
the final result the adapters parse) and one line in between saying how much was cut.
"""

from __future__ import annotations

import os
from pathlib import Path

MAX_LOG_MB_VAR = "PLANFLOW_MAX_LOG_MB"
"""Environment variable: the largest agent log kept (MB, 10^6 bytes)."""

DEFAULT_MAX_LOG_MB = 20


def max_log_bytes() -> int:
    """``$PLANFLOW_MAX_LOG_MB`` (default 20) in bytes. Raises ValueError when it is not a
    positive integer."""
    value = os.environ.get(MAX_LOG_MB_VAR, str(DEFAULT_MAX_LOG_MB))
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{MAX_LOG_MB_VAR} must be a positive integer (MB), not {value!r}")
    return int(value) * 1_000_000


def cap_log(path: Path, limit: int | None = None) -> int:
    """Cut the middle of log file ``path`` when it is over ``limit`` bytes (default
    ``max_log_bytes()``), in place: the first and last ``limit // 2`` bytes stay, joined by a
    line ``[planflow: N bytes cut from the middle of this log (limit: $PLANFLOW_MAX_LOG_MB)]``.
    Returns the number of bytes cut (0 when none). Raises ``OSError``."""
    limit = max_log_bytes() if limit is None else limit
    size = path.stat().st_size
    if size <= limit:
        return 0
    half = limit // 2
    with path.open("r+b") as log:
        log.seek(size - half)
        tail = log.read(half)
        cut = size - 2 * half
        note = (f"\n[planflow: {cut} bytes cut from the middle of this log (limit:"
                f" {limit / 1e6:g} MB, ${MAX_LOG_MB_VAR})]\n").encode()
        log.seek(half)
        log.write(note + tail)
        log.truncate()
    return cut
