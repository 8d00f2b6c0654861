"""Stacked pull requests for a run's stack: through ``gh`` when it is installed and logged in,
else through git-spice (``gs``) when it is installed.

- ``gh``: for each branch, base first, an open pull request whose head is the branch and whose
  base is the branch before it (the first one's: the target). One that exists already is kept,
  and moved to the right base when it has another (``gh pr edit --base``); a new one gets the
  title and body the caller gives (from the plan task).
- git-spice: ``gs repo init --trunk TARGET --remote REMOTE``, ``gs branch track BRANCH --base
  BEFORE`` for each branch, then ``gs stack submit --fill --no-web`` (titles and bodies from
  the commit messages) in a worktree on the stack's top branch.

Both run through ``agents.process.run_process`` (stdin ``/dev/null``, an allow-listed
environment plus the forge's own credentials variables, ``FORGE_TIMEOUT_S``), in a worktree of
planflow's own, never in the user's checkout; each call's output is logged under ``log_dir``.
The branches must be on the remote already (the caller pushes them).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from agents.process import ProcessOutcome, base_env, run_process

FORGE_TIMEOUT_S = 300.0
"""Limit of one ``gh`` or ``gs`` call, seconds (each may talk to the forge over the network)."""

FORGE_ENV = ("GH_TOKEN", "GITHUB_TOKEN", "GH_ENTERPRISE_TOKEN", "GITHUB_ENTERPRISE_TOKEN", "GH_HOST",
             "GH_CONFIG_DIR", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "SSH_AUTH_SOCK",
             "GIT_SSH_COMMAND", "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "GITLAB_TOKEN")
"""Variables passed on to ``gh`` and ``gs`` besides ``agents.process.ENV_ALLOWLIST``: their
credentials, configuration and proxies (and every ``GIT_SPICE_*``)."""

SPICE_HINT = "git-spice (https://abhinav.github.io/git-spice/, then `gs auth login`)"
INSTALL_HINT = f"install the GitHub CLI (https://cli.github.com, then `gh auth login`) or {SPICE_HINT}"
"""What to install when neither tool is there."""


class PullRequestDraft(BaseModel):
    """A pull request to open: the ``branch`` (head), its ``base`` branch, ``title``, ``body``."""

    branch: str
    base: str
    title: str
    body: str


class PullRequest(BaseModel):
    """A pull request after submission: ``branch``, ``base``, ``url`` (None when the tool did
    not print one), ``action``: ``created``, ``kept`` (open already, right base), ``rebased``
    (open already, base changed) or ``submitted`` (by git-spice)."""

    branch: str
    base: str
    url: str | None = None
    action: Literal["created", "kept", "rebased", "submitted"]


class ForgeError(Exception):
    """No tool to open pull requests with (``missing`` True), or a call failed: ``message``,
    ``fix``, and the ``log_path`` of the failed call when there is one."""

    def __init__(self, message: str, fix: str, missing: bool = False, log_path: Path | None = None) -> None:
        self.message = message
        self.fix = fix
        self.missing = missing
        self.log_path = log_path
        super().__init__(f"{message} (fix: {fix})")


def forge_tool(log_dir: Path) -> tuple[Literal["gh", "git-spice"], str]:
    """The tool to use and its executable: ``gh`` when on ``PATH`` and ``gh auth status``
    passes, else git-spice (``git-spice``, or a ``gs`` whose ``--version`` says git-spice, not
    Ghostscript). Raises ``ForgeError`` (``missing``) when neither is usable."""
    gh = shutil.which("gh")
    if gh and _run([gh, "auth", "status"], Path.cwd(), log_dir / "gh-auth-status.log").ok:
        return "gh", gh
    for name in ("git-spice", "gs"):
        path = shutil.which(name)
        if path and "git-spice" in _run([path, "--version"], Path.cwd(), log_dir / "gs-version.log").output_tail:
            return "git-spice", path
    if gh:
        raise ForgeError("gh is installed but not logged in (`gh auth status` failed)",
                         f"run `gh auth login`, or install {SPICE_HINT}", missing=True)
    raise ForgeError("neither gh nor git-spice is installed, so no pull request can be opened",
                     INSTALL_HINT, missing=True)


def open_with_gh(gh: str, worktree: Path, drafts: list[PullRequestDraft], log_dir: Path) -> list[PullRequest]:
    """Open or update one pull request per draft with ``gh``, run in ``worktree`` (any worktree
    of the repository). Returns them in order. Raises ``ForgeError`` when a call fails (the
    earlier ones stay open)."""
    done = []
    for index, draft in enumerate(drafts, 1):
        stem = f"{index:02d}-{draft.branch}"
        listed = _check(_run([gh, "pr", "list", "--head", draft.branch, "--state", "open",
                              "--json", "number,url,baseRefName"], worktree, log_dir / f"{stem}-list.log"))
        existing = _json_list(listed.output_tail)
        if existing:
            found = existing[0]
            if found.get("baseRefName") != draft.base:
                _check(_run([gh, "pr", "edit", str(found.get("number")), "--base", draft.base],
                            worktree, log_dir / f"{stem}-edit.log"))
            done.append(PullRequest(branch=draft.branch, base=draft.base, url=found.get("url"),
                                    action="kept" if found.get("baseRefName") == draft.base else "rebased"))
            continue
        created = _check(_run([gh, "pr", "create", "--head", draft.branch, "--base", draft.base,
                               "--title", draft.title, "--body", draft.body],
                              worktree, log_dir / f"{stem}-create.log"))
        urls = re.findall(r"https?://\S+", created.output_tail)
        done.append(PullRequest(branch=draft.branch, base=draft.base, url=urls[-1] if urls else None,
                                action="created"))
    return done


def open_with_spice(gs: str, worktree: Path, target: str, remote: str, drafts: list[PullRequestDraft],
                    log_dir: Path) -> list[PullRequest]:
    """Track the drafts' branches with git-spice on ``target`` and submit the stack to
    ``remote``; ``worktree`` has the top branch checked out. Raises ``ForgeError`` when a
    call fails."""
    _check(_run([gs, "--no-prompt", "repo", "init", "--trunk", target, "--remote", remote],
                worktree, log_dir / "gs-repo-init.log"))
    for index, draft in enumerate(drafts, 1):
        _check(_run([gs, "--no-prompt", "branch", "track", draft.branch, "--base", draft.base],
                    worktree, log_dir / f"{index:02d}-gs-branch-track.log"))
    submitted = _check(_run([gs, "--no-prompt", "stack", "submit", "--fill", "--no-web"],
                            worktree, log_dir / "gs-stack-submit.log"))
    urls = re.findall(r"https?://\S+", submitted.output_tail)
    return [PullRequest(branch=draft.branch, base=draft.base, action="submitted",
                        url=next((url for url in urls if draft.branch in url), None))
            for draft in drafts]


def _run(argv: list[str], cwd: Path, log_path: Path) -> ProcessOutcome:
    extra = {name: os.environ[name] for name in FORGE_ENV if name in os.environ}
    extra |= {name: value for name, value in os.environ.items() if name.startswith("GIT_SPICE_")}
    extra |= {"GH_PROMPT_DISABLED": "1", "GH_NO_UPDATE_NOTIFIER": "1", "GIT_TERMINAL_PROMPT": "0",
              "NO_COLOR": "1"}
    return run_process(argv, cwd, base_env(extra), FORGE_TIMEOUT_S, log_path)


def _check(outcome: ProcessOutcome) -> ProcessOutcome:
    """``outcome`` when it succeeded, else ForgeError with its output's tail."""
    if outcome.ok:
        return outcome
    how = f"timed out after {FORGE_TIMEOUT_S:g} s" if outcome.timed_out else f"exited {outcome.exit_code}"
    tail = outcome.output_tail.strip()[-600:] or "no output"
    raise ForgeError(f"`{' '.join(outcome.argv[:3])} ...` {how}: {tail}",
                     f"see {outcome.log_path}; fix the cause and run planflow land --pr again"
                     " (pull requests opened already are kept)", log_path=outcome.log_path)


def _json_list(output: str) -> list[dict]:
    """The JSON array in ``output`` (stderr lines around it are ignored); [] when none."""
    start, end = output.find("["), output.rfind("]")
    if start < 0 or end < start:
        return []
    try:
        found = json.loads(output[start:end + 1])
    except json.JSONDecodeError:
        return []
    return [item for item in found if isinstance(item, dict)] if isinstance(found, list) else []
