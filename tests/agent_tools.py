"""The real agent CLIs of the end-to-end tests: pinned versions, installed once into
``<project>/.cache/agents/`` (git-ignored) and reused when present.

npm packages go to ``.cache/agents/npm/<cli>/`` (``npm install --prefix``); aider goes to its
own venv ``.cache/agents/aider-venv/`` because it pins many packages. A finished install leaves
a marker file naming the version, so an interrupted install is redone; a lock file per CLI
makes the test processes that want it at once (``pytest -n``) wait for one install.
Run ``python tests/agent_tools.py [CLI ...]`` to install ahead of the tests.
"""

from __future__ import annotations

import fcntl
import subprocess
import sys
import time
from pathlib import Path

CACHE = Path(__file__).resolve().parents[1] / ".cache" / "agents"

NPM_PACKAGES = {
    "claude": ("@anthropic-ai/claude-code", "2.1.197", "claude"),
    "codex": ("@openai/codex", "0.169.0", "codex"),
    "gemini": ("@google/gemini-cli", "0.61.0", "gemini"),
    "opencode": ("opencode-ai", "1.18.33", "opencode"),
    "qwen": ("@qwen-code/qwen-code", "0.15.10", "qwen"),
}
"""CLI name -> (npm package, pinned version, executable name)."""

AIDER_VERSION = "0.86.2"

INSTALL_SECONDS: dict[str, float] = {}
"""Seconds each install took in this process (0 when it was already present)."""


class InstallError(Exception):
    """An install command failed; the message holds its output."""


def executable(cli: str) -> Path:
    """Where the installed executable of ``cli`` lives (whether installed or not)."""
    if cli == "aider":
        return CACHE / "aider-venv" / "bin" / "aider"
    return CACHE / "npm" / cli / "node_modules" / ".bin" / NPM_PACKAGES[cli][2]


def version(cli: str) -> str:
    """The pinned version of ``cli``."""
    return AIDER_VERSION if cli == "aider" else NPM_PACKAGES[cli][1]


def ensure(cli: str) -> Path:
    """Install ``cli`` at its pinned version unless already there; returns its executable.

    Raises:
        InstallError: npm or pip failed (the output is in the message).
    """
    marker = CACHE / f"{cli}.installed"
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f"{cli}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # held until the install (another process's) is done
        if marker.is_file() and marker.read_text() == version(cli) and executable(cli).exists():
            INSTALL_SECONDS.setdefault(cli, 0.0)
            return executable(cli)
        return _install(cli, marker)


def _install(cli: str, marker: Path) -> Path:
    started = time.monotonic()
    if cli == "aider":
        venv = CACHE / "aider-venv"
        _run([sys.executable, "-m", "venv", "--clear", str(venv)])
        _run([str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
              f"aider-chat=={AIDER_VERSION}"])
    else:
        package, pinned, _ = NPM_PACKAGES[cli]
        prefix = CACHE / "npm" / cli
        prefix.mkdir(parents=True, exist_ok=True)
        _run(["npm", "install", "--prefix", str(prefix), "--no-audit", "--no-fund",
              "--loglevel=error", f"{package}@{pinned}"])
    INSTALL_SECONDS[cli] = round(time.monotonic() - started, 1)
    marker.write_text(version(cli))
    return executable(cli)


def _run(argv: list[str]) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise InstallError(f"{' '.join(argv)} exited {proc.returncode}:\n"
                           f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")


if __name__ == "__main__":
    for name in sys.argv[1:] or [*NPM_PACKAGES, "aider"]:
        path = ensure(name)
        print(f"{name} {version(name)}: {path} ({INSTALL_SECONDS[name]} s)")
