"""``nightly``: run every plan of a folder that is ready and not yet executed, one
``execute-plan`` deployment run per plan, at most ``max_concurrent`` at a time.

Ready: the plan parses and validates without errors. Executed: its run's status file says
``completed``. A plan that fails tonight is tried again tomorrow (its finished tasks come from
the cache).
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.deployments import run_deployment
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import BaseModel, Field

from flows.context import AGENT_CHOICES, ExecuteParams
from flows.parameters import fields_as_parameters
from flows.report import publish_markdown
from gitops.repo import open_repository
from planning.errors import PlanError
from planning.loader import load_plan
from planning.models import slugify
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


NIGHTLY_SETS = {"plan_path", "repo", "agent", "max_parallel"}
"""The execute-plan parameters a nightly run sets; the others keep the deployment's defaults."""


class NightlyPlan(BaseModel):
    """A plan file the nightly flow found: ``path``, its run's ``run_id`` and ``name`` (a slug;
    both empty for a plan that does not parse), and ``skipped``: why it is not run tonight
    (None: it runs)."""

    path: Path
    run_id: str = ""
    name: str = ""
    skipped: str | None = None

    @property
    def label(self) -> str:
        """``{run_id} {name}`` (``7e3a1c textkit``), or the path for a plan that does not parse."""
        return f"{self.run_id} {self.name}" if self.run_id else str(self.path)


def survey_plans(params: NightlyParams) -> list[NightlyPlan]:
    """Every plan file under ``plans_dir``, sorted by path, each with why it is skipped: it does
    not parse or validate (the error, with file and line), or its run has completed."""
    repo = open_repository(Path(params.repo))
    found = []
    for path in sorted((repo.root / params.plans_dir).rglob("*")):
        if path.name not in PLAN_PATTERNS or not path.is_file():
            continue
        try:
            plan = load_plan(path)
            check_plan(plan)
        except PlanError as error:
            found.append(NightlyPlan(path=path, skipped=f"invalid plan: {error}"))
            continue
        entry = NightlyPlan(path=path, run_id=plan.default_run_id(), name=slugify(plan.name))
        status_file = status_path(repo.state_dir, entry.run_id)
        if status_file.is_file() and read_status(status_file).status == "completed":
            entry.skipped = f"run {entry.run_id} already completed"
        found.append(entry)
    return found


@task(name="execute-plan-deployment", task_run_name="{plan.run_id} {plan.name}")
def run_plan_deployment(plan: NightlyPlan, params: NightlyParams) -> str:
    """Start the execute-plan deployment for one plan and wait for it; returns its final state name."""
    execute = ExecuteParams(plan_path=str(plan.path), repo=params.repo, agent=params.agent,
                            max_parallel=params.max_parallel)
    flow_run = run_deployment(params.deployment, flow_run_name=plan.label, timeout=None,
                              parameters=execute.model_dump(mode="json", include=NIGHTLY_SETS))
    return flow_run.state.name if flow_run.state else "unknown"


@flow(name="nightly", task_runner=ThreadPoolTaskRunner(max_workers=16))
@fields_as_parameters(NightlyParams)
def nightly(params: NightlyParams) -> dict[str, str]:
    """Run every plan ``survey_plans`` does not skip, in batches of ``max_concurrent``; log each
    plan started or skipped and why, and leave the list as the markdown artifact
    ``planflow-nightly``. Returns {plan path: final state name of its execute-plan flow run, or
    ``skipped: <why>``}."""
    logger = get_run_logger()
    plans = survey_plans(params)
    results: dict[str, str] = {}
    for plan in plans:
        if plan.skipped:
            log = logger.warning if plan.skipped.startswith("invalid") else logger.info
            log(f"skipped {plan.path}: {plan.skipped}")
            results[str(plan.path)] = f"skipped: {plan.skipped}"
    runnable = [plan for plan in plans if not plan.skipped]
    for start in range(0, len(runnable), params.max_concurrent):
        batch = runnable[start:start + params.max_concurrent]
        for plan in batch:
            logger.info(f"started {plan.path} as run {plan.label}")
        futures = [run_plan_deployment.submit(plan, params) for plan in batch]
        for plan, future in zip(batch, futures):
            results[str(plan.path)] = future.result()
            logger.info(f"finished {plan.path} (run {plan.label}): {results[str(plan.path)]}")
    publish_markdown(_nightly_markdown(plans, results), key="planflow-nightly",
                     description=f"Nightly: {len(runnable)} plan(s) run, {len(plans) - len(runnable)} skipped")
    return results


def _nightly_markdown(plans: list[NightlyPlan], results: dict[str, str]) -> str:
    """The nightly artifact: one row per plan found (path, run, what happened)."""
    lines = ["# Nightly plans", "", "| plan | run | result |", "|---|---|---|"]
    for plan in plans:
        result = results[str(plan.path)].replace("|", "\\|").replace("\n", " ")
        lines.append(f"| `{plan.path}` | {plan.label if plan.run_id else '-'} | {result} |")
    return "\n".join(lines)
