"""What planflow sets up on a Prefect server once its deployments exist (``scripts/deploy.sh``
runs ``python -m flows.prefect_setup``; ``planflow server`` can call ``configure_server``).

- The rules between parameters (``flows.parameters.parameter_rules``) added to each
  deployment's parameter schema, so that the server rejects a bad combination when a flow run
  is created, not after a worker has cloned the source.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from flows.context import ExecuteParams
from flows.parameters import parameter_rules

RULED_DEPLOYMENTS: dict[str, type[BaseModel]] = {"execute-plan/execute-plan": ExecuteParams}
"""Deployments (``flow/deployment``) whose parameter model has rules between fields."""


def configure_server(client: Any) -> list[str]:
    """Set planflow's server-side configuration through ``client`` (a sync ``PrefectClient``);
    returns one line per thing done. Safe to run again. Raises Prefect's ``ObjectNotFound``
    when a deployment of ``RULED_DEPLOYMENTS`` does not exist (deploy first)."""
    return add_parameter_rules(client)


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
