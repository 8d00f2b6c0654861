"""``planflow``: run, dry-run, validate and inspect plans.

Output follows git-spice: machine-readable JSON on stdout, human text (progress, warnings,
reports) on stderr. ``validate``, ``run --dry-run`` and ``status`` do not import Prefect.

Exit codes: 0 success; 1 the run failed (a task or stacking); 2 bad input (plan errors,
unknown run, bad arguments).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from rich.console import Console

from planning.errors import PlanError
from planning.loader import load_plan
from planning.models import Plan
from planning.schedule import render_dry_run
from planning.status import read_status, status_path
from planning.validate import check_plan

err = Console(stderr=True, highlight=False, markup=False, soft_wrap=True)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="planflow", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="execute a plan into a stack of branches")
    run.add_argument("plan", type=Path)
    run.add_argument("--repo", type=Path, default=Path("."))
    run.add_argument("--agent", default="shell", help="default agent (default: shell)")
    run.add_argument("--agent-command", help="shell agent command for tasks without their own")
    run.add_argument("--max-parallel", type=int, default=4, help="agents at once (default: 4)")
    run.add_argument("--run-id", help="6 hex; default: the plan's own or derived from its path")
    run.add_argument("--timeout", type=float, default=1800.0, help="agent timeout, seconds")
    run.add_argument("--retries", type=int, default=2)
    run.add_argument("--retry-delay", type=float, default=10.0, help="first retry delay, seconds")
    run.add_argument("--no-gates", action="store_true", help="skip the tasks' quality gates")
    run.add_argument("--format", dest="plan_format", help="plan format (default: detected)")
    run.add_argument("--dry-run", action="store_true", help="print phases and waves, run nothing")
    run.add_argument("-v", "--verbose", action="store_true", help="show Prefect's logs")

    validate = sub.add_parser("validate", help="check a plan and print its problems")
    validate.add_argument("plan", type=Path)
    validate.add_argument("--format", dest="plan_format")

    status = sub.add_parser("status", help="print the status of a run")
    status.add_argument("run_id")
    status.add_argument("--repo", type=Path, default=Path("."))
    status.add_argument("--json", action="store_true", help="the status JSON on stdout")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``planflow`` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "status":
            return cmd_status(args)
        plan = load_checked(args.plan, args.plan_format)
        if args.command == "validate":
            err.print(f"{args.plan}: valid ({len(plan.phases)} phases, {len(plan.tasks())} tasks)")
            return 0
        if args.dry_run:
            print(render_dry_run(plan))
            return 0
        return cmd_run(args, plan)
    except (PlanError, NotARepository) as exc:
        err.print(f"error: {exc}")
        return 2


class NotARepository(Exception):
    """``--repo`` names no usable git repository."""


def state_dir(repo: Path) -> Path:
    """planflow's state folder in ``repo``'s git dir; NotARepository when ``repo`` is none."""
    from gitops.repo import open_repository

    try:
        return open_repository(repo).state_dir
    except ValueError as exc:
        raise NotARepository(str(exc)) from exc


def load_checked(path: Path, plan_format: str | None) -> Plan:
    """Load and validate a plan; print warnings to stderr; PlanError on errors."""
    plan = load_plan(path, plan_format)
    for warning in check_plan(plan):
        err.print(str(warning))
    return plan


def cmd_run(args: argparse.Namespace, plan: Plan) -> int:
    """Execute the plan with Prefect; progress on stderr, the status JSON on stdout."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    if not args.verbose:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    from flows.context import ExecuteParams
    from flows.execute import execute_plan
    from planflow.progress import ProgressDisplay

    params = ExecuteParams(
        plan_path=str(args.plan.resolve()),
        repo=str(args.repo.resolve()),
        agent=args.agent,
        agent_command=args.agent_command,
        max_parallel=args.max_parallel,
        run_id=args.run_id,
        timeout_s=args.timeout,
        retries=args.retries,
        retry_delay_s=args.retry_delay,
        quality_gates=not args.no_gates,
        plan_format=args.plan_format,
    )
    run_id = params.run_id or plan.default_run_id()
    path = status_path(state_dir(args.repo), run_id)
    err.print(f"planflow: run {run_id} of {args.plan} ({len(plan.tasks())} tasks)")
    with ProgressDisplay(path, err):
        state = execute_plan(params, return_state=True)
    status = read_status(path) if path.is_file() else None
    if status is None or status.run_id != run_id:
        err.print(f"error: {state.message or state.name}: {state.result(raise_on_failure=False)}")
        return 1
    print(json.dumps(status.public(), indent=2))
    if status.status != "completed":
        err.print(status.output)
        for task in status.tasks:
            if task.error:
                err.print(f"--- task {task.id} ---\n{task.error}")
        err.print(f"status: planflow status {run_id} --repo {args.repo}")
        return 1
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """Print a run's status: the JSON with ``--json``, else the progress line and task table."""
    path = status_path(state_dir(args.repo), args.run_id)
    if not path.is_file():
        err.print(f"error: no run {args.run_id} in {args.repo} (looked for {path})")
        return 2
    status = read_status(path)
    if args.json:
        print(json.dumps(status.public(), indent=2))
        return 0
    err.print(f"run {status.run_id}: {status.status}  {status.phase or ''}")
    err.print(status.progress_line())
    for task in status.tasks:
        line = f"  {task.id:>6}  {task.state.value:8} {task.branch or '-'}"
        if task.duration_s is not None:
            line += f"  {task.duration_s:.1f}s" + (" (cached)" if task.cached else "")
        err.print(line)
    if status.output:
        err.print(status.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
