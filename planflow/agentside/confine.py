"""Paths from MCP tool arguments, confined to the repository the server was started in."""

from __future__ import annotations

import re
from pathlib import Path

RUN_ID = re.compile(r"^[0-9a-f]{6}$")


class OutsideRepository(ValueError):
    """A tool argument names a path outside the server's repository (or no usable path)."""


def confine(root: Path, value: str, what: str = "path") -> Path:
    """``value`` (relative to ``root``, or absolute) as an absolute path with symlinks
    resolved, which must lie inside ``root`` (itself resolved). ``what`` names the argument in
    messages. Raises OutsideRepository for an empty value, a NUL byte, or a path that leaves
    ``root`` (through ``..``, an absolute path elsewhere, or a symlink pointing out)."""
    root = root.resolve()
    if not value or "\0" in value:
        raise OutsideRepository(f"{what} {value!r} is not a path (fix: give a path inside {root})")
    resolved = (root / value).resolve()
    if not resolved.is_relative_to(root):
        raise OutsideRepository(
            f"{what} {value} is outside the repository {root} that planflow mcp serves"
            f" (it resolves to {resolved}) (fix: give a path inside {root})")
    return resolved


def check_run_id(run_id: str) -> str:
    """``run_id`` when it is 6 lowercase hex characters; ValueError otherwise."""
    if not RUN_ID.match(run_id):
        raise ValueError(f"run id {run_id!r} is not 6 hex characters (fix: give the run id"
                         " execute_plan, write_spec or write_plan returned)")
    return run_id
