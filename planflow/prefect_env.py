"""The environment of a command that runs flows, set before Prefect is imported."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any
from uuid import UUID

from pydantic import BaseModel

from flows.parameters import flow_arguments

if TYPE_CHECKING:
    from prefect.states import State


def prepare_prefect(verbose: bool) -> None:
    """Turn off the temporary server's analytics, send the runs' logs (INFO and up) to the
    Prefect API but show them on the console only when ``verbose``
    (``PREFECT_LOGGING_LEVEL``, ``PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL``; values the user set
    win) and, without ``PREFECT_API_URL``,
    keep concurrency leases on disk (``tasks.leases``) so a killed run's slots come back.
    Imports Prefect: call it first thing in a command that runs a flow."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")
    if not verbose:
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    from tasks.leases import keep_leases_on_disk

    keep_leases_on_disk()


FLOW_RUN_VAR = "PLANFLOW_FLOW_RUN_ID"
"""Names a flow run created beforehand (by ``planflow mcp``, which so knows the run's UI URL
before the run starts) that a command runs instead of creating its own."""


def run_flow_state(flow: Any, params: BaseModel) -> State:
    """Run ``flow(params)`` to its final state and return the ``State``. With
    ``$PLANFLOW_FLOW_RUN_ID`` set (and removed from the environment here), the run is that
    existing flow run of the Prefect server in ``PREFECT_API_URL``. Raises Prefect's
    ``ObjectNotFound`` when the server has no such flow run, ValueError for an id that is no UUID."""
    flow_run_id = os.environ.pop(FLOW_RUN_VAR, None)
    if not flow_run_id:
        return flow(**flow_arguments(params), return_state=True)
    from prefect.client.orchestration import get_client
    from prefect.flow_engine import run_flow

    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(UUID(flow_run_id))
    return run_flow(flow, flow_run=flow_run, parameters=flow_arguments(params), return_type="state")
