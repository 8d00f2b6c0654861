"""``planflow``: run, dry-run, validate and inspect plans.

Output follows git-spice: machine-readable JSON on stdout, human text (progress, warnings,
reports) on stderr. ``validate``, ``run --dry-run`` and ``status`` do not import Prefect.

Exit codes: 0 success; 1 the run failed (a task or stacking); 2 bad input (plan errors,
unknown run, bad arguments); 3 Prefect could not be started or reached
(``planflow.prefect_env``); 4 the run is already executing; 5 out of disk space
(``planflow.run_result``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError
from rich.console import Console

from gitops.repo import Repository, open_repository
from planflow.authoring_cli import COMMANDS as AUTHORING_COMMANDS
from planflow.authoring_cli import add_authoring_commands, run_authoring
from planflow.agentside.cli import COMMANDS as AGENTSIDE_COMMANDS
from planflow.agentside.cli import add_agentside_commands, run_agentside
from planflow.prefect_env import EXIT_PREFECT, PrefectStartError, prepare_prefect, run_flow_state
from planflow.redacted_io import redacted_streams
from planflow.clean_cli import add_clean_command, cmd_clean, human_bytes, worktrees_disk
from planflow.land_cli import add_land_command, cmd_land
from planflow.plan_view import outline_lines, plan_outline
from planflow.server_cli import add_server_command, add_server_option, cmd_server
from planflow.review_cli import add_review_options, review_params
from planning.errors import Issue, PlanError
from planning.loader import load_plan
from planning.models import Plan
from planning.conflicts import serialize_conflicts
from planning.dag import dag_hours, default_mode
from planning.schedule import build_schedule, hours_text, render_mermaid
from planning.status import read_status, status_path
from planning.validate import check_plan, validate_plan
from planning.worktree_config import resolve_config

err = Console(stderr=True, highlight=False, markup=False, soft_wrap=True)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="planflow", description=__doc__.splitlines()[0].replace("``", ""))
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="execute a plan into a stack of branches")
    run.add_argument("plan", type=Path, help="the plan file (plan.md, plan.yaml, tasks.md...)")
    run.add_argument("--repo", type=Path, default=Path("."),
                     help="the git repository the tasks work on (default: .)")
    run.add_argument("--agent", default="shell",
                     help="default agent: shell, claude, codex, gemini, opencode, aider, qwen"
                          " (default: shell)")
    run.add_argument("--agent-block", help="a saved AgentConfig block: the default agent's"
                                           " configuration (instead of --agent)")
    run.add_argument("--budget-usd", type=float,
                     help="start no new task once the run's reported cost passes this (USD)")
    run.add_argument("--agent-command", help="shell agent command for tasks without their own")
    run.add_argument("--max-parallel", type=int, default=4, help="agents at once (default: 4)")
    run.add_argument("--schedule", choices=["dag", "phases", "waves"],
                     help="dag: a task starts when its dependencies are stacked; phases: phase"
                          " barriers; waves: global wave barriers (default: dag when the plan's"
                          " dependencies are explicit, else phases)")
    run.add_argument("--run-id", help="6 hex; default: the plan's own or derived from its path")
    run.add_argument("--timeout", type=float, default=1800.0, help="agent timeout, seconds (default: 1800)")
    run.add_argument("--retries", type=int, default=2,
                     help="retries of a failed agent run (default: 2)")
    run.add_argument("--retry-delay", type=float, default=10.0, help="first retry delay, seconds (default: 10)")
    run.add_argument("--no-gates", action="store_true", help="skip the tasks' quality gates")
    run.add_argument("--resolve-conflicts", action=argparse.BooleanOptionalAction, default=None,
                     help="a resolver agent settles stacking conflicts (default: on for coding"
                          " agents, off for the shell agent)")
    run.add_argument("--format", dest="plan_format", help="plan format (default: detected)")
    run.add_argument("--worktree-config", type=Path,
                     help="YAML file of copy:, setup:, share: for each task's worktree (over the"
                          " repository's .planflow.yaml and the plan's front matter worktree:)")
    run.add_argument("--dry-run", action="store_true",
                     help="print the schedule (phases, waves, critical path, estimates), run nothing")
    run.add_argument("--json", action="store_true", help="with --dry-run: the schedule as JSON")
    run.add_argument("--mermaid", action="store_true",
                     help="with --dry-run: the task graph as a Mermaid flowchart")
    _plan_checks(run)
    add_review_options(run)
    run.add_argument("-v", "--verbose", action="store_true", help="show Prefect's logs")
    add_server_option(run)

    validate = sub.add_parser("validate", help="check a plan and print its problems")
    validate.add_argument("plan", type=Path, help="the plan file")
    validate.add_argument("--format", dest="plan_format")
    validate.add_argument("--json", action="store_true", help="the findings as JSON on stdout")
    validate.add_argument("--show", action="store_true", help="print the plan as planflow read it"
                          " (phases, tasks with files and dependencies, skipped tasks)")
    validate.add_argument("--repo", type=Path, help="the repository the plan runs in: absolute file"
                                                    " paths map to the checkout prefix found in it")
    _plan_checks(validate)

    status = sub.add_parser("status", help="print the status of a run")
    status.add_argument("run_id", help="the run's id (6 hex)")
    status.add_argument("--repo", type=Path, default=Path("."),
                        help="the run's git repository (default: .)")
    status.add_argument("--json", action="store_true", help="the status JSON on stdout")
    add_authoring_commands(sub)
    add_clean_command(sub)
    add_agentside_commands(sub)
    add_land_command(sub)
    add_server_command(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``planflow`` console script; returns the exit code. Everything it
    prints is redacted (``planflow.redacted_io``); ``planflow mcp`` keeps its stdout, the MCP
    wire, and redacts each tool result instead (``planflow.agentside.server``)."""
    args = build_parser().parse_args(argv)
    with redacted_streams(stdout=args.command != "mcp"):
        return _main(args)


def _main(args: argparse.Namespace) -> int:
    try:
        if args.command == "status":
            return cmd_status(args)
        if args.command == "validate":
            return cmd_validate(args)
        if args.command == "clean":
            return cmd_clean(args, open_repo(args.repo), err)
        if args.command in AGENTSIDE_COMMANDS:
            return run_agentside(args, err)
        if args.command == "server":
            return cmd_server(args, err)
        if args.command == "land":
            return cmd_land(args, open_repo(args.repo), err)
        if args.command in AUTHORING_COMMANDS:
            return run_authoring(args, err, state_dir(args.repo))
        plan = load_checked(args.plan, args.plan_format, args.strict, args.serialize_conflicts,
                            repo=args.repo)
        if args.dry_run:
            return cmd_dry_run(args, plan)
        return cmd_run(args, plan)
    except (PlanError, NotARepository) as exc:
        err.print(f"error: {exc}")
        return 2
    except ValidationError as exc:
        err.print(f"error: {validation_message(exc)}")
        return 2
    except PrefectStartError as exc:
        err.print(f"error: {exc}")
        return EXIT_PREFECT


def validation_message(exc: ValidationError) -> str:
    """A pydantic error as one line: each problem's message, ``; ``-separated."""
    return "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())


class NotARepository(Exception):
    """``--repo`` names no usable git repository."""


def open_repo(repo: Path) -> Repository:
    """The repository at ``repo``; NotARepository when ``repo`` is none."""
    try:
        return open_repository(repo)
    except ValueError as exc:
        raise NotARepository(str(exc)) from exc


def state_dir(repo: Path) -> Path:
    """planflow's state folder in ``repo``'s git dir; NotARepository when ``repo`` is none."""
    return open_repo(repo).state_dir


def _plan_checks(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--strict", action="store_true",
                        help="two tasks that may run at the same time declaring one file is an"
                             " error (with --allow-overlap), and so is a spec requirement no task cites")
    parser.add_argument("--allow-overlap", dest="serialize_conflicts", action="store_false",
                        help="run tasks of one wave that declare the same file side by side"
                             " (default: in one lane, one after the other, by an added dependency)")


def load_checked(path: Path, plan_format: str | None, strict: bool = False,
                 serialize: bool = False, warn: Callable[[str], object] | None = None,
                 repo: Path | None = None) -> Plan:
    """Load and validate a plan (``serialize``: after serializing file conflicts; ``repo``: the
    repository absolute file paths are mapped into); pass each warning's text to ``warn``
    (default: print it on stderr); PlanError on errors (``strict``: file conflicts are errors)."""
    plan = load_plan(path, plan_format, repo)
    if serialize and not [i for i in validate_plan(plan) if i.severity == "error"]:
        plan = serialize_conflicts(plan)
    for warning in check_plan(plan, strict):
        (warn or err.print)(str(warning))
    for line in lane_lines(plan):
        (warn or err.print)(line)
    return plan


def lane_lines(plan: Plan) -> list[str]:
    """One line per lane of ``plan`` (tasks that declare common files, run one after the other)."""
    return [f"{plan.source or plan.name}: one lane, one after the other (same files):"
            f" {lane.describe()}" for lane in plan.lanes]


def validation_report(path: Path, plan_format: str | None = None, strict: bool = False,
                      serialize: bool = False, repo: Path | None = None) -> dict:
    """What ``planflow validate --json`` prints: ``file``, ``valid``, ``phases`` and ``tasks``
    as ``planflow.plan_view.plan_outline`` gives them (``tasks[].files``, ``tasks[].depends_on``,
    ``tasks[].phase``...; None when the plan cannot be read) with ``name``, ``run_id`` and
    ``skipped``, ``errors`` and ``warnings`` (each an ``Issue`` as JSON: ``code``, ``message``,
    ``file``, ``line``, ``fix``), ``lanes`` (``planning.models.Lane`` as JSON, with
    ``serialize``) and ``lines``, each finding and lane as
    ``file:line: severity: message (fix: ...)``. An unreadable plan is one error finding."""
    try:
        plan = load_plan(path, plan_format, repo)
        if serialize and not any(i.severity == "error" for i in validate_plan(plan)):
            plan = serialize_conflicts(plan)
        issues = validate_plan(plan, strict)
    except PlanError as exc:
        plan, issues = None, [Issue(code=exc.code, message=exc.message, file=exc.file,
                                    line=exc.line, fix=exc.fix)]
    errors = [issue for issue in issues if issue.severity == "error"]
    summary = f"{len(plan.phases)} phases, {len(plan.tasks())} tasks" if plan else "unreadable"
    outline = plan_outline(plan) if plan else dict.fromkeys(("name", "run_id", "phases", "tasks",
                                                             "skipped"))
    return {
        "file": str(path), "valid": not errors, **outline,
        "errors": [i.model_dump(mode="json") for i in errors],
        "warnings": [i.model_dump(mode="json") for i in issues if i.severity == "warning"],
        "lanes": [lane.model_dump(mode="json") for lane in plan.lanes] if plan else [],
        "lines": [str(issue) for issue in issues] + (lane_lines(plan) if plan else []) + [
            f"{path}: {'invalid' if errors else 'valid'} ({summary};"
            f" {counted(len(errors), 'error')}, {counted(len(issues) - len(errors), 'warning')})"],
    }


def counted(count: int, noun: str) -> str:
    """``1 error``, ``2 errors``: ``count`` and ``noun``, plural unless one."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def cmd_validate(args: argparse.Namespace) -> int:
    """Print a plan's errors and warnings (stderr, or JSON on stdout), with ``--show`` the plan
    as read first (stdout); 0 when it has no errors, 1 otherwise."""
    report = validation_report(args.plan, args.plan_format, args.strict, args.serialize_conflicts,
                               args.repo)
    lines = report.pop("lines")
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        if args.show and report["tasks"] is not None:
            print("\n".join(outline_lines(report)))
        for line in lines:
            err.print(line)
    return 0 if report["valid"] else 1


def schedule_report(plan: Plan, max_parallel: int, schedule: str | None = None) -> dict:
    """What ``planflow run --dry-run --json`` prints: the ``Schedule`` as JSON (phases, waves,
    critical path, hours) plus ``schedule`` (the mode the run would use: ``schedule`` when
    given, else the plan's default) and ``dag_hours`` (the estimate with ``dag``)."""
    return {**build_schedule(plan, max_parallel).model_dump(mode="json"),
            "schedule": schedule or default_mode(plan).value,
            "dag_hours": dag_hours(plan, max_parallel)}


def cmd_dry_run(args: argparse.Namespace, plan: Plan) -> int:
    """Print the schedule on stdout: a table and the execution summary, or ``--json``, or
    ``--mermaid``; with the schedule mode the run would use and its estimate with ``dag``."""
    if args.json:
        print(json.dumps(schedule_report(plan, args.max_parallel, args.schedule), indent=2))
        return 0
    schedule = build_schedule(plan, args.max_parallel)
    mode = args.schedule or default_mode(plan).value
    dag = dag_hours(plan, args.max_parallel)
    if args.mermaid:
        print(render_mermaid(plan), end="")
    else:
        from planflow.schedule_view import print_schedule

        width = None if sys.stdout.isatty() else 160
        print_schedule(plan, schedule, Console(highlight=False, markup=False, width=width))
        print(f"- Schedule: {mode}; with --schedule dag ({args.max_parallel} agents):"
              f" {hours_text(dag)}")
    return 0


def cmd_run(args: argparse.Namespace, plan: Plan) -> int:
    """Execute the plan with Prefect; progress on stderr, the status JSON on stdout."""
    resolve_config(open_repo(args.repo).root, plan.source, args.worktree_config)  # bad: exit 2
    prepare_prefect(args.verbose, args.ephemeral, err.print)
    from flows.context import ExecuteParams
    from flows.execute import execute_plan
    from planflow.ledger import render_ledger
    from planflow.run_result import describe_error, exit_code, own_status, run_error
    from planflow.progress import ProgressDisplay

    params = ExecuteParams(
        plan_path=str(args.plan.resolve()),
        repo=str(args.repo.resolve()),
        agent=args.agent,
        agent_command=args.agent_command,
        agent_block=args.agent_block,
        budget_usd=args.budget_usd,
        max_parallel=args.max_parallel,
        run_id=args.run_id,
        timeout_s=args.timeout,
        retries=args.retries,
        retry_delay_s=args.retry_delay,
        quality_gates=not args.no_gates,
        plan_format=args.plan_format,
        serialize_conflicts=args.serialize_conflicts,
        **review_params(args),
        resolve_conflicts=args.resolve_conflicts,
        schedule=args.schedule,
        worktree_config=str(args.worktree_config.resolve()) if args.worktree_config else None,
    )
    run_id = params.run_id or plan.default_run_id()
    path = status_path(state_dir(args.repo), run_id)
    err.print(f"planflow: run {run_id} of {args.plan} ({len(plan.tasks())} tasks)")
    with ProgressDisplay(path, err):
        state = run_flow_state(execute_plan, params, err.print)
    status = own_status(path, run_id, state)
    error = run_error(state)
    if status is None:  # the run wrote no final status: what ended it is the result
        err.print(f"error: {describe_error(error) if error else state.message or state.name}")
        return exit_code(error, state)
    print(json.dumps(status.public(), indent=2))
    err.print(render_ledger(status))
    if status.status != "completed":
        err.print(status.output)
        for task in status.tasks:
            if task.error:
                err.print(f"--- task {task.id} ---\n{task.error}")
        err.print(f"status: planflow status {run_id} --repo {args.repo}")
    if error is not None:
        err.print(f"error: {describe_error(error)}")
        return exit_code(error)
    return 0 if status.status == "completed" else 1


def unknown_run(run_id: str, repo: Path, path: Path) -> str:
    """The message for a run id without a status file at ``path``."""
    return f"no run {run_id} in {repo} (looked for {path})"


def status_report(repo: Path, run_id: str) -> dict:
    """What ``planflow status RUN_ID --json`` prints: the run's public status JSON plus
    ``worktrees`` (how many the run has) and ``worktrees_disk_bytes``. Raises
    NotARepository, and FileNotFoundError (message: ``unknown_run``) for a run without status."""
    path = status_path(state_dir(repo), run_id)
    if not path.is_file():
        raise FileNotFoundError(unknown_run(run_id, repo, path))
    count, used = worktrees_disk(open_repo(repo), run_id)
    return read_status(path).public() | {"worktrees": count, "worktrees_disk_bytes": used}


def cmd_status(args: argparse.Namespace) -> int:
    """Print a run's status: the JSON with ``--json``, else the progress line and task table."""
    path = status_path(state_dir(args.repo), args.run_id)
    if not path.is_file():
        err.print(f"error: {unknown_run(args.run_id, args.repo, path)}")
        return 2
    if args.json:
        print(json.dumps(status_report(args.repo, args.run_id), indent=2))
        return 0
    status = read_status(path)
    count, used = worktrees_disk(open_repo(args.repo), args.run_id)
    err.print(f"run {status.run_id}: {status.status}  {status.phase or ''}")
    err.print(f"worktrees: {count} using {human_bytes(used)}"
              + (f" (`planflow clean {args.run_id}` removes them)" if count and status.finished_at else ""))
    err.print(status.progress_line())
    for task in status.tasks:
        line = f"  {task.id:>6}  {task.state.value:8} {task.branch or '-'}"
        if task.duration_s is not None:
            line += f"  {task.duration_s:.1f}s" + (" (cached)" if task.cached else "")
        if task.worker:
            line += f"  on {task.worker}"
        err.print(line)
    if status.output:
        err.print(status.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
