"""The repository's refs, commits, trees and worktrees read from its files in this process:
``Stored``. No git process starts. Objects come from gitdb's object database (GitPython's);
refs are read as git's files backend stores them (a loose file under ``refs/``, else a line
of ``packed-refs``), here rather than through GitPython's ``SymbolicReference``, which cannot
tell a missing ref from an unreadable one and re-reads ``packed-refs`` for every ref.

Every answer is one git itself would give, or ``UNKNOWN`` when these readers cannot be sure
(an object in a repository they cannot read: a missing or partial-clone object, an object
format or ref storage other than SHA-1 files, a pack being repacked): the caller then asks
git (``gitops.repo.Repository`` does, so a wrong answer never comes from here, only a slower
one). Ref names are read only when they are full names under ``refs/`` that git's rules allow
(``VALID_REF``), so no name reaches a path outside ``<git common dir>/refs``.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import git
from git.objects.fun import tree_entries_from_data
from gitdb import GitDB

UNKNOWN = object()
"""What a reader returns when only git can answer."""

VALID_REF = re.compile(r"^refs/(?!.*(?:\.\.|//|/\.|@\{|\.lock/|\.lock$|[/.]$))[A-Za-z0-9._/+@-]+$")
"""Full ref names read from files: git's ref-name rules, restricted to plain characters."""

_HEX = re.compile(r"^[0-9a-f]{40}$")
_TREE_MODE = 0o040000


class Stored:
    """Reads the repository whose shared git dir is ``common_dir`` from its files; ``repo`` (a
    GitPython ``Repo`` of it) gives its config, read once for the ``extensions`` that decide
    whether these readers can be used (``usable``). Thread-safe."""

    def __init__(self, repo: git.Repo, common_dir: Path) -> None:
        self.common_dir = Path(common_dir)
        self._lock = threading.Lock()
        self._odb = GitDB(str(self.common_dir / "objects"))
        self._packed_stamp: tuple[int, int, int] | None = None
        self._packed_refs: dict[str, str] = {}
        try:
            reader = repo.config_reader("repository")
            extensions = {key: reader.get_value("extensions", key, "")
                          for key in ("refstorage", "objectformat")} if reader.has_section("extensions") else {}
        except Exception:  # noqa: BLE001 - a config GitPython cannot parse: git reads it all
            extensions = {"refstorage": "unknown"}
        self.usable = (str(extensions.get("refstorage", "") or "files").lower() == "files"
                       and str(extensions.get("objectformat", "") or "sha1").lower() == "sha1")

    def ref(self, name: str) -> object:
        """The sha ``name`` (a full ref name, ``refs/...``) points at after following symbolic
        refs, None when there is no such ref, ``UNKNOWN`` when only git can say."""
        for _ in range(5):  # git follows up to 5 levels of symbolic refs
            if not self.usable or not VALID_REF.match(name):
                return UNKNOWN
            try:
                value = (self.common_dir / name).read_text(encoding="utf-8", errors="replace").strip()
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                packed = self._packed()
                return packed.get(name) if packed is not UNKNOWN else UNKNOWN
            except OSError:
                return UNKNOWN
            if not value.startswith("ref:"):
                return value if _HEX.match(value) else UNKNOWN
            name = value[4:].strip()
        return UNKNOWN

    def ref_tips(self) -> object:
        """{full ref name: sha} of every ref under ``refs/`` (loose refs over packed ones, as
        git reads them; symbolic refs followed, dangling ones left out), or ``UNKNOWN``."""
        packed = self._packed()
        if packed is UNKNOWN:
            return UNKNOWN
        tips = dict(packed)
        for folder, _, files in os.walk(self.common_dir / "refs"):
            for file in files:
                if file.endswith(".lock"):
                    continue
                sha = self.ref(Path(folder, file).relative_to(self.common_dir).as_posix())
                if sha is UNKNOWN:
                    return UNKNOWN
                if sha is not None:
                    tips[Path(folder, file).relative_to(self.common_dir).as_posix()] = sha
        return tips

    def commit_parents(self, sha: str) -> object:
        """The parent shas of commit ``sha`` (a 40-digit sha), or ``UNKNOWN`` (no such commit
        here, or not a commit: git decides)."""
        data = self.commit_data(sha)
        if data is UNKNOWN:
            return UNKNOWN
        parents = []
        for line in data.split(b"\n"):
            if not line:
                break
            if line.startswith(b"parent "):
                parents.append(line[7:].decode())
        return parents

    def commit_data(self, sha: str) -> object:
        """The raw commit object ``sha`` (headers, a blank line, the message), or ``UNKNOWN``."""
        return self._object(sha, b"commit")

    def changed_paths(self, base: str, tip: str) -> object:
        """Paths (``surrogateescape``-decoded, ``/``-separated) whose blob, link or mode
        differs between commits ``base`` and ``tip``: what ``git diff --name-only
        --no-renames`` lists; ``UNKNOWN`` when an object cannot be read here."""
        trees = [self._tree_of(sha) for sha in (base, tip)]
        if UNKNOWN in trees:
            return UNKNOWN
        paths: list[str] = []
        try:
            self._compare(trees[0], trees[1], "", paths)
        except (ValueError, KeyError):
            return UNKNOWN
        return sorted(paths)

    def linked_worktrees(self) -> list[tuple[Path, str | None]]:
        """(path, HEAD) of every linked worktree git has a record of (``<common dir>/worktrees/
        <name>/gitdir``), as ``git worktree list`` gives them: HEAD is ``refs/heads/<b>`` or
        None (detached, or a record still being written)."""
        found = []
        admin_dirs = self.common_dir / "worktrees"
        for admin in sorted(admin_dirs.iterdir()) if admin_dirs.is_dir() else []:
            try:
                dot_git = Path((admin / "gitdir").read_text().strip())
            except OSError:
                continue  # not (yet) a worktree record
            found.append((Path(os.path.realpath(dot_git.parent)), head_ref(admin)))
        return found

    # -- helpers --------------------------------------------------------------------------

    def _packed(self) -> object:
        """{ref: sha} of ``packed-refs`` (read again when the file changes), or ``UNKNOWN``."""
        path = self.common_dir / "packed-refs"
        try:
            info = path.stat()
        except FileNotFoundError:
            return {}
        except OSError:
            return UNKNOWN
        stamp = (info.st_size, info.st_mtime_ns, info.st_ino)
        with self._lock:
            if self._packed_stamp != stamp:
                try:
                    lines = path.read_text(encoding="utf-8", errors="surrogateescape").splitlines()
                except OSError:
                    return UNKNOWN
                self._packed_refs = {name: sha for sha, _, name in (line.partition(" ") for line in lines)
                                     if _HEX.match(sha) and name.startswith("refs/")}
                self._packed_stamp = stamp
            return self._packed_refs

    def _object(self, sha: str, kind: bytes) -> object:
        """The raw data of object ``sha`` when it is of type ``kind``, else ``UNKNOWN``."""
        if not self.usable or not _HEX.match(sha):
            return UNKNOWN
        with self._lock:
            for attempt in range(2):
                try:
                    if attempt:  # a pack written since gitdb listed them
                        self._odb.update_cache(force=True)
                    stream = self._odb.stream(bytes.fromhex(sha))
                    return stream.read() if stream.type == kind else UNKNOWN
                except Exception:  # noqa: BLE001 - gitdb raises many kinds; git answers instead
                    continue
            return UNKNOWN

    def _tree_of(self, sha: str) -> object:
        data = self.commit_data(sha)
        if data is UNKNOWN or not data.startswith(b"tree "):
            return UNKNOWN
        return data[5:45].decode()

    def _entries(self, tree: str | None) -> dict[str, tuple[int, str]]:
        if tree is None:
            return {}
        data = self._object(tree, b"tree")
        if data is UNKNOWN:
            raise KeyError(tree)
        return {name: (mode, binsha.hex()) for binsha, mode, name in tree_entries_from_data(data)}

    def _compare(self, old: str | None, new: str | None, prefix: str, paths: list[str]) -> None:
        """Add to ``paths`` the files that differ between trees ``old`` and ``new`` (None: empty)."""
        before, after = self._entries(old), self._entries(new)
        for name in before.keys() | after.keys():
            a, b = before.get(name), after.get(name)
            if a == b:
                continue
            path = prefix + name
            a_tree = a is not None and a[0] == _TREE_MODE
            b_tree = b is not None and b[0] == _TREE_MODE
            if a_tree or b_tree:
                self._compare(a[1] if a_tree else None, b[1] if b_tree else None, path + "/", paths)
            if (a is not None and not a_tree) or (b is not None and not b_tree):
                paths.append(path)


def head_ref(admin: Path) -> str | None:
    """The branch (``refs/heads/...``) the HEAD file in git dir ``admin`` names, None when
    detached or unreadable."""
    try:
        head = (admin / "HEAD").read_text().strip()
    except OSError:
        return None
    return head[4:].strip() if head.startswith("ref:") else None
