"""The runs the MCP tools start, as ``launch.Job``: the ``planflow`` command line of the local
process and the flow parameters of the deployment, built from the same validated model (so
the two ways of running take the same options)."""

from __future__ import annotations

from pydantic import BaseModel

from planflow.agentside.launch import Job


class ServerDefaults(BaseModel):
    """What the person who started ``planflow mcp`` chose for every run: the default
    ``agent``, ``agent_block`` and the shell agent's ``agent_command`` (tool arguments can name
    another agent or block, but never a command: nothing from a tool call reaches a shell)."""

    agent: str = "shell"
    agent_block: str | None = None
    agent_command: str | None = None


def _agent_flags(agent: str, agent_block: str | None, agent_command: str | None) -> list[str]:
    flags = ["--agent-block", agent_block] if agent_block else ["--agent", agent]
    return flags + (["--agent-command", agent_command] if agent_command else [])


def _common_flags(params: BaseModel) -> list[str]:
    return ["--repo", params.repo, "--run-id", params.run_id, "--timeout", str(params.timeout_s),
            "--retries", str(params.retries), "--retry-delay", str(params.retry_delay_s),
            *_agent_flags(params.agent, params.agent_block, params.agent_command)]


def execute_job(params, strict: bool) -> Job:
    """The ``execute-plan`` run of ``params`` (an ``ExecuteParams`` with ``run_id`` set and an
    absolute ``plan_path``); ``strict``: file conflicts are errors."""
    argv = ["run", *_common_flags(params), "--max-parallel", str(params.max_parallel)]
    argv += ["--schedule", params.schedule.value] if params.schedule else []
    argv += [] if params.quality_gates else ["--no-gates"]
    argv += ["--budget-usd", str(params.budget_usd)] if params.budget_usd is not None else []
    argv += [] if params.serialize_conflicts else ["--allow-overlap"]
    argv += ["--strict"] if strict else []
    if params.resolve_conflicts is not None:
        argv.append("--resolve-conflicts" if params.resolve_conflicts else "--no-resolve-conflicts")
    return Job("execute", params.run_id, [*argv, "--", params.plan_path],
               "execute-plan/execute-plan", params, _flow("flows.execute", "execute_plan"))


def spec_job(params) -> Job:
    """The ``write-spec`` run of ``params`` (a ``SpecParams`` with ``run_id`` set)."""
    return Job("spec", params.run_id, ["spec", *_common_flags(params), "--attempts",
                                       str(params.attempts), "--", params.request],
               "write-spec/write-spec", params, _flow("flows.spec", "write_spec"))


def plan_job(params) -> Job:
    """The ``write-plan`` run of ``params`` (a ``PlanParams`` with ``run_id`` set and an
    absolute ``spec_path``)."""
    return Job("plan", params.run_id, ["plan", *_common_flags(params), "--attempts",
                                       str(params.attempts), "--max-parallel",
                                       str(params.max_parallel), "--", params.spec_path],
               "write-plan/write-plan", params, _flow("flows.author_plan", "write_plan"))


def _flow(module: str, name: str):
    def load():
        import importlib

        return getattr(importlib.import_module(module), name)

    return load

