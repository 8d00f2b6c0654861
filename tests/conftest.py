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


ONE_PROCESS = ("tests/test_deploy.py", "tests/test_topology.py")
"""Modules whose tests share a module-scoped server (``served``, ``topology``): one process of
a parallel run (``make test``: pytest-xdist) runs all of a module's tests."""


def _one_process(nodeid: str) -> bool:
    return nodeid.split("::", 1)[0] in ONE_PROCESS


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``slow`` run first, those of ``ONE_PROCESS`` before the others (a stable
    sort: the order within a module is kept), so that a run in several processes does not end
    waiting for one process still busy with minutes of them."""
    items.sort(key=lambda item: (item.get_closest_marker("slow") is None,
                                 not _one_process(item.nodeid)))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """With ``--dist loadgroup``: xdist's scheduler, each test a unit of its own except the
    modules of ``ONE_PROCESS``, one unit each. (xdist's own ``xdist_group`` marks group nothing
    under pytest 9.2, whose node ids no longer take the group suffix xdist adds.)"""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class ModuleGroups(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return nodeid.split("::", 1)[0] if _one_process(nodeid) else super()._split_scope(nodeid)

    return ModuleGroups(config, log)
