"""``planflow mcp`` and ``planflow install-commands``."""

from __future__ import annotations

import argparse
import importlib
import os
import threading
from pathlib import Path

from rich.console import Console

COMMANDS = ("mcp", "install-commands")


def add_agentside_commands(sub: argparse._SubParsersAction) -> None:
    """Add the ``mcp`` and ``install-commands`` subcommands to ``sub``."""
    from planflow.agentside.install import AGENTS

    mcp = sub.add_parser("mcp", help="serve planflow's tools to a coding agent (MCP, stdio)")
    mcp.add_argument("--repo", type=Path, default=Path("."),
                     help="the repository served; tool paths must lie inside it (default: .)")
    mcp.add_argument("--http", type=int, metavar="PORT",
                     help="serve streamable HTTP on 127.0.0.1:PORT (path /mcp) instead of stdio")
    mcp.add_argument("--agent", default="shell",
                     help="the agent of runs whose tool call names none (default: shell)")
    mcp.add_argument("--agent-block", help="a saved AgentConfig block for those runs instead")
    mcp.add_argument("--agent-command", help="the shell agent's command for tasks without their"
                                             " own `run` (set here, never by a tool call)")
    install = sub.add_parser("install-commands",
                             help="write an agent's planflow slash commands and MCP entry")
    install.add_argument("--agent", required=True, choices=sorted(AGENTS))
    install.add_argument("--repo", type=Path, default=Path("."))


def run_agentside(args: argparse.Namespace, err: Console) -> int:
    """Run ``mcp`` (until the client disconnects) or ``install-commands``; the exit code.
    Raises NotARepository for a ``--repo`` that is no git repository."""
    from planflow.cli import open_repo

    repo = open_repo(args.repo)
    if args.command == "install-commands":
        from planflow.agentside.install import install

        for line in install(args.agent, repo.root):
            err.print(line)
        return 0
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from planflow.agentside.jobs import ServerDefaults
    from planflow.agentside.server import build_server

    server = build_server(repo.root, ServerDefaults(agent=args.agent, agent_block=args.agent_block,
                                                    agent_command=args.agent_command))
    threading.Thread(target=_warm_up, name="planflow-mcp-warm-up", daemon=True).start()
    if args.http:
        err.print(f"planflow mcp: http://127.0.0.1:{args.http}/mcp serving {repo.root}")
        server.run("streamable-http", host="127.0.0.1", port=args.http)
    else:
        server.run()
    return 0


def _warm_up() -> None:
    """Import what starting a run needs (Prefect, the flows) while the client connects, so the
    first execute_plan call returns in about a second rather than after those imports."""
    for module in ("flows.context", "flows.execute", "prefect.client.orchestration"):
        importlib.import_module(module)
