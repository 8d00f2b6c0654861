"""``planflow spec``, ``planflow plan`` and ``planflow ship``: the authoring commands.

Each runs its flow in this process against the Prefect server ``prefect_env.prepare_prefect``
picks (``PREFECT_API_URL``, else planflow's local server, or with ``--ephemeral`` a temporary one) with the progress line on stderr and the result JSON on stdout. Exit codes: 0 done;
1 the agent failed, its document was rejected, a reviewer rejected it or execution failed;
2 bad input, or the run id is taken by another run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console

from agents.base import AgentConfigError
from gitops.runlock import RunInProgress
from planflow.prefect_env import prepare_prefect, run_flow_state
from planflow.server_cli import add_server_option
from planning.authoring import folder_run_id, new_run_id
from planning.errors import PlanError
from planning.status import status_path

COMMANDS = ("spec", "plan", "ship")

BAD_INPUT = (PlanError, AgentConfigError, RunInProgress, ValueError)
"""Errors of a flow run that mean bad input (exit code 2), not a failed agent."""


def add_authoring_commands(sub: argparse._SubParsersAction) -> None:
    """Add the ``spec``, ``plan`` and ``ship`` subcommands to ``sub``."""
    spec = sub.add_parser("spec", help="have an agent write the spec of a feature request")
    spec.add_argument("request", help="the feature request, in quotes")
    plan = sub.add_parser("plan", help="have an agent decompose a spec into a validated plan.md")
    plan.add_argument("spec_path", help="specs/{run_id}-{slug}/spec.md (checkout or spec branch)")
    ship = sub.add_parser("ship", help="spec, plan and execute a feature request in one run")
    ship.add_argument("request", help="the feature request, in quotes")
    ship.add_argument("--no-gates", action="store_true", help="skip the tasks' quality gates")
    ship.add_argument("--budget-usd", type=float,
                      help="start no new task once the run's reported cost passes this (USD)")
    ship.add_argument("--approve-spec", action="store_true",
                      help="pause for an approval of the spec in the Prefect UI (not with --ephemeral)")
    ship.add_argument("--approve-plan", action="store_true",
                      help="pause for an approval of the plan in the Prefect UI (not with --ephemeral)")
    for parser in (spec, plan, ship):
        parser.add_argument("--repo", type=Path, default=Path("."),
                            help="the git repository (default: .)")
        parser.add_argument("--agent", default="shell",
                            help="shell, claude, codex, gemini, opencode, aider, qwen (default: shell)")
        parser.add_argument("--agent-block", help="a saved AgentConfig block (instead of --agent)")
        parser.add_argument("--agent-command", help="the shell agent's command")
        parser.add_argument("--run-id", help="6 hex; default: a new one (plan: the spec folder's)")
        parser.add_argument("--timeout", type=float, default=1800.0, help="agent timeout, seconds (default: 1800)")
        parser.add_argument("--retries", type=int, default=2, help="retries of a failed agent run (default: 2)")
        parser.add_argument("--retry-delay", type=float, default=10.0, help="first retry delay, seconds (default: 10)")
        parser.add_argument("--attempts", type=int, default=3,
                            help="agent attempts at a document planflow accepts (default: 3)")
        parser.add_argument("-v", "--verbose", action="store_true", help="show Prefect's logs")
        add_server_option(parser)
    for parser in (plan, ship):
        parser.add_argument("--max-parallel", type=int, default=4, help="agents at once (default: 4)")


def run_authoring(args: argparse.Namespace, err: Console, state_dir: Path) -> int:
    """Run the ``spec``, ``plan`` or ``ship`` flow for parsed ``args``; ``state_dir`` is the
    repository's planflow folder. Returns the exit code. Raises pydantic's ValidationError for
    a bad option value (e.g. a run id that is not 6 hex)."""
    url = prepare_prefect(args.verbose, args.ephemeral, err.print)
    if getattr(args, "approve_spec", False) or getattr(args, "approve_plan", False):
        if not url:
            err.print("error: approvals pause the flow run until someone resumes it in the Prefect"
                      " UI: drop --ephemeral, or set PREFECT_API_URL to a Prefect server")
            return 2
    from flows.authoring import AgentParams
    from planflow.progress import ProgressDisplay

    run_id = args.run_id
    if args.command == "plan":
        run_id = run_id or folder_run_id(args.spec_path)[0]
        spec_path = Path(args.spec_path)
        args.spec_path = str(spec_path.resolve()) if spec_path.exists() else args.spec_path
    agent = AgentParams(
        repo=str(args.repo.resolve()), agent=args.agent, agent_block=args.agent_block,
        agent_command=args.agent_command, run_id=run_id or new_run_id(), timeout_s=args.timeout,
        retries=args.retries, retry_delay_s=args.retry_delay, attempts=args.attempts,
    ).model_dump()
    flow, params = _flow(args, agent)
    path = status_path(state_dir, agent["run_id"])
    err.print(f"planflow: run {agent['run_id']}: {args.command}")
    with ProgressDisplay(path, err):
        state = run_flow_state(flow, params, err.print)
    result = state.result(raise_on_failure=False)
    if not state.is_completed():
        from flows.run_slot import is_busy

        err.print(f"error: {result if isinstance(result, BaseException) else state.message}")
        err.print(f"status: planflow status {agent['run_id']} --repo {args.repo}")
        return 2 if isinstance(result, BAD_INPUT) or is_busy(state) else 1
    print(json.dumps(result, indent=2))
    err.print(_next_step(args, result))
    return 0


def _flow(args: argparse.Namespace, agent: dict):
    """The flow function and its parameters model for ``args.command``."""
    if args.command == "spec":
        from flows.spec import SpecParams, write_spec

        return write_spec, SpecParams(**agent, request=args.request)
    if args.command == "plan":
        from flows.author_plan import PlanParams, write_plan

        return write_plan, PlanParams(**agent, spec_path=args.spec_path, max_parallel=args.max_parallel)
    from flows.ship import ShipParams, ship

    return ship, ShipParams(**agent, request=args.request, max_parallel=args.max_parallel,
                            quality_gates=not args.no_gates, budget_usd=args.budget_usd,
                            approve_spec=args.approve_spec, approve_plan=args.approve_plan)


def _next_step(args: argparse.Namespace, result: dict) -> str:
    """What the user reads on stderr after a successful command."""
    if args.command == "spec":
        return (f"review it: git show {result['branch']}:{result['path']}\n"
                f"next: planflow plan {result['path']} --repo {args.repo}")
    if args.command == "plan":
        return (f"review it: git show {result['branch']}:{result['path']}\n"
                f"next: git switch {result['branch']} && planflow run {result['path']}")
    return f"stack: {' -> '.join(result['stack'])}"
