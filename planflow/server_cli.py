"""``planflow server start|stop|status``: the local Prefect server planflow reuses
(``planflow.server_local``), and the ``--ephemeral`` option of the commands that run flows.

``start`` and ``status`` print the server as JSON on stdout (``running``, ``ui_url``,
``api_url``, ``pid``, ``prefect``, ``home``, ``log``), a line on stderr. Exit codes: 0; 3 when
``start`` cannot start it (``prefect_env.EXIT_PREFECT``).
"""

from __future__ import annotations

import argparse
import json

from rich.console import Console

from planflow import server_local
from planflow.prefect_env import EXIT_PREFECT


def add_server_command(sub: argparse._SubParsersAction) -> None:
    """Add ``planflow server start|stop|status`` to ``sub``."""
    server = sub.add_parser("server", help="start, stop or show the local Prefect server planflow"
                                           " reuses (when PREFECT_API_URL is not set)")
    server.add_argument("action", choices=["start", "stop", "status"],
                        help="start: start it unless it runs; stop: stop it; status: show it")


def add_server_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--ephemeral`` to a command that runs flows."""
    parser.add_argument("--ephemeral", action="store_true",
                        help="use a temporary Prefect server of this command's own (no UI, gone"
                             " at exit) instead of the local server (default: the local server,"
                             " or PREFECT_API_URL when set)")


def cmd_server(args: argparse.Namespace, err: Console) -> int:
    """Run ``planflow server ACTION``; returns the exit code."""
    try:
        if args.action == "start":
            record = server_local.ensure(err.print)
        elif args.action == "stop":
            record = server_local.stop()
            err.print(f"planflow: stopped the local Prefect server (pid {record.pid})" if record
                      else "planflow: no local Prefect server runs")
            return 0
        else:
            record = server_local.running()
    except server_local.ServerError as exc:
        err.print(f"error: {exc}")
        return EXIT_PREFECT
    report = {"running": record is not None and server_local.answers(record.port),
              "ui_url": record.ui_url if record else None,
              "api_url": record.api_url if record else None,
              "pid": record.pid if record else None,
              "prefect": record.prefect if record else None,
              "home": str(server_local.home()), "log": str(server_local.log_path())}
    print(json.dumps(report, indent=2))
    err.print(f"planflow: the local Prefect server runs: UI {record.ui_url} (pid {record.pid})"
              if report["running"] else "planflow: no local Prefect server answers")
    return 0
