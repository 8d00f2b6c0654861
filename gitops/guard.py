"""Git configuration that runs commands, and how planflow's own git calls refuse what was added.

An agent's worktree shares the repository's ``.git/config`` with the user's checkout and with
planflow. Configuration such as ``filter.<driver>.clean`` or ``core.sshCommand`` makes git run
a command; an agent that adds it would have planflow run that command (a hang, or a read of
planflow's environment). ``protect(common_dir)`` records the command-running settings the
repository has when planflow first opens it in this process (the baseline: they were there
before any agent ran). ``overrides(cwd)`` gives the ``git -c`` options that neutralise every
command-running setting added since: each such key is reset to a harmless value and then set to
its baseline values again (so the user's own ``filter.lfs.*``, ``credential.helper`` and the
like keep working). The configuration is read again only when the config file changes
(its size, mtime or inode); includes are followed.

Limits: a file that an ``include.path`` of the baseline names and that changes later is not
noticed until ``.git/config`` itself changes; settings in the user's global configuration are
the user's and are kept.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from pathlib import Path

COMMAND_KEYS = re.compile(
    r"^(filter\..+\.(clean|smudge|process|required)"
    r"|diff\..+\.(command|textconv)|diff\.external|merge\..+\.driver"
    r"|core\.(sshcommand|fsmonitor|hookspath|gitproxy|askpass|editor|pager|alternaterefscommand)"
    r"|credential\.(.+\.)?helper|gpg\.(.+\.)?program|sequence\.editor|uploadpack\.packobjectshook"
    r"|remote\..+\.(uploadpack|receivepack|proxy)|protocol\..+\.allow|ssh\.variant"
    r"|interactive\.difffilter)$"
)
"""Config keys (lower-case, git's canonical form) whose value is or selects a command git runs."""

NEUTRAL = {"required": "false", "fsmonitor": "false", "hookspath": "/dev/null", "allow": "never",
           "sshcommand": "ssh", "uploadpack": "git-upload-pack", "receivepack": "git-receive-pack"}
"""Harmless value by the key's last part; every other command key is reset to the empty string."""

Entries = frozenset[tuple[str, str]]
Reader = Callable[[Path], list[tuple[str, str]]]


def command_entries(entries: list[tuple[str, str]]) -> Entries:
    """The (key, value) pairs of ``entries`` (``git config --list``) whose key runs a command."""
    return frozenset((key.lower(), value) for key, value in entries if COMMAND_KEYS.match(key.lower()))


def neutralising_options(baseline: Entries, current: Entries) -> list[str]:
    """``git -c`` arguments that undo the command settings of ``current`` not in ``baseline``:
    for each key with an added value, ``-c key=<harmless>`` followed by ``-c key=<value>`` for
    each of its baseline values (the last value wins for single-valued keys, and an empty value
    resets a list such as ``credential.helper``)."""
    options: list[str] = []
    for key in sorted({key for key, _ in current - baseline}):
        options += ["-c", f"{key}={NEUTRAL.get(key.rsplit('.', 1)[-1], '')}"]
        options += [arg for value in sorted(v for k, v in baseline if k == key)
                    for arg in ("-c", f"{key}={value}")]
    return options


class ConfigGuard:
    """The baseline and the latest reading of one repository's config file ``config``
    (``<git common dir>/config``), read with ``read`` (a ``git config --list`` of that file).
    Thread-safe."""

    def __init__(self, config: Path, read: Reader) -> None:
        self.config, self._read = config, read
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._options: list[str] = []
        self.baseline = command_entries(read(config))

    def options(self) -> list[str]:
        """The ``-c`` options neutralising what was added since the baseline (``[]`` when
        nothing was). Costs one ``stat`` when the config file did not change."""
        try:
            info = self.config.stat()
            stamp = (info.st_size, info.st_mtime_ns, info.st_ino)
        except OSError:
            return []
        with self._lock:
            if stamp != self._stamp:
                self._options = neutralising_options(self.baseline, command_entries(self._read(self.config)))
                self._stamp = stamp
            return list(self._options)


_guards: dict[Path, ConfigGuard] = {}
_common_dirs: dict[Path, Path | None] = {}
_registry_lock = threading.Lock()


def protect(common_dir: Path, read: Reader) -> ConfigGuard:
    """Start guarding the repository whose shared git directory is ``common_dir`` (once per
    process: the first call's configuration is the baseline). Returns its ``ConfigGuard``."""
    common_dir = Path(common_dir).resolve()
    with _registry_lock:
        guard = _guards.get(common_dir)
    if guard is None:
        guard = ConfigGuard(common_dir / "config", read)
        with _registry_lock:
            guard = _guards.setdefault(common_dir, guard)
    return guard


def overrides(cwd: Path) -> list[str]:
    """The ``-c`` options for a git call in ``cwd``: those of the guarded repository ``cwd`` is
    in (main work tree, linked worktree or a folder inside one), ``[]`` for an unguarded one."""
    common = find_common_dir(Path(cwd))
    guard = _guards.get(common) if common is not None else None
    return guard.options() if guard else []


def find_common_dir(cwd: Path) -> Path | None:
    """The shared git directory of the work tree containing ``cwd``, found from the ``.git``
    folder or file (``gitdir:`` and its ``commondir``) without running git; None when there is
    none. Cached per ``cwd``."""
    if cwd in _common_dirs:
        return _common_dirs[cwd]
    found = None
    for folder in (cwd, *cwd.parents):
        dot_git = folder / ".git"
        try:
            if dot_git.is_dir():
                found = dot_git.resolve()
            elif dot_git.is_file():
                gitdir = (folder / dot_git.read_text().partition("gitdir:")[2].strip()).resolve()
                common = gitdir / "commondir"
                found = (gitdir / common.read_text().strip()).resolve() if common.is_file() else gitdir
        except OSError:
            found = None
        if dot_git.exists():
            break
    if found is not None:
        _common_dirs[cwd] = found
    return found
