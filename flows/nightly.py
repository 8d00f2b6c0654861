"""``nightly``: run every plan of a folder that is ready and not yet executed, one
``execute-plan`` deployment run per plan, at most ``max_concurrent`` at a time.

Ready: the plan parses and validates without errors. Executed: its run's status file says
``completed``. A plan that fails tonight is tried again tomorrow (its finished tasks come from
the cache).
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, task
from prefect.deployments import run_deployment
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import BaseModel, Field

from flows.context import AGENT_CHOICES, ExecuteParams
from flows.parameters import fields_as_parameters
from gitops.repo import open_repository
from planning.errors import PlanError
from planning.loader import load_plan
from planning.status import read_status, status_path
from planning.validate import check_plan

PLAN_PATTERNS = ("plan.md", "plan.yaml", "plan.yml", "tasks.md", "tasks.yaml")
"""File names the nightly flow treats as plans, in any folder below ``plans_dir``."""


class NightlyParams(BaseModel):
    """What the nightly deployment runs: the plans under ``plans_dir`` (relative to ``repo``)
    with the agent settings of ``execute``; ``deployment`` is the execute-plan deployment."""

    repo: str = Field(".", description="The git repository the plans run on.")
    plans_dir: str = Field("specs", description="Folder (in the repository) searched for plan files.")
    max_concurrent: int = Field(2, ge=1, le=16, description="Plans executing at the same time.")
    deployment: str = Field("execute-plan/execute-plan", description="The deployment that runs one plan.")
    agent: str = Field("shell", json_schema_extra=AGENT_CHOICES, description="Default agent of every plan's tasks.")
    max_parallel: int = Field(4, ge=1, le=64, description="Agents at once within one plan.")


def pending_plans(params: NightlyParams) -> list[Path]:
    """Plan files under ``plans_dir`` that are ready and whose run has not completed, sorted."""
    repo = open_repository(Path(params.repo))
    found = []
    for path in sorted((repo.root / params.plans_dir).rglob("*")):
        if path.name not in PLAN_PATTERNS or not path.is_file():
            continue
        try:
            plan = load_plan(path)
            check_plan(plan)
        except PlanError:
            continue
        status_file = status_path(repo.state_dir, plan.default_run_id())
        if status_file.is_file() and read_status(status_file).status == "completed":
            continue
        found.append(path)
    return found


@task(name="execute-plan-deployment", task_run_name="run-{plan_path.name}")
def run_plan_deployment(plan_path: Path, params: NightlyParams) -> str:
    """Start the execute-plan deployment for one plan and wait for it; returns its final state name."""
    execute = ExecuteParams(plan_path=str(plan_path), repo=params.repo, agent=params.agent,
                            max_parallel=params.max_parallel)
    flow_run = run_deployment(params.deployment, parameters=execute.model_dump(mode="json"),
                              timeout=None)
    return flow_run.state.name if flow_run.state else "unknown"


@flow(name="nightly", task_runner=ThreadPoolTaskRunner(max_workers=16))
@fields_as_parameters(NightlyParams)
def nightly(params: NightlyParams) -> dict[str, str]:
    """Run every pending plan (``pending_plans``) in batches of ``max_concurrent``; returns
    {plan path: final state name of its execute-plan flow run}."""
    plans = pending_plans(params)
    results: dict[str, str] = {}
    for start in range(0, len(plans), params.max_concurrent):
        batch = plans[start:start + params.max_concurrent]
        futures = [run_plan_deployment.submit(path, params) for path in batch]
        results.update({str(path): future.result() for path, future in zip(batch, futures)})
    return results
