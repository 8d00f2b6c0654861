"""``planflow install-commands``: each agent's command files and MCP entry, merged into the
user's configuration without overwriting anything of theirs."""

from __future__ import annotations

import json
import tomllib

import pytest

from planflow.cli import main
from runs import make_repo

FILES = {
    "claude": [f".claude/commands/planflow/{n}.md" for n in ("execute", "status", "spec", "plan")],
    "codex": [f".agents/skills/planflow-{n}/SKILL.md" for n in ("execute", "status", "spec", "plan")],
    "gemini": [f".gemini/commands/planflow/{n}.toml" for n in ("execute", "status", "spec", "plan")],
    "opencode": [f".opencode/commands/planflow-{n}.md" for n in ("execute", "status", "spec", "plan")],
}


def install(repo, agent, capsys) -> str:
    assert main(["install-commands", "--agent", agent, "--repo", str(repo)]) == 0
    return capsys.readouterr().err


@pytest.mark.parametrize("agent", sorted(FILES))
def test_fresh_install_writes_every_command_and_the_entry(agent, tmp_path, capsys):
    repo = make_repo(tmp_path / "repo")
    err = install(repo, agent, capsys)
    for name in FILES[agent]:
        text = (repo / name).read_text()
        assert "run_status" in text and f"wrote: {repo / name}" in err
        if name.endswith(".md"):
            front = text.split("---\n")[1]
            assert "description: " in front
        else:
            command = tomllib.loads(text)
            assert command["description"] and "{{args}}" in command["prompt"]
    if agent == "claude":
        assert "$ARGUMENTS" in (repo / FILES[agent][0]).read_text()
        assert json.loads((repo / ".mcp.json").read_text())["mcpServers"]["planflow"]["args"] == ["mcp"]
    if agent == "codex":
        skill = (repo / FILES[agent][0]).read_text().split("---\n")[1]
        assert 'name: "planflow-execute"' in skill
        assert tomllib.loads((repo / ".codex/config.toml").read_text())["mcp_servers"]["planflow"]["args"] == ["mcp"]
    if agent == "gemini":
        assert json.loads((repo / ".gemini/settings.json").read_text())["mcpServers"]["planflow"]["args"] == ["mcp"]
    if agent == "opencode":
        entry = json.loads((repo / "opencode.json").read_text())["mcp"]["planflow"]
        assert entry["type"] == "local" and entry["command"][1:] == ["mcp"] and entry["enabled"]
    again = install(repo, agent, capsys)
    assert "wrote:" not in again and "added:" not in again and again.count("unchanged:") == 5


def test_user_files_are_merged_or_left_alone(tmp_path, capsys):
    repo = make_repo(tmp_path / "repo")
    (repo / ".mcp.json").write_text(json.dumps({"mcpServers": {"other": {"command": "x"}}, "k": 1}))
    mine = repo / ".claude/commands/planflow/status.md"
    mine.parent.mkdir(parents=True)
    mine.write_text("my own status command\n")
    err = install(repo, "claude", capsys)
    assert mine.read_text() == "my own status command\n" and f"skipped: {mine} exists" in err
    config = json.loads((repo / ".mcp.json").read_text())
    assert config["k"] == 1 and config["mcpServers"]["other"] == {"command": "x"}
    assert config["mcpServers"]["planflow"]["command"]

    toml = repo / ".codex/config.toml"
    toml.parent.mkdir()
    toml.write_text('# my settings\nmodel = "o3"\n\n[mcp_servers.docs]\ncommand = "docs-mcp"\n')
    install(repo, "codex", capsys)
    text = toml.read_text()
    assert text.startswith('# my settings\nmodel = "o3"\n') and "[mcp_servers.docs]" in text
    assert set(tomllib.loads(text)["mcp_servers"]) == {"docs", "planflow"}

    inline = repo / ".codex/config.toml"
    inline.write_text('mcp_servers = { docs = { command = "docs-mcp" } }\n')
    err = install(repo, "codex", capsys)
    assert inline.read_text() == 'mcp_servers = { docs = { command = "docs-mcp" } }\n'
    assert f"skipped: {inline} cannot take the entry" in err and "[mcp_servers.planflow]" in err

    (repo / "opencode.json").write_text('{\n  // mine\n  "mcp": {}\n}\n')
    err = install(repo, "opencode", capsys)
    assert (repo / "opencode.json").read_text() == '{\n  // mine\n  "mcp": {}\n}\n'
    assert "is not plain JSON" in err and "add this entry by hand under mcp.planflow" in err

    settings = repo / ".gemini/settings.json"
    settings.parent.mkdir()
    settings.write_text(json.dumps({"mcpServers": {"planflow": {"command": "my-planflow"}}}))
    err = install(repo, "gemini", capsys)
    assert json.loads(settings.read_text())["mcpServers"]["planflow"] == {"command": "my-planflow"}
    assert f"kept: your mcpServers.planflow entry in {settings}" in err
