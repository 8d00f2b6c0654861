"""``planflow install-commands --agent claude|codex|gemini|opencode``: the agent's own command
files for the four planflow commands, and its MCP configuration entry for ``planflow mcp``,
written into the repository without overwriting anything of the user's.

Where each agent looks (from its documentation, checked against the pinned CLIs):

| agent | commands | typed as | MCP entry |
|---|---|---|---|
| Claude Code | ``.claude/commands/planflow/NAME.md`` (front matter) | ``/planflow:execute`` | ``.mcp.json`` ``mcpServers`` |
| Codex | ``.agents/skills/planflow-NAME/SKILL.md`` (skills; custom prompts were removed in 0.117) | ``$planflow-execute`` | ``.codex/config.toml`` ``[mcp_servers.planflow]`` |
| Gemini CLI | ``.gemini/commands/planflow/NAME.toml`` | ``/planflow:execute`` | ``.gemini/settings.json`` ``mcpServers`` |
| opencode | ``.opencode/commands/planflow-NAME.md`` (front matter) | ``/planflow-execute`` | ``opencode.json`` ``mcp`` |

A command file that exists with other content is skipped with a message; a JSON or TOML
configuration file is merged into (an entry ``planflow`` the user already has is kept).
"""

from __future__ import annotations

import json
import shutil
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from planflow.agentside.commands import COMMANDS, Command


@dataclass(frozen=True)
class Layout:
    """Where and how one agent keeps commands and MCP servers: ``path`` and ``text`` of a
    command's file, how the user ``invoke``s it, the ``config`` file, the ``keys`` leading to
    the server entry in it, the ``entry`` for a given executable, and a ``note`` for the user."""

    path: Callable[[Command], str]
    text: Callable[[Command], str]
    invoke: Callable[[Command], str]
    config: str
    keys: tuple[str, ...]
    entry: Callable[[str], dict]
    note: str


def _markdown(command: Command, args: str, **front: str) -> str:
    head = "".join(f"{key}: {json.dumps(value)}\n" for key, value in front.items())
    return f"---\n{head}---\n\n{command.render(args)}"


def _gemini(command: Command) -> str:
    return (f"description = {json.dumps(command.description)}\n"
            f"prompt = '''\n{command.render('{{args}}')}'''\n")


SKILL_ARGS = "the text the user wrote after the skill's name"

AGENTS: dict[str, Layout] = {
    "claude": Layout(
        path=lambda c: f".claude/commands/planflow/{c.name}.md",
        text=lambda c: _markdown(c, "$ARGUMENTS", description=c.description,
                                 **{"argument-hint": c.argument_hint}),
        invoke=lambda c: f"/planflow:{c.name} {c.argument_hint}",
        config=".mcp.json", keys=("mcpServers", "planflow"),
        entry=lambda exe: {"type": "stdio", "command": exe, "args": ["mcp"]},
        note="Claude Code asks once to approve the project's .mcp.json servers (`claude mcp list`"
             " shows them)"),
    "codex": Layout(
        path=lambda c: f".agents/skills/planflow-{c.name}/SKILL.md",
        text=lambda c: _markdown(c, f"({SKILL_ARGS}: {c.argument_hint})", name=f"planflow-{c.name}",
                                 description=f"{c.description} with planflow's MCP tools. Use"
                                             f" only when the user invokes $planflow-{c.name}."),
        invoke=lambda c: f"$planflow-{c.name} {c.argument_hint}",
        config=".codex/config.toml", keys=("mcp_servers", "planflow"),
        entry=lambda exe: {"command": exe, "args": ["mcp"]},
        note="Codex reads a project's .codex/config.toml once the project is trusted (answer its"
             " trust prompt, or `codex exec --trust ...` once)"),
    "gemini": Layout(
        path=lambda c: f".gemini/commands/planflow/{c.name}.toml", text=_gemini,
        invoke=lambda c: f"/planflow:{c.name} {c.argument_hint}",
        config=".gemini/settings.json", keys=("mcpServers", "planflow"),
        entry=lambda exe: {"command": exe, "args": ["mcp"]},
        note="Gemini CLI loads the project's .gemini/ settings and commands in a trusted folder"),
    "opencode": Layout(
        path=lambda c: f".opencode/commands/planflow-{c.name}.md",
        text=lambda c: _markdown(c, "$ARGUMENTS", description=c.description),
        invoke=lambda c: f"/planflow-{c.name} {c.argument_hint}",
        config="opencode.json", keys=("mcp", "planflow"),
        entry=lambda exe: {"type": "local", "command": [exe, "mcp"], "enabled": True},
        note="opencode starts the server when it opens the project (`opencode mcp list` shows it)"),
}
"""The layouts by agent name."""


def install(agent: str, root: Path) -> list[str]:
    """Write ``agent``'s command files and MCP entry into the repository at ``root``; returns
    one line per file saying what was done (written, unchanged, skipped and why) and how to use
    the commands. Raises KeyError for an unknown agent."""
    layout = AGENTS[agent]
    lines = [_write_command(root / layout.path(c), layout.text(c)) for c in COMMANDS]
    exe = executable()
    entry = layout.entry(exe)
    config = root / layout.config
    lines.append(_merge_toml(config, layout.keys, entry) if config.suffix == ".toml"
                 else _merge_json(config, layout.keys, entry, agent))
    if exe != "planflow":
        lines.append(f"note: planflow is not on PATH; the MCP entry names {exe}")
    lines += [f"note: {layout.note}"] + [f"use: {layout.invoke(c)}" for c in COMMANDS]
    return lines


def executable() -> str:
    """``planflow`` when that is on PATH, else this installation's console script's path."""
    if shutil.which("planflow"):
        return "planflow"
    script = Path(sys.executable).with_name("planflow")
    return str(script) if script.exists() else "planflow"


def _write_command(path: Path, text: str) -> str:
    if path.exists():
        if path.read_text() == text:
            return f"unchanged: {path}"
        return f"skipped: {path} exists and differs from planflow's (remove it to get planflow's)"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return f"wrote: {path}"


def _merge_json(path: Path, keys: tuple[str, ...], entry: dict, agent: str) -> str:
    by_hand = f"add this entry by hand under {'.'.join(keys)}: {json.dumps(entry)}"
    data: dict = {"$schema": "https://opencode.ai/config.json"} if agent == "opencode" else {}
    if path.exists():
        try:
            data = json.loads(path.read_text())
        except ValueError as exc:
            return f"skipped: {path} is not plain JSON ({exc}); {by_hand}"
    node = data
    for key in keys[:-1]:
        node = node.setdefault(key, {}) if isinstance(node, dict) else None
    if not isinstance(node, dict):
        return f"skipped: {path} has no object at {'.'.join(keys[:-1])}; {by_hand}"
    if keys[-1] in node:
        return _existing(path, node[keys[-1]] == entry, keys)
    node[keys[-1]] = entry
    _replace(path, json.dumps(data, indent=2) + "\n")
    return f"added: {'.'.join(keys)} to {path}"


def _merge_toml(path: Path, keys: tuple[str, ...], entry: dict) -> str:
    table = f"[{'.'.join(keys)}]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in entry.items())
    text = path.read_text() if path.exists() else ""
    try:
        existing = tomllib.loads(text)
        for key in keys:
            existing = existing.get(key) if isinstance(existing, dict) else None
        if existing is not None:
            return _existing(path, existing == entry, keys)
        merged = text + ("\n" if text and not text.endswith("\n") else "") + ("\n" if text else "") + table
        tomllib.loads(merged)
    except tomllib.TOMLDecodeError as exc:
        return f"skipped: {path} cannot take the entry ({exc}); add by hand:\n{table}"
    _replace(path, merged)
    return f"added: [{'.'.join(keys)}] to {path}"


def _existing(path: Path, same: bool, keys: tuple[str, ...]) -> str:
    if same:
        return f"unchanged: {path} ({'.'.join(keys)})"
    return f"kept: your {'.'.join(keys)} entry in {path} (not replaced)"


def _replace(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.planflow-tmp")
    scratch.write_text(text)
    scratch.replace(path)
