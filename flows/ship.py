"""``ship``: one feature request to a stack of branches in one flow run.

spec (``write_spec``) -> optional approval -> plan (``write_plan``) -> optional approval ->
execute (``execute_plan``), each step a subflow of the same run id, so ``planflow status``
follows it through ``spec-generation``, ``plan-decomposition`` and the execution phases. The
stack reads ``HEAD -> {run_id}-spec -> {run_id}-plan -> task branches``.

An approval pauses the flow run (``pause_flow_run`` with the ``Approval`` form, shown in the
Prefect UI's Resume dialog next to a markdown artifact of the document): approve, or ask for
changes (the agent revises the document with them; at most ``revisions`` times), or reject
with no feedback (the run stops; branches are kept). Pausing needs a Prefect server.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from prefect import flow, pause_flow_run
from prefect.input import RunInput
from prefect.states import Failed, State
from pydantic import Field

from flows.author_plan import PlanParams, write_plan
from flows.authoring import AgentParams
from flows.context import ExecuteParams
from flows.execute import execute_plan
from flows.parameters import fields_as_parameters, flow_arguments
from flows.report import publish_markdown
from flows.spec import SpecParams, write_spec
from gitops.files import read_committed
from gitops.repo import Repository, open_repository
from planning.authoring import new_run_id
from planning.status import open_store, status_path


APPROVAL_POLL_S = 5
"""How often a paused ship run checks whether it was resumed, seconds."""


class ShipParams(AgentParams):
    """One ship run, as the CLI and the Prefect UI's form give it."""

    request: str = Field(min_length=1, description="The feature request, in the user's words.")
    max_parallel: int = Field(4, ge=1, le=64, description="At most this many agents at once in a parallel phase.")
    quality_gates: bool = Field(True, description="Run each task's quality-gate commands.")
    budget_usd: float | None = Field(None, ge=0, description="Start no new task once the run's reported cost passes this many USD.")
    approve_spec: bool = Field(False, description="Pause for a human approval of the spec before planning.")
    approve_plan: bool = Field(False, description="Pause for a human approval of the plan before execution.")
    approval_timeout_s: int = Field(86400, ge=60, description="How long a pause waits for its approval, seconds; the run fails after.")
    revisions: int = Field(3, ge=0, le=10, description="Times a reviewer may send a document back with changes.")


class Approval(RunInput):
    """The reviewer's answer to a paused ship run."""

    approve: bool = Field(description="Approve the document as it is.")
    feedback: str = Field("", description="When not approving: the changes the agent must make. Empty: reject and stop the run.")


@flow(name="ship")
@fields_as_parameters(ShipParams)
def ship(params: ShipParams) -> dict | State:
    """Write the spec and the plan of ``params.request`` and execute the plan into a stack.

    Returns the execution's status JSON (a dict) with ``spec`` and ``plan`` (the documents:
    path, branch, commit, attempts, usage) added, or a ``Failed`` state when a reviewer
    rejected a document or execution failed (the status says why). Raises like the three
    subflows (``DocumentRejected``, ``AgentFailed``, ``PlanError``...).
    """
    repo = open_repository(Path(params.repo))
    run_id = params.run_id or new_run_id()
    agent = params.model_dump(include=set(AgentParams.model_fields)) | {"run_id": run_id, "last_step": False}

    def spec_step(feedback: str | None) -> dict:
        step = write_spec.with_options(flow_run_name=f"{run_id}-spec")
        return step(**flow_arguments(SpecParams(**agent, request=params.request, feedback=feedback)))

    spec = _approved("spec", spec_step(None), spec_step, params, repo) if params.approve_spec else spec_step(None)
    if spec is None:
        return _rejected(repo, run_id, "spec")

    def plan_step(feedback: str | None) -> dict:
        step = write_plan.with_options(flow_run_name=f"{run_id}-plan")
        return step(**flow_arguments(PlanParams(**agent, spec_path=spec["path"],
                                                max_parallel=params.max_parallel, feedback=feedback)))

    plan = _approved("plan", plan_step(None), plan_step, params, repo) if params.approve_plan else plan_step(None)
    if plan is None:
        return _rejected(repo, run_id, "plan")

    plan_file = repo.state_dir / "runs" / run_id / "plan.md"
    plan_file.write_text(read_committed(repo, plan["commit"], plan["path"]) + "\n", encoding="utf-8")
    execute = execute_plan.with_options(flow_run_name=f"{run_id}-execute")
    state = execute(**flow_arguments(ExecuteParams(
        plan_path=str(plan_file), repo=str(repo.root), agent=params.agent,
        agent_command=params.agent_command, agent_block=params.agent_block,
        budget_usd=params.budget_usd, max_parallel=params.max_parallel, run_id=run_id,
        timeout_s=params.timeout_s, retries=params.retries, retry_delay_s=params.retry_delay_s,
        quality_gates=params.quality_gates, plan_format="spectacular", base=plan["commit"],
    )), return_state=True)
    store = open_store(status_path(repo.state_dir, run_id))
    store.update(stack=[spec["branch"], plan["branch"], *store.status.stack])
    if not state.is_completed():
        if store.status.status == "running":  # execution stopped before its status said why
            store.update(status="failed", finished_at=time.time(), output=f"execution: {state.message}")
        return Failed(message=store.status.output)
    return store.status.public() | {"spec": spec, "plan": plan}


def _approved(kind: str, document: dict, revise: Callable[[str], dict], params: ShipParams,
              repo: Repository) -> dict | None:
    """Pause until a reviewer approves ``document`` (the result of a spec or plan subflow),
    revising it with their feedback in between; the approved document, or None when rejected
    (no feedback, or more than ``params.revisions`` rounds)."""
    store = open_store(status_path(repo.state_dir, document["run_id"]))
    for round_number in range(params.revisions + 1):
        publish_markdown(
            markdown=read_committed(repo, document["commit"], document["path"]) or "",
            key=f"planflow-{document['run_id']}-{kind}",
            description=f"{document['path']} on branch {document['branch']}, for approval")
        store.update(output=f"waiting for the approval of {document['path']}: resume the flow"
                            " run in the Prefect UI (approve, or give feedback)")
        decision = pause_flow_run(wait_for_input=Approval, timeout=params.approval_timeout_s,
                                  poll_interval=APPROVAL_POLL_S, key=f"approve-{kind}-{round_number}")
        if decision.approve:
            return document
        if not decision.feedback.strip():
            break
        if round_number < params.revisions:
            document = revise(decision.feedback)
    return None


def _rejected(repo: Repository, run_id: str, kind: str) -> State:
    store = open_store(status_path(repo.state_dir, run_id))
    output = (f"the {kind} was not approved; the run stopped. Its branch {run_id}-{kind} is kept;"
              " run ship again with the same --run-id to resume from it")
    store.update(status="stopped", finished_at=time.time(), output=output)
    return Failed(message=output)
