"""The parameters of a plan run: ``ExecuteParams`` (the deployment's typed form) and
``RunContext`` (what each phase subflow needs, resolved once by ``execute_plan``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from planning.models import PlanTask
from tasks.defaults import DEFAULT_RETRIES, DEFAULT_RETRY_DELAY_S
from tasks.plan_task import TaskSpec


class ExecuteParams(BaseModel):
    """One plan run, as the CLI and the Prefect UI's form give it."""

    plan_path: str = Field(description="The plan file (plan.md, plan.yaml); relative paths are read from the working directory, then from the repository.")
    repo: str = Field(".", description="The git repository the tasks work on.")
    agent: str = Field("shell", description="The default agent for tasks that name none.")
    agent_command: str | None = Field(None, description="The shell agent's command for tasks without their own `run`.")
    agent_block: str | None = Field(None, description="A saved AgentConfig block: the default agent's configuration (instead of `agent`).")
    budget_usd: float | None = Field(None, ge=0, description="Start no new task once the run's reported cost passes this many USD.")
    max_parallel: int = Field(4, ge=1, le=64, description="At most this many agents at once in a parallel phase.")
    run_id: str | None = Field(None, pattern=r"^[0-9a-f]{6}$", description="Run id (6 hex); default: the plan's own, else derived from the plan path.")
    timeout_s: float = Field(1800.0, gt=0, description="Limit of one agent run and of each quality gate, seconds.")
    retries: int = Field(DEFAULT_RETRIES, ge=0, le=10, description="Retries of a failed agent or gate.")
    retry_delay_s: float = Field(DEFAULT_RETRY_DELAY_S, ge=0, description="First retry delay, seconds; doubles on each retry.")
    quality_gates: bool = Field(True, description="Run each task's quality-gate commands.")
    plan_format: str | None = Field(None, description="Plan format; default: detected from the file.")
    remote: str | None = Field(None, description="A git remote every worker reaches (URL or path): each task runs as a run-task deployment run on any worker, which pushes its branch there.")
    serialize_conflicts: bool = Field(False, description="Tasks that may run at the same time and declare the same file run one after the other.")


class RunContext(BaseModel):
    """What a phase subflow needs: the run's ``params`` and what ``execute_plan`` resolved from
    them (run id, repository root, the plan's name, file and spec, the status file)."""

    params: ExecuteParams
    run_id: str
    repo: Path
    plan_name: str
    plan_path: Path | None
    spec_path: str | None
    status_path: Path

    def task_spec(self, task: PlanTask, base: str) -> TaskSpec:
        """The input of ``run_plan_task`` for ``task`` started from commit ``base``."""
        return TaskSpec(
            run_id=self.run_id,
            repo=self.repo,
            plan_name=self.plan_name,
            plan_path=self.plan_path,
            spec_path=self.spec_path,
            task=task,
            base=base,
            agent=self.params.agent,
            agent_command=self.params.agent_command,
            timeout_s=self.params.timeout_s,
            run_gates=self.params.quality_gates,
            status_path=self.status_path,
            agent_block=self.params.agent_block,
            budget_usd=self.params.budget_usd,
        )
