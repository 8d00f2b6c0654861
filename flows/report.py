"""Artifacts on the flow run: the plan as markdown, the tasks as a table and the progress
(Prefect UI's Artifacts tab; the last two updated in place while the run moves). Keys group
the versions of one run id across flow runs.

Every artifact planflow creates goes through ``publish_markdown`` or ``publish_table``, which
redact it first (``planning.redaction``)."""

from __future__ import annotations

import contextvars
import json
import threading
import time
from typing import Any
from uuid import UUID

from prefect.artifacts import create_markdown_artifact, create_progress_artifact, create_table_artifact

from gitops.names import branch_name
from planning.models import Plan
from planning.redaction import redact, scrub
from planning.schedule import build_schedule, summary_markdown
from planning.status import RunStatus, TaskState
from planning.tracing import coverage_markdown, trace_plan
from tasks.run_log import run_logger


def publish_plan(plan: Plan, run_id: str, max_parallel: int = 4) -> None:
    """A markdown artifact ``planflow-{run_id}-plan``: the execution summary for
    ``max_parallel`` agents (estimates, critical path, skipped tasks), then phases and tasks,
    then, when the plan's spec declares requirements, each requirement with the tasks citing
    it and their branches."""
    lines = [f"# {plan.name} (run {run_id})", "", summary_markdown(build_schedule(plan, max_parallel))]
    for phase in plan.phases:
        lines += [f"## {phase.label}: {phase.name}", "", "| task | title | depends on | files |",
                  "|---|---|---|---|"]
        for task in phase.tasks:
            deps = ", ".join(task.dependencies) or "-"
            files = ", ".join(f"`{f}`" for f in task.files) or "-"
            lines.append(f"| {task.id} | {task.title} | {deps} | {files} |")
        lines.append("")
    trace = trace_plan(plan)
    if trace is not None:
        lines.append(coverage_markdown(trace, {t.id: branch_name(run_id, t) for t in plan.tasks()}))
    publish_markdown("\n".join(lines), key=f"planflow-{run_id}-plan",
                     description=f"Plan of run {run_id}")


def publish_markdown(markdown: str, key: str, description: str) -> None:
    """A markdown artifact ``key`` on the current flow run, redacted."""
    create_markdown_artifact(redact(markdown), key=key, description=redact(description))


def publish_table(rows: list[dict[str, Any]], key: str, description: str) -> None:
    """A table artifact ``key`` (one dict per row) on the current flow run, redacted."""
    create_table_artifact(scrub(rows), key=key, description=redact(description))


def start_live_report(status: RunStatus) -> None:
    """At the start of a flow run of ``status.run_id``: a progress artifact
    ``planflow-{run_id}-progress`` (percent of the tasks finished) and the tasks table
    (``publish_tasks``) on the current flow run; ``publish_tasks`` and ``publish_progress``
    then update these two in place (the run's page shows where it is as it moves)."""
    done, description = _progress(status)
    progress_id = create_progress_artifact(done, key=f"planflow-{status.run_id}-progress",
                                           description=redact(description))
    rows, description = _task_rows(status)
    table_id = create_table_artifact(scrub(rows), key=f"planflow-{status.run_id}-tasks",
                                     description=redact(description))
    with _LIVE_LOCK:
        _LIVE[status.run_id] = _LiveReport(progress_id, table_id, status)


LIVE_INTERVAL_S = 1.0
"""The live report is written at most once per this many seconds: a change within that time
is written when it has passed (one write for all the tasks that ended meanwhile), not two API
calls per task."""


class _LiveReport:
    """The two artifacts of the live report of one run in this process, and its throttle: the
    latest ``status`` given, when it was last written (``time.monotonic``) and the timer that
    writes a change held back."""

    def __init__(self, progress_id: UUID, table_id: UUID, status: RunStatus) -> None:
        self.progress_id, self.table_id, self.status = progress_id, table_id, status
        self.written = time.monotonic()
        self.timer: threading.Timer | None = None
        self.write_lock = threading.Lock()

    def write(self) -> None:
        """Update both artifacts to the latest status (one writer at a time, so an older
        status never lands after a newer one)."""
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.actions import ArtifactUpdate

        with self.write_lock:
            with _LIVE_LOCK:
                status, self.written = self.status, time.monotonic()
            done, progress = _progress(status)
            rows, description = _task_rows(status)
            with get_client(sync_client=True) as client:
                client.update_artifact(self.progress_id, ArtifactUpdate(data=done, description=redact(progress)))
                client.update_artifact(self.table_id, ArtifactUpdate(data=json.dumps(scrub(rows)),
                                                                     description=redact(description)))

    def write_held(self) -> None:
        """The timer's job: write the change held back (a failure is logged, not raised: the
        run goes on, and its end writes the report again)."""
        with _LIVE_LOCK:
            self.timer = None
        try:
            self.write()
        except Exception as error:  # a thread of its own: nobody to raise to
            run_logger().warning(f"the live report of run {self.status.run_id} was not"
                                 f" updated: {error}")


def publish_progress(status: RunStatus, now: bool = False) -> None:
    """Update the run's progress artifact and tasks table (``start_live_report``) to
    ``status``: at once when ``now`` or when the last update is ``LIVE_INTERVAL_S`` old, else
    once that time has passed (in a timer thread, with the caller's Prefect context); nothing
    when this process started no live report for the run."""
    with _LIVE_LOCK:
        live = _LIVE.get(status.run_id)
        if live is None:
            return
        live.status = status
        wait = live.written + LIVE_INTERVAL_S - time.monotonic()
        if wait > 0 and not now:
            if live.timer is None:
                live.timer = threading.Timer(wait, contextvars.copy_context().run, (live.write_held,))
                live.timer.daemon = True
                live.timer.start()
            return
        if live.timer is not None:
            live.timer.cancel()
            live.timer = None
    live.write()


def end_live_report(run_id: str) -> None:
    """The run ``run_id`` ended in this process: a change still held back is not written (the
    run's end wrote the report, or the run failed before it could)."""
    with _LIVE_LOCK:
        live = _LIVE.pop(run_id, None)
        if live is not None and live.timer is not None:
            live.timer.cancel()


def _progress(status: RunStatus) -> tuple[float, str]:
    """Percent (0 to 100) of the run's tasks finished (done, failed or skipped), and a line
    saying so with the run's cost."""
    finished = [t for t in status.tasks if t.state in (TaskState.done, TaskState.failed, TaskState.skipped)]
    percent = round(100.0 * len(finished) / len(status.tasks), 1) if status.tasks else 100.0
    cost = status.totals()["cost_usd"]
    spent = "no cost reported" if cost is None else f"${cost}"
    counts = ", ".join(f"{sum(t.state == state for t in status.tasks)} {state.value}"
                       for state in TaskState if any(t.state == state for t in status.tasks))
    return percent, f"Run {status.run_id}: {len(finished)} of {len(status.tasks)} tasks finished ({counts}); {spent}"


_LIVE: dict[str, _LiveReport] = {}
"""Run id -> the live report of its flow run in this process."""
_LIVE_LOCK = threading.Lock()


def publish_tasks(status: RunStatus) -> None:
    """The table artifact ``planflow-{run_id}-tasks`` (``_task_rows``): updated in place when
    this process started the run's live report, else created on the current flow run; the
    progress artifact too."""
    with _LIVE_LOCK:
        live = status.run_id in _LIVE
    if live:
        publish_progress(status, now=True)
        return
    rows, description = _task_rows(status)
    publish_table(rows, key=f"planflow-{status.run_id}-tasks", description=description)


def _task_rows(status: RunStatus) -> tuple[list[dict[str, Any]], str]:
    """The tasks table: id, status, branch, commit, seconds, the ledger (tokens in/out, cost in
    USD, turns, attempts), the worker of a dispatched task and warnings, with a last row
    ``total`` of the run's totals; and the table's description (the totals again)."""
    rows = [
        {"task": t.id, "phase": t.phase, "status": t.state.value, "cached": t.cached,
         "branch": t.branch or "", "commit": (t.commit or "")[:10],
         "duration_s": t.duration_s if t.duration_s is not None else "",
         "setup_s": t.setup_s if t.setup_s is not None else "",
         "tokens_in": t.tokens_in, "tokens_out": t.tokens_out,
         "cost_usd": t.cost_usd if t.cost_usd is not None else "", "turns": t.turns,
         "attempts": t.attempts, "worker": t.worker or "", "warnings": "; ".join(t.warnings)}
        for t in status.tasks
    ]
    totals = status.totals()
    rows.append({"task": "total", "phase": "", "status": status.status, "cached": "",
                 "branch": "", "commit": "", "duration_s": totals["duration_s"], "setup_s": "",
                 "tokens_in": totals["tokens_in"], "tokens_out": totals["tokens_out"],
                 "cost_usd": totals["cost_usd"] if totals["cost_usd"] is not None else "",
                 "turns": totals["turns"], "attempts": totals["attempts"], "worker": "",
                 "warnings": ""})
    cost = "no cost reported" if totals["cost_usd"] is None else f"${totals['cost_usd']}"
    ledger = (f"totals: {totals['tokens_in']} tokens in, {totals['tokens_out']} out, {cost},"
              f" {totals['turns']} turns, {totals['attempts']} agent runs")
    return rows, f"Tasks of run {status.run_id}: {status.status}; {ledger}"
