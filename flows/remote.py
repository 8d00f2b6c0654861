"""Tasks on other machines: each plan task as its own ``run-task`` deployment run.

With ``ExecuteParams.remote`` set (a git remote every worker can reach), a phase does not run
its tasks in its own process: ``dispatch_task`` pushes the task's base commit to the remote,
starts the ``run-task`` deployment (any worker of the pool picks it up), and fetches the
task's commit back. On the worker, ``run_remote_task`` runs ``run_plan_task`` in the worker's
own clone of the remote (``gitops.clones``) and pushes the branch and the commit's keep-ref.
The parent stacks as usual and pushes the stacked branches. The cache works across workers
when they share result storage: a storage block every worker reaches
(``PLANFLOW_RESULT_STORAGE``, with the cache lock in Redis: ``tasks.shared_cache``) or a shared
folder (``PLANFLOW_RESULTS_DIR``). The outcome names the worker that ran the task. A child
that crashed (its machine died) is dispatched again; the worker's next task salvages what the
dead one left in its clone.
"""

from __future__ import annotations

import os
import socket

from prefect import flow, get_run_logger, task
from prefect.context import TaskRunContext
from prefect.deployments import run_deployment
from pydantic import BaseModel

from gitops.clones import owned_worktree, sweep_dead_worktrees, worker_clone
from gitops.names import worktree_path
from gitops.repo import open_repository
from tasks.defaults import result_serializer, result_storage
from tasks.limits import agent_limit
from tasks.plan_task import TaskOutcome, TaskSpec, run_plan_task, should_retry

TASK_DEPLOYMENT = "run-task/run-task"
SALVAGE_REFS = "refs/planflow/salvage/*"


class RemoteTask(BaseModel):
    """One dispatched plan task: the ``spec`` as the parent built it (its ``repo`` is the
    parent's), the shared ``remote`` and which dispatch of the task this is (1-based)."""

    spec: TaskSpec
    remote: str
    attempt: int = 1


def base_ref(run_id: str, sha: str) -> str:
    """The remote ref that carries a task's base commit to the workers."""
    return f"refs/planflow/{run_id}/base-{sha}"


def keep_ref(spec: TaskSpec) -> str:
    """The ref of a finished task's own (unstacked) commit, as ``run_plan_task`` keeps it."""
    return f"refs/planflow/{spec.run_id}/task-{spec.task.ref_id}"


@flow(name="run-task", persist_result=True, result_storage=result_storage(),
      result_serializer=result_serializer())
def run_remote_task(job: RemoteTask) -> TaskOutcome:
    """On a worker: run one plan task in this worker's clone of ``job.remote`` and push its
    branch and commit back; first salvage the worktrees of tasks this worker's dead processes
    left (a ``kill -9``, a reboot) and push the salvage refs. Returns the ``TaskOutcome``
    (``attempts`` counts the earlier dispatches of ``job.attempt``); raises what
    ``run_plan_task`` raises."""
    clone = worker_clone(job.remote)
    swept = sweep_dead_worktrees(clone)
    if swept:
        clone.push(job.remote, [f"{SALVAGE_REFS}:{SALVAGE_REFS}"])
        get_run_logger().warning(f"salvaged the worktrees of dead task runs: {', '.join(swept)}"
                                 f" (refs/planflow/salvage/ on the remote)")
    spec = job.spec.model_copy(update={"repo": clone.root, "status_path": None})
    with owned_worktree(clone, worktree_path(clone.root, spec.run_id, spec.task.ref_id).name), \
            agent_limit():  # a slot this process keeps goes back before it exits
        state = run_plan_task(spec, return_state=True)
    outcome: TaskOutcome = state.result()
    clone.push(job.remote, [f"{outcome.commit}:{keep_ref(spec)}",
                            f"{outcome.commit}:refs/heads/{outcome.branch}"])
    cached = state.name == "Cached"
    return outcome.model_copy(update={"worker": worker_name(), "cached": cached,
                                      "attempts": job.attempt - 1 + outcome.attempts})


def worker_name() -> str:
    """The name of the Prefect worker running this flow run (the worker sets
    ``PREFECT__WORKER_NAME`` in the run's environment), else this machine's host name."""
    return os.environ.get("PREFECT__WORKER_NAME") or socket.gethostname()


class WorkerLost(RuntimeError):
    """A ``run-task`` flow run crashed: its worker or machine died (marked ``Crashed`` by the
    worker, or by the server's zombie automation when its heartbeats stopped). Retried: the
    next dispatch goes to any live worker."""

    retryable = True


DISPATCH_RETRIES = 2
"""Dispatches of a task after the first when its ``run-task`` flow run crashed."""


@task(name="dispatch-plan-task", task_run_name="dispatch-{spec.task.id}",
      retries=DISPATCH_RETRIES, retry_condition_fn=should_retry)
def dispatch_task(spec: TaskSpec, remote: str) -> TaskOutcome:
    """In the parent: run ``spec`` as a ``run-task`` deployment run and fetch its commit.

    Returns the child's ``TaskOutcome``. Raises ``WorkerLost`` (retried) when the child flow
    run crashed, ``RuntimeError`` with the child's state message when it failed otherwise.
    """
    repo = open_repository(spec.repo)
    repo.push(remote, [f"{spec.base}:{base_ref(spec.run_id, spec.base)}"])
    context = TaskRunContext.get()
    job = RemoteTask(spec=spec, remote=remote, attempt=context.task_run.run_count if context else 1)
    child = run_deployment(TASK_DEPLOYMENT, timeout=None, parameters={"job": job.model_dump(mode="json")})
    if not child.state or not child.state.is_completed():
        message = child.state.message if child.state else "no state"
        failure = WorkerLost if child.state and child.state.is_crashed() else RuntimeError
        raise failure(f"task {spec.task.id}: run-task flow run {child.name} ended "
                      f"{child.state.name if child.state else 'unknown'}: {message}")
    outcome = TaskOutcome.model_validate(child.state.result())
    repo.fetch(remote, [f"{keep_ref(spec)}:{keep_ref(spec)}"])
    return outcome
