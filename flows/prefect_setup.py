"""What planflow sets up on a Prefect server once its deployments exist (``scripts/deploy.sh``
runs ``python -m flows.prefect_setup``; ``planflow server`` can call ``configure_server``).

- The rules between parameters (``flows.parameters.parameter_rules``) added to each
  deployment's parameter schema, so that the server rejects a bad combination when a flow run
  is created, not after a worker has cloned the source.
- The automation that marks a flow run Crashed when its heartbeats stop (its process or
  machine died), as Prefect documents it ("How to detect and respond to zombie flows"): flow
  runs send a ``prefect.flow-run.heartbeat`` event every ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY``
  seconds (default 180, at least 30; on by default); no heartbeat nor final state within
  ``$PLANFLOW_HEARTBEAT_GRACE_S`` seconds (default 3 heartbeats) after one: Crashed.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from pydantic import BaseModel

from flows.context import ExecuteParams
from flows.parameters import parameter_rules

RULED_DEPLOYMENTS: dict[str, type[BaseModel]] = {"execute-plan/execute-plan": ExecuteParams}
"""Deployments (``flow/deployment``) whose parameter model has rules between fields."""


HEARTBEAT_AUTOMATION = "planflow: crash flow runs without heartbeats"
"""The name of the heartbeat automation (replaced when set up again)."""


def configure_server(client: Any) -> list[str]:
    """Set planflow's server-side configuration through ``client`` (a sync ``PrefectClient``);
    returns one line per thing done. Safe to run again. Raises Prefect's ``ObjectNotFound``
    when a deployment of ``RULED_DEPLOYMENTS`` does not exist (deploy first)."""
    return add_parameter_rules(client) + add_heartbeat_automation(client)


def heartbeat_grace_s() -> float:
    """Seconds without a heartbeat after which a running flow run is Crashed:
    ``$PLANFLOW_HEARTBEAT_GRACE_S``, default three heartbeat intervals. Raises ValueError for a
    value that is no number."""
    from prefect.settings import get_current_settings

    frequency = get_current_settings().flows.heartbeat_frequency or 180
    return float(os.environ.get("PLANFLOW_HEARTBEAT_GRACE_S", 3 * frequency))


def add_heartbeat_automation(client: Any) -> list[str]:
    """(Re)create ``HEARTBEAT_AUTOMATION``: after a flow run's heartbeat, expect another
    heartbeat or a final state within ``heartbeat_grace_s()``; else change the run to Crashed."""
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification

    for old in client.read_automations_by_name(HEARTBEAT_AUTOMATION):
        client.delete_automation(old.id)
    grace = heartbeat_grace_s()
    client.create_automation(AutomationCore(
        name=HEARTBEAT_AUTOMATION,
        description="Marks a flow run Crashed when its process stops sending heartbeats.",
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect={"prefect.flow-run.heartbeat", "prefect.flow-run.Completed",
                    "prefect.flow-run.Failed", "prefect.flow-run.Cancelled",
                    "prefect.flow-run.Crashed"},
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=grace),
        ),
        actions=[ChangeFlowRunState(
            state=StateType.CRASHED,
            message=f"No heartbeat for {grace:g} s: the flow run's process is gone")],
    ))
    return [f"automation {HEARTBEAT_AUTOMATION!r}: Crashed after {grace:g} s without a heartbeat"]


def add_parameter_rules(client: Any) -> list[str]:
    """Put each model's rules (``allOf``) into its deployment's parameter schema."""
    from prefect.client.schemas.actions import DeploymentUpdate

    done = []
    for name, model in RULED_DEPLOYMENTS.items():
        deployment = client.read_deployment_by_name(name)
        schema = dict(deployment.parameter_openapi_schema or {}, allOf=parameter_rules(model))
        client.update_deployment(deployment.id, DeploymentUpdate(parameter_openapi_schema=schema))
        done.append(f"{name}: {len(schema['allOf'])} parameter rules checked at flow-run creation")
    return done


def main() -> None:
    """``python -m flows.prefect_setup``: configure the server in ``PREFECT_API_URL``."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        for line in configure_server(client):
            print(line)


if __name__ == "__main__":
    main()
