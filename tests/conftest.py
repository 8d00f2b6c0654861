"""Test session set-up: a private PREFECT_HOME and result storage (removed at the end), and one
Prefect test server for the whole session (started only by tests that ask for ``prefect_api``).
Commands the tests run without ``PREFECT_API_URL`` use Prefect's temporary server, as before
planflow had a local server (``PLANFLOW_EPHEMERAL``); tests of the local server
(``tests/test_local_server.py``) turn that off with a server folder and port of their own."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

_HOME = Path(tempfile.mkdtemp(prefix="planflow-tests-"))
atexit.register(shutil.rmtree, _HOME, True)
os.environ["PLANFLOW_EPHEMERAL"] = "1"
os.environ["PLANFLOW_SERVER_HOME"] = str(_HOME / "server")
os.environ["PREFECT_HOME"] = str(_HOME / "prefect")
os.environ["PLANFLOW_RESULTS_DIR"] = str(_HOME / "results")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# Leases on disk, as ``planflow run`` keeps them with a temporary server (``tasks.leases``): the
# test server has no repossessor, so slots of runs the crash tests kill come back this way.
os.environ["PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE"] = "prefect.server.concurrency.lease_storage.filesystem"
# The session server's agent limit: the crash tests' killed runs keep their slots until their
# leases expire (60 s), which must not starve the tests that follow them.
os.environ.setdefault("PLANFLOW_AGENT_LIMIT", "32")


@pytest.fixture(scope="session")
def prefect_api() -> str:
    """A session-wide ``prefect_test_harness``; yields its API URL for subprocesses."""
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=600):
        yield PREFECT_API_URL.value()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``slow`` run first, those of an ``xdist_group`` (one process runs them in
    turn) before the others (a stable sort: the order within a module is kept), so that a run
    in several processes (``make test``: pytest-xdist) does not end waiting for one process
    still busy with minutes of them."""
    items.sort(key=lambda item: (item.get_closest_marker("slow") is None,
                                 item.get_closest_marker("xdist_group") is None))
