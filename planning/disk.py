"""Writing planflow's own files, and a full disk said plainly.

``write_text`` is how planflow writes its state (status, records, context, feedback): the text
is redacted (``planning.redaction``), written to a temporary file and moved into place, so a
reader or a crash never sees half a file; a full disk (``ENOSPC``, or a quota: ``EDQUOT``)
raises ``DiskFull``, which names the disk, what it has free and what planflow needs there.
``disk_full`` turns any error that says the disk is full (an ``OSError``, git's "No space left
on device", the same in an exception's causes) into a ``DiskFull``.
"""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

from planning.redaction import redact

FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
FULL_TEXTS = ("No space left on device", "Disk quota exceeded")
MIN_FREE_VAR = "PLANFLOW_MIN_FREE_MB"
"""Environment variable: free space (MB, 10^6 bytes) planflow wants beyond a run's worktrees."""

DEFAULT_MIN_FREE_MB = 64


class DiskFull(OSError):
    """The disk holding ``path`` is full: ``device`` mounted on ``mount`` has ``free`` bytes
    available to planflow, and planflow needs at least ``needed`` bytes there. An ``OSError``
    with ``errno.ENOSPC``, so code that handles OSError still does."""

    def __init__(self, path: Path, needed: int, doing: str = "") -> None:
        self.path, self.needed = Path(path), needed
        self.device, self.mount = disk_of(self.path)
        self.free = free_bytes(self.path)
        what = f" while {doing}" if doing else ""
        message = (f"the disk is full{what}: {self.device} (mounted on {self.mount}, holding"
                   f" {self.path}) has {human(self.free)} free; planflow needs at least"
                   f" {human(self.needed)} there. Free space on it, then run the same command"
                   " again: finished work is kept and resumes")
        super().__init__(errno.ENOSPC, message)

    def __str__(self) -> str:
        return str(self.strerror)

    def __reduce__(self):
        return (_rebuild, (self.path, self.needed, self.strerror))


def _rebuild(path: Path, needed: int, message: str) -> DiskFull:
    """Unpickle a ``DiskFull`` without looking at the disk again."""
    error = DiskFull.__new__(DiskFull)
    OSError.__init__(error, errno.ENOSPC, message)
    error.path, error.needed = path, needed
    error.device = error.mount = ""
    error.free = 0
    return error


def human(size: int) -> str:
    """``size`` bytes as ``12.3 MB`` (10^6), ``1.2 GB``, ``512 bytes``."""
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"


def min_free_bytes() -> int:
    """``$PLANFLOW_MIN_FREE_MB`` (default 64) in bytes. Raises ValueError when it is not a
    non-negative integer."""
    value = os.environ.get(MIN_FREE_VAR, str(DEFAULT_MIN_FREE_MB))
    if not value.isdigit():
        raise ValueError(f"{MIN_FREE_VAR} must be a whole number of MB, not {value!r}")
    return int(value) * 1_000_000


def free_bytes(path: Path) -> int:
    """Bytes available to an unprivileged writer on the disk holding ``path`` (its nearest
    existing parent); 0 when that cannot be read."""
    path = _existing(Path(path))
    try:
        stat = os.statvfs(path)
    except OSError:
        return 0
    return stat.f_bavail * stat.f_frsize


def disk_of(path: Path) -> tuple[str, str]:
    """(device, mount point) of the file system holding ``path``, from ``/proc/self/mountinfo``
    (the longest mount point above it); ("unknown device", "/") when that cannot be read."""
    target = str(_existing(Path(path)).resolve())
    best = ("unknown device", "/")
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return best
    length = -1
    for line in lines:
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 2:
            continue
        mount = fields[4].replace("\\040", " ")
        inside = target == mount or target.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) >= length:
            best, length = (f"{tail[1]} ({tail[0]})", mount), len(mount)
    return best


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def says_disk_full(error: BaseException | None) -> bool:
    """True when ``error``, or an exception it was raised from or during, says the disk is full
    (errno ``ENOSPC``/``EDQUOT``, or git's message)."""
    seen = 0
    while error is not None and seen < 10:
        if isinstance(error, OSError) and error.errno in FULL_ERRNOS:
            return True
        if any(text in str(error) for text in FULL_TEXTS):
            return True
        error, seen = error.__cause__ or error.__context__, seen + 1
    return False


def disk_full(error: BaseException, path: Path, doing: str = "") -> DiskFull | None:
    """``error`` as a ``DiskFull`` for the disk holding ``path`` when it says the disk is full
    (it is returned as it is when it already is one), else None."""
    if isinstance(error, DiskFull):
        return error
    if not says_disk_full(error):
        return None
    return DiskFull(path, min_free_bytes(), doing)


def write_text(path: Path, text: str) -> None:
    """Write ``text``, redacted, to ``path`` (parents created) through a temporary file moved
    into place. Raises ``DiskFull`` when the disk is full (the temporary file is removed),
    ``OSError`` otherwise."""
    path = Path(path)
    data = redact(text).encode("utf-8")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        if error.errno in FULL_ERRNOS:
            raise DiskFull(path, len(data) + min_free_bytes(), f"writing {path.name}") from error
        raise


def require_free(paths: list[Path], needed: int, doing: str) -> None:
    """Raise ``DiskFull`` when a disk holding one of ``paths`` has less than ``needed`` bytes
    free (each disk counted once)."""
    seen = set()
    for path in paths:
        device = disk_of(path)
        if device in seen:
            continue
        seen.add(device)
        if free_bytes(path) < needed:
            raise DiskFull(path, needed, doing)


class DiskReserve:
    """``RESERVE_BYTES`` of zeros in file ``path``, written when created and deleted by
    ``release`` (idempotent): room to record how a run ended when the disk fills up."""

    RESERVE_BYTES = 1 << 20

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "wb") as handle:
                handle.write(b"\0" * self.RESERVE_BYTES)
        except OSError as error:
            self.release()
            if error.errno in FULL_ERRNOS:
                raise DiskFull(self.path, self.RESERVE_BYTES + min_free_bytes(),
                               "reserving room for the run's status") from error
            raise

    def release(self) -> None:
        """Delete the reserve, freeing its space."""
        self.path.unlink(missing_ok=True)
