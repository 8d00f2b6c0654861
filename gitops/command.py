"""The one place git runs: ``run_git`` (failures become ``GitError``).

Every call runs no code an agent could have planted and sees no secret:

- hooks are off (``core.hooksPath=/dev/null``) and so is the file-system monitor
  (``core.fsmonitor=false``); command-running configuration added to the repository since
  planflow opened it (filters, ``core.sshCommand``, ``diff.external`` ...) is neutralised
  (``gitops.guard``);
- the environment is an allow-list (``git_env``): locale, ``PATH``/``HOME``, identity and
  ssh-agent variables, never a variable whose name says KEY, TOKEN, SECRET, PASSWORD or
  CREDENTIAL;
- each call has a time limit (``$PLANFLOW_GIT_TIMEOUT_S``, default 600 s); git and whatever
  it started are killed when it passes, and the call fails with a ``GitError`` saying so.

This is ``subprocess`` rather than GitPython's ``Git.execute`` because the latter always hands
git the whole process environment.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from gitops import guard
from gitops.errors import GitError

BASE_ENV = {"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", "LANGUAGE": "C"}
"""Environment every git call gets: never prompt for credentials, messages in English."""

SAFE_CONFIG = ("-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false")
"""``git -c`` options of every call: no hook and no file-system monitor runs."""

AUTOMATION_CONFIG = ("-c", "commit.gpgsign=false", "-c", "rerere.enabled=false")
"""``git -c`` options for commits planflow makes itself: no signing (which could prompt and
would make stacked commits non-deterministic), no rerere (which hides conflicts); hooks are off
for every call (``SAFE_CONFIG``)."""

PASSED_ENV = re.compile(r"^(PATH|HOME|USER|LOGNAME|SHELL|TMPDIR|TZ|LANG|LC_[A-Z]+|XDG_CONFIG_HOME"
                        r"|SSH_AUTH_SOCK|GIT_SSH|GIT_SSH_COMMAND|GIT_SSH_VARIANT|GIT_EXEC_PATH"
                        r"|GIT_(AUTHOR|COMMITTER)_(NAME|EMAIL|DATE)|GIT_CONFIG_(GLOBAL|SYSTEM|NOSYSTEM)"
                        r"|GIT_TRACE\w*|(HTTPS?|NO|ALL)_PROXY|(https?|no|all)_proxy)$")
"""Names of the process's environment variables git is given."""

SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL", re.IGNORECASE)

TIMEOUT_VAR = "PLANFLOW_GIT_TIMEOUT_S"
DEFAULT_TIMEOUT_S = 600.0


def git_timeout_s() -> float:
    """``$PLANFLOW_GIT_TIMEOUT_S`` (default 600): seconds one git call may take. Raises
    ``ValueError`` when it is not a positive number."""
    value = os.environ.get(TIMEOUT_VAR, str(DEFAULT_TIMEOUT_S))
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if not seconds > 0:
        raise ValueError(f"{TIMEOUT_VAR} must be a positive number of seconds, not {value!r}")
    return seconds


def git_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a git call: the allow-listed variables of this process
    (``PASSED_ENV``, minus secret-looking names), ``BASE_ENV``, then ``extra``."""
    passed = {name: value for name, value in os.environ.items()
              if PASSED_ENV.match(name) and not SECRET_NAME.search(name)}
    return {**passed, **BASE_ENV, **(extra or {})}


def run_git(cwd: Path, operation: str, *args: str, env: Mapping[str, str] | None = None,
            stdin: str | None = None) -> str:
    """Run ``git <args>`` in directory ``cwd`` and return its stdout (one trailing newline removed).

    Arguments: ``cwd`` the directory git runs in (decides which worktree it acts on; must
    exist); ``operation`` a short description used in errors; ``args`` the git arguments;
    ``env`` extra environment variables (``git_env``); ``stdin`` the text git reads (UTF-8;
    default: none, stdin is empty). Output is decoded as
    UTF-8 with undecodable bytes kept as surrogates (``surrogateescape``), so a file name git
    prints can be used as a path again; escape it (``gitops.errors.shown``) before showing it.
    Raises ``GitError`` when git exits non-zero, or (with exit code -1) when git cannot be
    started, ``cwd`` is no directory, or the call passes ``git_timeout_s()``.
    """
    if not Path(cwd).is_dir():
        raise GitError(operation, ["git", *args], -1, "", f"directory {cwd} does not exist")
    return _execute(cwd, operation, [*SAFE_CONFIG, *guard.overrides(Path(cwd))], args, git_env(env), stdin)


def read_config_file(path: Path) -> list[tuple[str, str]]:
    """(key, value) of every entry of git config file ``path`` (includes followed; ``[]`` when
    it cannot be read). Runs ``git config --file`` only, which runs no configured command."""
    try:
        out = _execute(path.parent, "read git config", SAFE_CONFIG,
                       ("config", "--file", str(path), "--includes", "--list", "-z"), git_env())
    except GitError:
        return []
    return [tuple(entry.split("\n", 1)) if "\n" in entry else (entry, "")  # type: ignore[misc]
            for entry in out.split("\0") if entry]


def _execute(cwd: Path, operation: str, options: Sequence[str], args: Sequence[str],
             env: dict[str, str], stdin: str | None = None) -> str:
    """``git <options> <args>`` in ``cwd``, reading ``stdin`` (None: nothing); errors name
    ``git <args>`` (what planflow asked for)."""
    command = ["git", *args]
    limit = git_timeout_s()
    try:
        proc = subprocess.Popen(["git", *options, *args], cwd=cwd, env=env,
                                stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    except OSError as error:  # git cannot be started
        raise GitError(operation, command, -1, "", str(error)) from error
    try:
        out, err = proc.communicate(None if stdin is None else stdin.encode("utf-8", "surrogateescape"),
                                    timeout=limit)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # git and what it started (a filter, a hook)
        proc.communicate()
        raise GitError(operation, command, -1, "", f"timed out after {limit:g} s (killed; a filter,"
                       f" lock or remote held it? the limit is ${TIMEOUT_VAR})") from None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stdout, stderr = (data.decode("utf-8", "surrogateescape") for data in (out, err))
    if proc.returncode != 0:
        raise GitError(operation, command, proc.returncode, stdout, stderr)
    return stdout[:-1] if stdout.endswith("\n") else stdout
