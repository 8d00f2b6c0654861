"""``planflow mcp``: the MCP server (official Python SDK) whose tools drive planflow.

Tools: ``validate_plan`` and ``dry_run`` (the CLI's findings and schedule, structured),
``execute_plan``, ``write_spec`` and ``write_plan`` (start a run and return at once with its run
id and UI URL: ``launch``), ``run_status`` and ``cancel_run`` (``watch``); resource
``planflow://runs/{run_id}/status``. A failure is a tool error (``is_error``) carrying the
CLI's message: a plan error names file, line and the fix. Paths in arguments are confined to
the repository the server serves (``confine``); no argument reaches a shell.
"""

from __future__ import annotations

import functools
import inspect
import json
from pathlib import Path
from typing import Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, TextContent
from pydantic import ValidationError

from agents.base import AgentConfigError
from gitops.repo import Repository
from gitops.runlock import RunInProgress
from planflow.agentside.confine import OutsideRepository, check_run_id, confine
from planflow.agentside.jobs import ServerDefaults
from planflow.cli import NotARepository, load_checked, open_repo, schedule_report, validation_message
from planflow.cli import validation_report
from planning.errors import PlanError
from planning.redaction import redact, scrub

INSTRUCTIONS = """\
planflow runs implementation plans (phases of tasks) as Prefect flows: each task is a coding
agent in its own git worktree and branch, and the branches end as a stack. Check a plan with
validate_plan and dry_run; start it with execute_plan (or write a spec with write_spec, then a
plan with write_plan): these return at once with a run id. Then call run_status(run_id) every
30 seconds or so until its status is completed, failed or stopped, and report the stack or the
failed tasks' errors. cancel_run stops a run; its branches and worktrees are kept."""

EXPECTED = (PlanError, OutsideRepository, NotARepository, RunInProgress, AgentConfigError,
            FileNotFoundError, ValueError, RuntimeError, OSError)
"""Failures reported to the model as tool errors with their message (anything else is a crash,
which the SDK reports without details)."""


def tool_errors(fn):
    """Turn ``EXPECTED`` failures of tool ``fn`` into ``ToolError`` with the CLI's message, and
    redact what the tool returns or says (``planning.redaction``): the MCP wire is stdout, which
    the CLI leaves unwrapped for this command."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return scrub(fn(*args, **kwargs))
        except ValidationError as exc:
            raise ToolError(redact(validation_message(exc))) from exc
        except EXPECTED as exc:
            raise ToolError(redact(str(exc))) from exc
    return wrapper


def build_server(root: Path, defaults: ServerDefaults) -> MCPServer:
    """The MCP server for the git repository at ``root`` (its root folder: every path argument
    must lie inside it), starting runs with ``defaults``. Raises NotARepository."""
    repo = open_repo(root)
    server = MCPServer("planflow", instructions=INSTRUCTIONS, log_level="WARNING")
    tools = Tools(repo, defaults)
    for name in ("validate_plan", "dry_run", "execute_plan", "run_status", "cancel_run",
                 "write_spec", "write_plan"):
        method = getattr(tools, name)
        server.add_tool(tool_errors(method), name=name, description=inspect.cleandoc(method.__doc__))

    @server.resource("planflow://runs/{run_id}/status", mime_type="application/json",
                     description="The status JSON of a run (as run_status returns it).")
    def run_status_resource(run_id: str) -> str:
        return json.dumps(scrub(tools.run_status(run_id)), indent=2)

    return server


class Tools:
    """The tool functions, bound to the served repository and the server's run defaults."""

    def __init__(self, repo: Repository, defaults: ServerDefaults) -> None:
        self.repo, self.defaults = repo, defaults
        self.root = repo.root.resolve()

    def validate_plan(self, path: str, strict: bool = False,
                      serialize_conflicts: bool = True) -> CallToolResult:
        """Check a plan file (spectacular plan.md, spec-kit tasks.md, autospec tasks.yaml,
        droidz, chopstack, native YAML, JSON) as `planflow validate` does. Returns `valid`,
        `phases` and `tasks` as read (each task with `phase`, `files`, `depends_on`, `skipped`),
        `errors` and `warnings` (each with `code`, `message`, `file`, `line`,
        `fix`); an invalid plan is a tool error whose text is `file:line: error: message (fix:
        ...)` per finding. `strict`: two tasks that may run at once declaring one file is an
        error (with `serialize_conflicts` off); `serialize_conflicts` (default): such tasks run
        in one lane, one after the other (listed in `lanes`)."""
        report = validation_report(confine(self.root, path), None, strict, serialize_conflicts)
        text = "\n".join(report.pop("lines"))
        return CallToolResult(content=[TextContent(type="text", text=text)],
                              structured_content=report, is_error=not report["valid"])

    def dry_run(self, path: str, max_parallel: int = 4,
                schedule: Literal["dag", "phases", "waves"] | None = None,
                strict: bool = False, serialize_conflicts: bool = True) -> dict[str, Any]:
        """The schedule `planflow run --dry-run --json` prints, running nothing: phases and
        their waves, critical path, sequential and parallel hours with `max_parallel` agents,
        the savings, skipped tasks, the schedule mode and the estimate with `dag`; plus the
        plan's `warnings`. A plan with errors is a tool error naming file and line."""
        warnings: list[str] = []
        plan = load_checked(confine(self.root, path), None, strict, serialize_conflicts,
                            warn=warnings.append)
        return schedule_report(plan, max_parallel, schedule) | {"warnings": warnings}

    def execute_plan(self, path: str, repo: str = ".", agent: str | None = None,
                     agent_block: str | None = None, max_parallel: int = 4,
                     run_id: str | None = None,
                     schedule: Literal["dag", "phases", "waves"] | None = None,
                     timeout_s: float = 1800.0, retries: int = 2, quality_gates: bool = True,
                     budget_usd: float | None = None, strict: bool = False,
                     serialize_conflicts: bool = True,
                     resolve_conflicts: bool | None = None) -> dict[str, Any]:
        """Start executing a plan into a stack of branches and return at once: `run_id`,
        `ui_url` (the Prefect flow run's page; null without a Prefect server), `mode`
        (`deployment`: a worker runs it; `local`: a background process on this machine),
        `tasks`, `warnings`. Poll run_status(run_id) until it ends. `agent`: shell, claude,
        codex, gemini, opencode, aider or qwen (default: the server's); `agent_block`: a saved
        AgentConfig block instead. The other options are `planflow run`'s. A running plan
        cannot be started twice; an invalid plan is a tool error naming file and line."""
        from flows.context import ExecuteParams
        from planflow.agentside import jobs

        plan_path = confine(self.root, path)
        warnings: list[str] = []
        plan = load_checked(plan_path, None, strict, serialize_conflicts, warn=warnings.append)
        target = self._repository(repo)
        params = ExecuteParams(
            plan_path=str(plan_path), repo=str(target.root), **self._agent(agent, agent_block),
            max_parallel=max_parallel, run_id=run_id or plan.default_run_id(), schedule=schedule,
            timeout_s=timeout_s, retries=retries, quality_gates=quality_gates,
            budget_usd=budget_usd, serialize_conflicts=serialize_conflicts,
            resolve_conflicts=resolve_conflicts)
        launch = self._start(jobs.execute_job(params, strict), target)
        return launch | {"plan": str(plan_path), "tasks": len(plan.tasks()), "warnings": warnings}

    def write_spec(self, request: str, agent: str | None = None, agent_block: str | None = None,
                   timeout_s: float = 1800.0, attempts: int = 3) -> dict[str, Any]:
        """Start the spec flow (`planflow spec`): an agent writes
        specs/{run_id}-{slug}/spec.md for the feature `request` on the branch {run_id}-spec,
        checked and sent back to it at most `attempts` times. Returns at once with `run_id` and
        `ui_url`; run_status(run_id) gives `result` (path, branch, commit) once it is done."""
        from flows.spec import SpecParams
        from planflow.agentside import jobs
        from planning.authoring import new_run_id

        params = SpecParams(repo=str(self.root), **self._agent(agent, agent_block),
                            run_id=new_run_id(), timeout_s=timeout_s, attempts=attempts,
                            request=request)
        return self._start(jobs.spec_job(params), self.repo)

    def write_plan(self, spec_path: str, agent: str | None = None, agent_block: str | None = None,
                   max_parallel: int = 4, timeout_s: float = 1800.0,
                   attempts: int = 3) -> dict[str, Any]:
        """Start the plan flow (`planflow plan`): an agent decomposes the spec at `spec_path`
        (in the checkout, or committed on its {run_id}-spec branch) into a validated plan.md
        next to it on the branch {run_id}-plan. Returns at once with `run_id` and `ui_url`;
        run_status(run_id) gives `result` (path, branch, commit) once it is done."""
        from flows.author_plan import PlanParams
        from planflow.agentside import jobs
        from planning.authoring import folder_run_id, new_run_id

        spec = confine(self.root, spec_path, "spec_path")
        params = PlanParams(repo=str(self.root), **self._agent(agent, agent_block),
                            run_id=folder_run_id(spec)[0] or new_run_id(), timeout_s=timeout_s,
                            attempts=attempts, spec_path=str(spec), max_parallel=max_parallel)
        return self._start(jobs.plan_job(params), self.repo)

    def run_status(self, run_id: str) -> dict[str, Any]:
        """The status JSON of a run (`planflow status RUN_ID --json`): `status` (starting,
        running, completed, failed, stopped), `phase`, `completed_tasks`, `failed_tasks`,
        `output`, `stack` (the branches, base first), `tasks` with their errors, `totals`;
        for a run started here also `launch` (mode, ui_url, whether it still executes) and,
        for write_spec/write_plan, `result`."""
        from planflow.agentside.watch import run_report

        return run_report(self.repo, check_run_id(run_id))

    def cancel_run(self, run_id: str) -> dict[str, Any]:
        """Cancel a run started here: through Prefect (its flow run is cancelled), and its
        process and agents are stopped. Its worktrees and branches are kept (listed in the
        answer) for inspection or a later resume. A run that is not executing is a tool error."""
        from planflow.agentside.watch import cancel

        return cancel(self.repo, check_run_id(run_id))

    def _agent(self, agent: str | None, agent_block: str | None) -> dict[str, Any]:
        """The agent fields of a run's parameters: the tool's choice, else the server's."""
        from agents.registry import get_agent

        if agent is not None or agent_block is not None:
            block, name = agent_block, agent or "shell"
        else:
            block, name = self.defaults.agent_block, self.defaults.agent
        if not block:
            get_agent(name)
        command = self.defaults.agent_command if name == "shell" and not block else None
        return {"agent": name, "agent_block": block, "agent_command": command}

    def _repository(self, repo: str) -> Repository:
        """The repository ``repo`` names, which must lie inside the served one."""
        target = open_repo(confine(self.root, repo, "repo"))
        confine(self.root, str(target.root), "repo")
        return target

    def _start(self, job: Any, target: Repository) -> dict[str, Any]:
        from planflow.agentside.launch import start

        launch = start(job, target.root, target.state_dir)
        return {"run_id": launch.run_id, "status": "started", "mode": launch.mode,
                "ui_url": launch.ui_url, "flow_run_id": launch.flow_run_id,
                "next": f"call run_status with run_id {launch.run_id} until it ends"}
