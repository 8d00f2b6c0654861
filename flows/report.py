"""Artifacts on the flow run: the plan as markdown and the tasks as a table (Prefect UI's
Artifacts tab). Keys group the versions of one run id across flow runs.

Every artifact planflow creates goes through ``publish_markdown`` or ``publish_table``, which
redact it first (``planning.redaction``)."""

from __future__ import annotations

from typing import Any

from prefect.artifacts import create_markdown_artifact, create_table_artifact

from gitops.names import branch_name
from planning.models import Plan
from planning.redaction import redact, scrub
from planning.schedule import build_schedule, summary_markdown
from planning.status import RunStatus
from planning.tracing import coverage_markdown, trace_plan


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


def publish_tasks(status: RunStatus) -> None:
    """A table artifact ``planflow-{run_id}-tasks``: id, status, branch, commit, seconds, the
    ledger (tokens in/out, cost in USD, turns, attempts), the worker of a dispatched task and
    warnings, with a last row ``total`` of the run's totals (also in the artifact's
    description)."""
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
    publish_table(rows, key=f"planflow-{status.run_id}-tasks",
                  description=f"Tasks of run {status.run_id}: {status.status}; {ledger}")
