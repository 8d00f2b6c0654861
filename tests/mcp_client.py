"""Test helper: ``planflow mcp`` in a subprocess, driven with the MCP SDK's own client.

``session(repo, env, *args)`` starts the server over stdio and yields ``Calls``, a thin sync
façade (each call runs the SDK's async client in one portal thread), so tests read top down.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from anyio.from_thread import start_blocking_portal

BIN = Path(sys.executable).parent
FINAL = ("completed", "failed", "stopped")


class Calls:
    """Sync calls on a connected SDK ``Client``."""

    def __init__(self, portal, client) -> None:
        self.portal, self.client = portal, client

    def tools(self) -> list[str]:
        return [t.name for t in self.portal.call(self.client.list_tools).tools]

    def call(self, name: str, **arguments: Any):
        """The ``CallToolResult`` of tool ``name``."""
        return self.portal.call(self.client.call_tool, name, arguments)

    def ok(self, name: str, **arguments: Any) -> dict:
        """The structured result of a call that must succeed."""
        result = self.call(name, **arguments)
        assert not result.is_error, result.content[0].text
        return result.structured_content

    def error(self, name: str, **arguments: Any) -> str:
        """The text of a call that must fail."""
        result = self.call(name, **arguments)
        assert result.is_error, result.structured_content
        return result.content[0].text

    def resource(self, uri: str) -> dict:
        return json.loads(self.portal.call(self.client.read_resource, uri).contents[0].text)

    def wait(self, run_id: str, until=None, timeout_s: float = 600) -> dict:
        """Poll ``run_status`` until ``until(status)`` (default: the run ended and its process
        or flow run too); the last status."""
        until = until or (lambda s: s["status"] in FINAL and not s["launch"]["executing"])
        deadline = time.monotonic() + timeout_s
        while True:
            status = self.ok("run_status", run_id=run_id)
            if until(status):
                return status
            assert time.monotonic() < deadline, f"run {run_id} after {timeout_s} s: {status}"
            time.sleep(1)


@contextmanager
def session(repo: Path, env: dict[str, str], *args: str) -> Iterator[Calls]:
    """``planflow mcp --repo REPO ARGS`` over stdio with ``env``, started in ``repo``."""
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    params = StdioServerParameters(command=str(BIN / "planflow"), args=["mcp", "--repo", str(repo), *args],
                                   env=env, cwd=str(repo))
    with start_blocking_portal() as portal:
        client = Client(params, read_timeout_seconds=300)
        with portal.wrap_async_context_manager(client) as connected:
            yield Calls(portal, connected)


def server_env(**extra: str) -> dict[str, str]:
    """This test process's environment with the venv first on PATH, plus ``extra``."""
    import os

    return dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}", **extra)
