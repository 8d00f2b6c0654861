"""The git files an agent's worktree shares with the user's repository (``.git/config``,
``.git/hooks``, ``.git/info``), recorded before the agent runs and put back after:
``SharedFiles``.

A linked worktree has its own HEAD and index, but these files are the repository's: what the
agent changes there changes the user's repository and (config, hooks) would run inside
planflow's next git call. The record is also written to ``<state dir>/shared-git/`` with the
pid of the planflow process, so a run killed while its agent ran is put right by the next
planflow process that opens the repository (``restore_abandoned``).
"""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

from gitops.command import read_config_file
from gitops.errors import shown

SHARED_PARTS = ("config", "hooks", "info")
"""Parts of the shared git directory that are recorded and put back."""

Files = dict[str, tuple[bytes, int]]


def _read_files(common_dir: Path) -> Files:
    """{path relative to ``common_dir``: (content, mode)} of the files of ``SHARED_PARTS``."""
    files: Files = {}
    for part in SHARED_PARTS:
        top = common_dir / part
        paths = [top] if top.is_file() else sorted(p for p in top.rglob("*") if p.is_file() or p.is_symlink())
        for path in paths:
            try:
                info = path.lstat()
                content = os.readlink(path).encode() if path.is_symlink() else path.read_bytes()
            except OSError:
                continue
            files[path.relative_to(common_dir).as_posix()] = (content, info.st_mode)
    return files


class SharedFiles:
    """The shared git files of the repository whose shared git directory is ``common_dir`` as
    they were when created (before an agent starts), also written to ``record`` (a JSON file,
    removed by ``restore``). Raises ``OSError`` when the record cannot be written."""

    def __init__(self, common_dir: Path, record: Path, files: Files | None = None) -> None:
        self.common_dir, self.record = common_dir, record
        self.files = _read_files(common_dir) if files is None else files
        if files is None:
            record.parent.mkdir(parents=True, exist_ok=True)
            record.write_text(json.dumps({"pid": os.getpid(), "files": {
                name: [base64.b64encode(content).decode(), mode]
                for name, (content, mode) in self.files.items()}}))

    def restore(self) -> list[str]:
        """Put every shared file back as it was: changed and deleted ones rewritten, added ones
        removed. Returns what was changed (``"config (filter.x.clean, ...)"``,
        ``"hooks/post-checkout added"``), empty when nothing was. Raises ``OSError``."""
        now = _read_files(self.common_dir)
        changes = []
        for name in sorted(self.files.keys() | now.keys()):
            old, new = self.files.get(name), now.get(name)
            if old == new:
                continue
            path = self.common_dir / name
            keys = self._changed_keys(path, old) if name == "config" else []
            if new is not None:
                path.unlink()
            if old is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                if stat.S_ISLNK(old[1]):
                    os.symlink(old[0].decode(), path)
                else:
                    path.write_bytes(old[0])
                    os.chmod(path, old[1] & 0o7777)
            what = "added" if old is None else "deleted" if new is None else "changed"
            changes.append(f"{shown(name)} {what}" + (f" ({', '.join(keys)})" if keys else ""))
        self.record.unlink(missing_ok=True)
        return changes

    @staticmethod
    def _changed_keys(path: Path, old: tuple[bytes, int] | None) -> list[str]:
        """Keys whose values differ between config file ``path`` now and content ``old``."""
        current = set(read_config_file(path)) if path.is_file() else set()
        before_path = path.with_name("config.planflow-before")
        try:
            before_path.write_bytes(old[0] if old else b"")
            before = set(read_config_file(before_path))
        finally:
            before_path.unlink(missing_ok=True)
        return sorted({shown(key) for key, _ in current ^ before})[:10]


def restore_abandoned(common_dir: Path, records: Path) -> list[str]:
    """Put back the shared files of every record in folder ``records`` whose planflow process
    is gone (killed while its agent ran). Returns what was changed; a record that does not
    parse is removed. Raises ``OSError``."""
    changes = []
    for record in sorted(records.glob("*.json")):
        try:
            data = json.loads(record.read_text())
            pid = int(data["pid"])
            files = {name: (base64.b64decode(content), int(mode))
                     for name, (content, mode) in data["files"].items()}
        except (ValueError, KeyError, TypeError):
            record.unlink(missing_ok=True)
            continue
        if not _alive(pid):
            changes += SharedFiles(common_dir, record, files).restore()
    return changes


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
