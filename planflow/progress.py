"""The one-line progress display: polls a run's status file and redraws
``Phase 2: 2.1 * 2.2 + 2.3 o`` on stderr while the run moves."""

from __future__ import annotations

import threading
from pathlib import Path

from rich.console import Console

from planning.status import read_status


class ProgressDisplay:
    """Context manager: a background thread that reads ``status_path`` every ``interval_s``
    seconds and shows the progress line (redrawn in place on a terminal, one printed line per
    change otherwise). The final line is printed on exit."""

    def __init__(self, status_path: Path, console: Console, interval_s: float = 0.25) -> None:
        self.status_path = status_path
        self.console = console
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="planflow-progress", daemon=True)
        self._last = ""

    def __enter__(self) -> ProgressDisplay:
        self._started = self.status_path.stat().st_mtime if self.status_path.exists() else None
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self._show(final=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._show(final=False)

    def _line(self) -> str:
        try:
            if self.status_path.stat().st_mtime == self._started:
                return ""
            return read_status(self.status_path).progress_line()
        except (OSError, ValueError):
            return ""

    def _show(self, final: bool) -> None:
        line = self._line()
        if not line or (line == self._last and not final):
            return
        if self.console.is_terminal:
            end = "\n" if final else ""
            self.console.file.write("\r\x1b[2K" + line + end)
            self.console.file.flush()
        elif line != self._last:
            self.console.print(line)
        self._last = line
