"""Filling a fresh worktree with what git does not check out: copied files and shared folders.

``copy_ignored`` copies the files of the user's checkout that git ignores (``.env``) into a
worktree. ``SharedFolders`` keeps one built copy of a heavy folder (``node_modules``) per
*key* under ``<git common dir>/planflow/share/`` and links it into each worktree.

The key of a shared folder is the first 16 hex of a SHA-256 over the folder's path, its build
command and, for each key file (in the order given), its path and the SHA-256 of its content
in the worktree (``missing`` when absent): a changed lock file, or another build command, is
another key, hence a new build. Linking makes each file a reflink (copy-on-write, where the
filesystem has ``FICLONE``: btrfs, XFS) or else a hard link of the kept copy; directories are
made anew, symbolic links copied as links. A hard-linked file is one file in every worktree
and in the kept copy: a tool that rewrites such a file in place (rather than replacing it, as
npm and pip do) changes it everywhere.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path

from gitops.command import run_git
from gitops.errors import GitError
from planning.worktree_config import Share

FICLONE = 0x40049409
"""Linux ``ioctl`` that makes a file a reflink of another (``linux/fs.h``)."""


class PrepareError(Exception):
    """A worktree cannot be prepared as configured; the message says what and how to fix it."""


def copy_ignored(checkout: Path, worktree: Path, patterns: list[str]) -> tuple[list[str], list[str]]:
    """Copy the files matching ``patterns`` (globs relative to ``checkout``, the user's
    checkout; ``**`` spans folders; a folder is copied whole) to the same place in
    ``worktree``, keeping modes and times. Files the worktree already has (tracked ones) are
    left as checked out; ``.git`` and ``.worktrees`` are never matched.

    Returns ``(copied paths, patterns that matched nothing)``. Raises PrepareError when a
    matched path is not ignored by git (the task's commit would take it in), ``GitError``.
    """
    matched: dict[str, Path] = {}
    empty = []
    for pattern in patterns:
        found = [path for path in sorted(checkout.glob(pattern))
                 if path.relative_to(checkout).parts[0] not in (".git", ".worktrees")]
        if not found:
            empty.append(pattern)
        for path in found:
            for file in ([path] if not path.is_dir() else sorted(p for p in path.rglob("*") if not p.is_dir())):
                matched.setdefault(file.relative_to(checkout).as_posix(), file)
    wanted = [name for name in matched if not (worktree / name).exists()]
    require_ignored(worktree, wanted, "copy")
    for name in wanted:
        target = worktree / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(matched[name], target, follow_symlinks=False)
    return wanted, empty


def require_ignored(worktree: Path, names: list[str], key: str) -> None:
    """Raise PrepareError naming the first of ``names`` (paths relative to ``worktree``) that
    git does not ignore there (the task's commit would take it in); ``key``: the configuration
    key that asked for them. Raises ``GitError`` when git fails."""
    ignored = set(_ignored(worktree, names))
    risky = [name for name in names if name not in ignored]
    if risky:
        raise PrepareError(f"{key}: {', '.join(risky[:5])} is not ignored by git, so the task's"
                           f" commit would take it in; add it to .gitignore or drop it from `{key}:`")


def _ignored(worktree: Path, names: list[str]) -> list[str]:
    """Which of ``names`` (paths relative to ``worktree``) git ignores there."""
    if not names:
        return []
    ignored = []
    for start in range(0, len(names), 500):  # keeps the command line short
        try:
            out = run_git(worktree, "check ignored files", "-c", "core.quotePath=false",
                          "check-ignore", "--no-index", "--", *names[start:start + 500])
        except GitError as error:
            if error.exit_code != 1:  # 1: none of them is ignored
                raise
            out = ""
        ignored += [name for name in out.splitlines() if name]
    return ignored


def share_key(worktree: Path, share: Share) -> str:
    """The key of ``share`` in ``worktree`` (see the module docstring): 16 hex."""
    files = {}
    for name in share.key:
        path = worktree / name
        files[name] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "missing"
    text = json.dumps({"path": share.path, "run": share.run, "files": list(files.items())})
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def link_tree(source: Path, target: Path) -> str:
    """Make ``target`` (which must not exist) a tree of links to folder ``source``: each file a
    reflink when the filesystem allows it, else a hard link, else (another filesystem) a copy.
    Returns ``reflink``, ``hardlink`` or ``copy``: how the files were made."""
    mode = "reflink"
    target.parent.mkdir(parents=True, exist_ok=True)
    todo = [(str(source), str(target))]
    while todo:
        src_dir, dst_dir = todo.pop()
        os.mkdir(dst_dir)
        shutil.copystat(src_dir, dst_dir)
        with os.scandir(src_dir) as entries:  # file types from the directory: no stat per file
            for entry in entries:
                dst = os.path.join(dst_dir, entry.name)
                if entry.is_symlink():
                    os.symlink(os.readlink(entry.path), dst)
                elif entry.is_dir():
                    todo.append((entry.path, dst))
                else:
                    mode = _link_file(entry.path, dst, mode)
    return mode


def _link_file(src: str, dst: str, mode: str) -> str:
    """Link ``dst`` to ``src`` the way ``mode`` says, falling back (reflink, hardlink, copy);
    returns the mode that worked, for the next file."""
    if mode == "reflink":
        try:
            with open(src, "rb") as source, open(dst, "wb") as target:
                fcntl.ioctl(target.fileno(), FICLONE, source.fileno())
            shutil.copystat(src, dst)
            return mode
        except OSError:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(dst)
            mode = "hardlink"
    if mode == "hardlink":
        try:
            os.link(src, dst)
            return mode
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
                raise
            mode = "copy"
    shutil.copy2(src, dst)
    return mode


class SharedFolders:
    """The kept copies of shared folders, one per ``Share`` path and key, under ``root``
    (``<git common dir>/planflow/share``)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def kept(self, share: Share, key: str) -> Path:
        """Where the copy of ``share`` for ``key`` is kept (it may not exist)."""
        slug = "".join(c if c.isalnum() else "-" for c in share.path)
        return self.root / f"{slug}-{key}"

    def restore(self, share: Share, key: str, worktree: Path) -> str | None:
        """Link the kept copy of ``share`` for ``key`` into ``worktree`` (replacing what the
        checkout has there); returns the link mode (``link_tree``), None when there is no copy."""
        kept = self.kept(share, key)
        if not kept.is_dir():
            return None
        target = worktree / share.path
        if target.is_symlink() or target.is_file():
            target.unlink()
        elif target.exists():
            shutil.rmtree(target)
        return link_tree(kept, target)

    def keep(self, share: Share, key: str, worktree: Path) -> bool:
        """Keep ``worktree``'s built ``share`` folder as the copy for ``key`` (linked, then
        moved into place at once, so a concurrent task sees all of it or none). Returns False
        when the worktree has no such folder or another task kept one first."""
        built = worktree / share.path
        kept = self.kept(share, key)
        if not built.is_dir() or kept.exists():
            return False
        scratch = self.root / f".tmp-{uuid.uuid4().hex}"
        link_tree(built, scratch)
        try:
            scratch.rename(kept)
        except OSError:  # another task kept it first
            shutil.rmtree(scratch, ignore_errors=True)
            return False
        return True
