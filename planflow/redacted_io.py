"""What the command line prints is redacted: ``redacted_streams`` wraps stdout and stderr for
the duration of a command, so every message, JSON document and error passes through
``planning.redaction.redact``."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from planning.redaction import redact


class RedactingWriter(io.TextIOBase):
    """A text stream that writes to ``target`` what it is given, redacted (one ``write`` at a
    time: a secret is found when one call holds it whole, as every print of planflow does)."""

    def __init__(self, target: TextIO) -> None:
        self.target = target

    def write(self, text: str) -> int:
        self.target.write(redact(text))
        return len(text)

    def flush(self) -> None:
        self.target.flush()

    def isatty(self) -> bool:
        return self.target.isatty()

    def fileno(self) -> int:
        return self.target.fileno()

    @property
    def encoding(self) -> str:
        return getattr(self.target, "encoding", "utf-8")


@contextmanager
def redacted_streams(stdout: bool = True) -> Iterator[None]:
    """Redact ``sys.stderr``, and ``sys.stdout`` unless ``stdout`` is false (a protocol on
    stdout, such as MCP's, needs the raw stream), inside the ``with`` block."""
    saved = sys.stdout, sys.stderr
    sys.stderr = RedactingWriter(saved[1])
    if stdout:
        sys.stdout = RedactingWriter(saved[0])
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
