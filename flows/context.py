"""The parameters of a plan run: ``ExecuteParams`` (the deployment's typed form) and
``RunContext`` (what each phase subflow needs, resolved once by ``execute_plan``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agents.registry import AGENTS
from planning.dag import ScheduleMode
from gitops.repo import open_repository
from gitops.stack import own_commits
from planning.handoff import context_dir, handoff_for, load_records
from planning.models import PlanTask
from planning.status import open_store
from planning.worktree_config import WorktreeConfig
from tasks.defaults import DEFAULT_RETRIES, DEFAULT_RETRY_DELAY_S
from tasks.plan_task import TaskSpec


AGENT_CHOICES = {"enum": list(AGENTS)}
"""The agent names as a JSON schema enum: a dropdown in the Prefect UI's form, checked when a
flow run is created (the CLI reports an unknown name with the known ones itself)."""


def _needs_review_command(condition: dict) -> dict:
    """A JSON schema rule: when ``condition`` holds, ``review_command`` is a non-empty string."""
    return {"if": condition, "then": {"required": ["review_command"],
                                      "properties": {"review_command": {"type": "string", "minLength": 1}}}}


REVIEW_RULES = [
    _needs_review_command({"required": ["reviewer"], "properties": {"reviewer": {"const": "command"}}}),
    _needs_review_command({"required": ["reviewer", "reviewer_agent"], "properties": {
        "reviewer": {"const": "agent"}, "reviewer_agent": {"const": "shell"}}}),
    _needs_review_command({"required": ["reviewer"], "properties": {
        "reviewer": {"const": "agent"}, "reviewer_agent": {"type": "null"},
        "agent_block": {"type": "null"}, "agent": {"const": "shell"}}}),
]
"""``ExecuteParams._review_needs_command`` as JSON schema rules, so that the Prefect server
rejects such a flow run when it is created (``flows.parameters``). A field left out takes its
default (``agent`` shell, the others none), which the ``properties`` conditions let pass."""


class ExecuteParams(BaseModel):
    """One plan run, as the CLI and the Prefect UI's form give it."""

    model_config = ConfigDict(json_schema_extra={"allOf": REVIEW_RULES})

    plan_path: str = Field(description="The plan file (plan.md, plan.yaml); relative paths are read from the working directory, then from the repository.")
    repo: str = Field(".", description="The git repository the tasks work on.")
    agent: str = Field("shell", json_schema_extra=AGENT_CHOICES, description="The default agent for tasks that name none.")
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
    serialize_conflicts: bool = Field(True, description="Tasks that may run at the same time and declare the same file run in one lane, one after the other (an added dependency); off (`--allow-overlap`): side by side, and their stacking may conflict.")
    resolve_conflicts: bool | None = Field(None, description="When stacking a parallel phase conflicts, a resolver agent (the run's agent) settles it and the result must pass both tasks' quality gates; default: on for coding agents, off for the shell agent.")
    schedule: ScheduleMode | None = Field(None, description="`dag`: each task starts as soon as its dependencies are stacked; `phases`: phase by phase (waves inside a phase); `waves`: global waves across the plan, each a barrier. Default: `dag` when the plan's dependencies are explicit, else `phases`. With a review after every phase the phases stay barriers (`dag` then runs inside each phase).")
    base: str | None = Field(None, description="The commit (or branch) the stack starts from; default: the repository's HEAD.")
    worktree_config: str | None = Field(None, description="A YAML file of `copy:`, `setup:` and `share:` for each task's worktree, over the repository's `.planflow.yaml` and the plan's front matter `worktree:`.")
    reviewer: Literal["none", "agent", "command", "human"] = Field("none", description="Who reviews each task's branch before the next phase builds on it: `agent` (a coding agent gives a verdict per task), `command` (a command on the phase tip; exit 0 approves), `human` (the flow pauses for a form in the Prefect UI), `none`.")
    review_frequency: Literal["phase", "end", "off"] = Field("phase", description="With a reviewer: review after every phase, once at the end of the run, or not at all.")
    review_command: str | None = Field(None, description="With reviewer `command`: the command run on the phase tip. With reviewer `agent`: the shell reviewer's script, or another CLI's executable.")
    reviewer_agent: str | None = Field(None, description="With reviewer `agent`: an adapter name or a saved AgentConfig block; default: the run's agent.")
    max_review_rounds: int = Field(3, ge=1, le=10, description="Review rounds of one phase (each after the rejected tasks were fixed) before the run stops with the open comments.")
    human_review_timeout_s: float = Field(3600.0, gt=0, description="How long a human review waits for its form, seconds; then the round fails.")
    wait_for_run_s: float = Field(0.0, ge=0, le=86400, description="When another flow run is executing the same run id: wait this many seconds for it to end, then this run ends Cancelled, saying which run holds it (0: at once).")
    escalate_to_human: bool = Field(False, description="After the last rejected round, pause for a person (approve to go on, reject to stop) instead of stopping.")

    @model_validator(mode="after")
    def _review_needs_command(self) -> ExecuteParams:
        if self.reviewer == "command" and not self.review_command:
            raise ValueError("reviewer `command` needs review_command (--review-command)")
        if (self.reviewer == "agent" and not self.review_command
                and (self.reviewer_agent or (None if self.agent_block else self.agent)) == "shell"):
            raise ValueError("the shell agent as reviewer needs its script in review_command"
                             " (--review-command)")
        return self


class RunContext(BaseModel):
    """What a phase subflow needs: the run's ``params`` and what ``execute_plan`` resolved from
    them (run id, repository root, the plan's name, file and spec, the status file, the
    worktree configuration: ``planning.worktree_config.resolve_config``)."""

    params: ExecuteParams
    run_id: str
    repo: Path
    plan_name: str
    plan_path: Path | None
    spec_path: str | None
    status_path: Path
    worktree: WorktreeConfig | None = None

    @property
    def context_dir(self) -> Path:
        """The folder of the run's context records (``planning.handoff``)."""
        return context_dir(self.status_path.parent)

    def task_spec(self, task: PlanTask, base: str) -> TaskSpec:
        """The input of ``run_plan_task`` for ``task`` started from commit ``base``, with the
        merged context records of the phases before the task's whose work ``base`` holds."""
        status = open_store(self.status_path).status
        phase = status.task(task.id).phase
        stacked = set()
        earlier = any(record.phase < phase for record in load_records(self.context_dir))
        if earlier and status.base and base != status.base:
            stacked = {c.sha for c in own_commits(open_repository(self.repo), base, [status.base])}
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
            handoff=handoff_for(self.context_dir, phase, stacked),
            phase=phase,
            worktree=self.worktree,
        )
