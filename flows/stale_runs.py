"""Flow runs of a run id left "Running" by a process that died: ``crash_stale_runs`` marks them
Crashed when a new flow run of the same run id starts (it holds the run's lock and slot,
``flows.run_slot``, so no live process runs that id)."""

from __future__ import annotations

from typing import Any

from tasks.run_log import run_logger

WAITING_TAG = "planflow:waiting-for-run"
"""The tag of a flow run while it waits for its run id (``flows.run_slot``): alive, not stale."""


def running_runs_of(client: Any, run_id: str, exclude: str = "",
                    flows: tuple[str, ...] = ("execute-plan",)) -> list:
    """The flow runs of ``flows`` named ``{run_id} ...`` or ``{run_id}-...`` that are Running
    and not waiting for their run id (``WAITING_TAG``), but ``exclude`` (a flow run id), read
    through ``client`` (a sync ``PrefectClient``)."""
    from prefect.client.schemas.filters import (FlowFilter, FlowFilterName, FlowRunFilter,
                                                FlowRunFilterName, FlowRunFilterState,
                                                FlowRunFilterStateType)
    from prefect.client.schemas.objects import StateType

    running = FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.RUNNING]))
    return [run for run in client.read_flow_runs(
        flow_filter=FlowFilter(name=FlowFilterName(any_=list(flows))),
        flow_run_filter=FlowRunFilter(name=FlowRunFilterName(like_=run_id), state=running))
        if str(run.id) != exclude and run.name[:len(run_id) + 1] in (f"{run_id} ", f"{run_id}-")
        and WAITING_TAG not in run.tags]


def crash_stale_runs(run_id: str, current: str) -> list[str]:
    """Mark Crashed every ``execute-plan`` flow run but ``current`` (a flow run id) named
    ``{run_id} ...`` that is still Running (and not waiting for the run id), with its Running
    subflow runs and task runs; returns their names. Call it while holding the run's lock and
    slot (``flows.run_slot``)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (FlowRunFilter, FlowRunFilterParentFlowRunId,
                                                FlowRunFilterState, FlowRunFilterStateType,
                                                TaskRunFilter, TaskRunFilterFlowRunId,
                                                TaskRunFilterState, TaskRunFilterStateType)
    from prefect.client.schemas.objects import StateType
    from prefect.states import Crashed

    running = FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.RUNNING]))
    message = (f"Crashed: a new flow run ({current}) of run {run_id} started while this one was"
               " still Running with no live process holding the run")
    crashed = []
    with get_client(sync_client=True) as client:
        stale = [run for run in running_runs_of(client, run_id, current)
                 if run.name.startswith(f"{run_id} ")]
        while stale:
            run = stale.pop()
            stale += client.read_flow_runs(flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[run.id]), state=running))
            for task_run in client.read_task_runs(task_run_filter=TaskRunFilter(
                    flow_run_id=TaskRunFilterFlowRunId(any_=[run.id]),
                    state=TaskRunFilterState(type=TaskRunFilterStateType(any_=[StateType.RUNNING])))):
                client.set_task_run_state(task_run.id, Crashed(message=message), force=True)
            client.set_flow_run_state(run.id, Crashed(message=message), force=True)
            run_logger().warning(f"marked flow run {run.name!r} ({run.id}) Crashed: it was still"
                                 " Running, and no live process ran it")
            crashed.append(run.name)
    return crashed
