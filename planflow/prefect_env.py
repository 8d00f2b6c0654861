"""The environment of a command that runs flows, set before Prefect is imported."""

from __future__ import annotations

import os


def prepare_prefect(verbose: bool) -> None:
    """Turn off the temporary server's analytics, show Prefect's logs only when ``verbose``
    (``PREFECT_LOGGING_LEVEL``; a value the user set wins) and, without ``PREFECT_API_URL``,
    keep concurrency leases on disk (``tasks.leases``) so a killed run's slots come back.
    Imports Prefect: call it first thing in a command that runs a flow."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO" if verbose else "CRITICAL")
    from tasks.leases import keep_leases_on_disk

    keep_leases_on_disk()
