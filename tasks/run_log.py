"""``run_logger``: where planflow's flows and tasks log, so that their lines land in the Logs
tab of the flow run (or task run) in the Prefect UI. Every record is redacted on its way
(``planning.redaction.install_log_redaction``, installed by ``tasks.defaults``)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from prefect import get_run_logger
from prefect.exceptions import MissingContextError

TAIL_LINES = 20
"""Lines of a failed agent's log repeated in the run's log."""


def run_logger() -> Any:
    """Prefect's logger of the current task run or flow run; outside any run (a flow's ``.fn``
    called directly), the stdlib logger ``planflow``."""
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger("planflow")


def log_tail(path: Path | None, lines: int = TAIL_LINES) -> str:
    """The last ``lines`` lines of the text file at ``path`` ("" when it is missing or None)."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace") if path else ""
    except OSError:
        return ""
    return "\n".join(text.rstrip("\n").splitlines()[-lines:])
