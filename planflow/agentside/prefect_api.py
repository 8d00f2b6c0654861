"""The Prefect server calls of ``planflow mcp``: is a server there, can a deployment run now,
create a flow run, its UI URL, its state. Every call uses the sync client of the server in
``PREFECT_API_URL`` (the environment or the active Prefect profile)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

POOL = "planflow"
"""The work pool whose workers run planflow's deployments (``prefect.yaml``)."""


class PrefectUnreachable(RuntimeError):
    """``PREFECT_API_URL`` names a server that does not answer."""


def server_url() -> str | None:
    """The API URL of the Prefect server runs should use: ``PREFECT_API_URL``, else planflow's
    local server when it runs and answers (``planflow.server_local``; it then becomes this
    process's ``PREFECT_API_URL``), else None (a run then starts the local server itself).
    Raises PrefectUnreachable when the configured server does not answer its health check."""
    from prefect.settings import PREFECT_API_URL

    from planflow import server_local
    from planflow.prefect_env import use_server

    url = PREFECT_API_URL.value()
    if not url:
        record = server_local.running()
        if record is None or not server_local.answers(record.port):
            return None
        use_server(record.api_url)
        return record.api_url
    with client() as api:
        failure = api.api_healthcheck()
    if failure is not None:
        raise PrefectUnreachable(f"the Prefect server at {url} does not answer ({failure})"
                                 " (fix: start it, or unset PREFECT_API_URL)")
    return url


@contextmanager
def client() -> Iterator[Any]:
    """Prefect's sync client of the configured server."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as api:
        yield api


def ready_deployment(name: str) -> Any | None:
    """The deployment ``name`` (``flow/deployment``) when it exists, runs on the ``planflow``
    pool and that pool has a worker online; else None."""
    from prefect.client.schemas.objects import WorkerStatus
    from prefect.exceptions import ObjectNotFound

    with client() as api:
        try:
            deployment = api.read_deployment_by_name(name)
        except ObjectNotFound:
            return None
        if deployment.work_pool_name != POOL:
            return None
        workers = api.read_workers_for_work_pool(work_pool_name=POOL)
    return deployment if any(w.status == WorkerStatus.ONLINE for w in workers) else None


def run_deployment_now(deployment: Any, parameters: dict) -> Any:
    """A new flow run of ``deployment`` with ``parameters``, scheduled now; returns it without
    waiting (a worker picks it up)."""
    with client() as api:
        return api.create_flow_run_from_deployment(deployment.id, parameters=parameters)


def create_flow_run(flow: Any, parameters: dict) -> Any:
    """A new pending flow run of ``flow`` (no deployment) for a local process to run."""
    with client() as api:
        return api.create_flow_run(flow, parameters=parameters)


def ui_url(flow_run_id: str) -> str | None:
    """The flow run's page in the Prefect UI, or None when the server has no UI URL."""
    from prefect.utilities.urls import url_for

    return url_for("flow-run", obj_id=flow_run_id)


def flow_run_state(flow_run_id: str) -> tuple[str, bool]:
    """(state name, whether it is final) of the flow run."""
    with client() as api:
        state = api.read_flow_run(flow_run_id).state
    return (state.name, state.is_final()) if state else ("Unknown", False)


def set_cancel_state(flow_run_id: str, final: bool, message: str) -> None:
    """Move the flow run to ``Cancelling`` (a worker then stops its process), or with
    ``final`` to ``Cancelled`` (forced: the process is already gone)."""
    from prefect.states import Cancelled, Cancelling

    with client() as api:
        api.set_flow_run_state(flow_run_id, Cancelled(message=message) if final
                               else Cancelling(message=message), force=final)
