"""The environment of a command that runs flows, set before Prefect is imported."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from uuid import UUID

from pydantic import BaseModel

from flows.parameters import flow_arguments

if TYPE_CHECKING:
    from prefect.states import State


EXIT_PREFECT = 3
"""The exit code of a command whose Prefect server could not be started or reached."""

EPHEMERAL_VAR = "PLANFLOW_EPHEMERAL"
"""Set to 1: the command's flows use Prefect's temporary server (as ``--ephemeral``)."""


class PrefectStartError(RuntimeError):
    """Prefect's server could not be started or reached; the message says what failed and
    what to do (the CLI prints it as one line and exits with ``EXIT_PREFECT``)."""


def prepare_prefect(verbose: bool, ephemeral: bool = False,
                    say: Callable[[str], object] = print) -> str | None:
    """Set up the Prefect server of a command that runs flows and return its API URL (None for
    a temporary one). Turns off analytics, sends the runs' logs (INFO and up) to the Prefect API
    but shows them on the console only when ``verbose`` (``PREFECT_LOGGING_LEVEL``,
    ``PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL``; values the user set win) and guards this process's children
    (``planflow.server_guard``). Then: with ``PREFECT_API_URL`` set (environment or Prefect
    profile), checks that it answers; else, unless ``ephemeral`` (or ``$PLANFLOW_EPHEMERAL`` is
    1), reuses or starts the local server (``planflow.server_local``; ``say`` gets its start
    line) and points ``PREFECT_API_URL`` at it; else starts Prefect's temporary server now,
    waiting ``$PLANFLOW_SERVER_TIMEOUT`` seconds (its leases on disk: ``tasks.leases``).
    Raises PrefectStartError when the server cannot be started or reached. Imports Prefect:
    call it first thing in a command that runs a flow."""
    from planflow import server_local
    from planflow.server_guard import guard_children

    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")
    if not verbose:
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    try:
        limit = server_local.timeout_s()
        os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", str(int(limit)))
        guard_children()
        from prefect.settings import PREFECT_API_URL

        url = PREFECT_API_URL.value()
        if url:
            return _check(url)
        if not (ephemeral or os.environ.get(EPHEMERAL_VAR) == "1"):
            url = server_local.ensure(say).api_url
            use_server(url)
            return url
    except server_local.ServerError as exc:
        raise PrefectStartError(str(exc)) from None
    except OSError as exc:
        raise PrefectStartError(f"cannot start Prefect ({exc})") from None
    from tasks.leases import keep_leases_on_disk

    keep_leases_on_disk()
    _check(None)
    return None


def use_server(url: str) -> None:
    """Make ``url`` this process's (and its children's) ``PREFECT_API_URL``, also for the
    Prefect settings already loaded."""
    from prefect.context import refresh_global_settings_context

    os.environ["PREFECT_API_URL"] = url
    refresh_global_settings_context()


def _check(url: str | None) -> str | None:
    """``url`` when the server there answers (None: start the temporary server and wait for
    it); raises PrefectStartError when it does not."""
    from prefect.client.orchestration import get_client

    where = f"the Prefect server at {url}" if url else "Prefect's temporary server"
    fix = ("start it, or unset PREFECT_API_URL" if url else
           "set PLANFLOW_SERVER_TIMEOUT to more seconds on a loaded machine, or drop --ephemeral")
    try:
        with get_client(sync_client=True) as client:
            failure = client.api_healthcheck()
    except Exception as exc:  # Prefect raises RuntimeError, httpx errors, OSError...
        failure = exc
    if failure is not None:
        raise PrefectStartError(f"{where} does not answer ({_first_line(failure)}) (fix: {fix})")
    return url


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


FLOW_RUN_VAR = "PLANFLOW_FLOW_RUN_ID"
"""Names a flow run created beforehand (by ``planflow mcp``, which so knows the run's UI URL
before the run starts) that a command runs instead of creating its own."""


def run_flow_state(flow: Any, params: BaseModel, say: Callable[[str], object] | None = None) -> State:
    """Run ``flow(params)`` to its final state and return the ``State``. With
    ``$PLANFLOW_FLOW_RUN_ID`` set (and removed from the environment here), the run is that
    existing flow run of the Prefect server in ``PREFECT_API_URL``. Else, with a server there
    and ``say``, the flow run is created first and ``say`` gets its UI URL. Raises Prefect's
    ``ObjectNotFound`` when the server has no such flow run, ValueError for an id that is no UUID."""
    from prefect.client.orchestration import get_client
    from prefect.flow_engine import run_flow
    from prefect.settings import PREFECT_API_URL

    flow_run_id = os.environ.pop(FLOW_RUN_VAR, None)
    if not flow_run_id and not (say and PREFECT_API_URL.value()):
        return flow(**flow_arguments(params), return_state=True)
    with get_client(sync_client=True) as client:
        if flow_run_id:
            flow_run = client.read_flow_run(UUID(flow_run_id))
        else:
            from prefect.utilities.urls import url_for

            flow_run = client.create_flow_run(flow, parameters=params.model_dump(mode="json"))
            url = url_for("flow-run", obj_id=flow_run.id)
            say(f"planflow: flow run {url or flow_run.id}")  # its name comes when it starts
    return run_flow(flow, flow_run=flow_run, parameters=flow_arguments(params), return_type="state")
