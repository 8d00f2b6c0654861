"""``Repository``: the git operations planflow needs, without touching the user's checkout.

Promises:

- the main working tree, its index and HEAD are never changed: all work happens in linked
  worktrees (under ``<root>/.worktrees/``, excluded via ``.git/info/exclude``) and on branches
  planflow names;
- no work is lost: before a branch is moved or a worktree removed, commits that would become
  unreachable and uncommitted changes are saved under ``refs/planflow/salvage/<name>/<UTC time>``;
- one git writer at a time per repository: ``Repository.lock()`` (a re-entrant thread lock plus
  an ``fcntl.flock`` on ``<git common dir>/planflow/repo.lock`` for other processes).
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import git

from gitops import guard
from gitops.command import AUTOMATION_CONFIG, read_config_file, run_git
from gitops.errors import GitError, shown
from gitops.nested import flatten_nested
from gitops.shared_files import restore_abandoned
from gitops.stack import StackEntry, stack_branches
from gitops.stored import UNKNOWN, Stored, head_ref

__all__ = ["Repository", "StackEntry", "open_repository"]

FALLBACK_IDENTITY = {"NAME": "planflow", "EMAIL": "planflow@localhost"}
"""Author/committer used when the repository has no ``user.name``/``user.email``."""

logger = logging.getLogger("planflow.git")

_repositories: dict[Path, Repository] = {}
_repositories_lock = threading.Lock()


def open_repository(path: Path | str) -> Repository:
    """The process-wide ``Repository`` for the git repository containing ``path``.

    Returns the same object for every path inside the same main work tree, so all threads
    share its lock. Raises ``ValueError`` like ``Repository``.
    """
    key = Path(path).resolve()
    with _repositories_lock:
        if key in _repositories:
            return _repositories[key]
    repo = Repository(key)
    with _repositories_lock:
        shared = _repositories.setdefault(repo.root, repo)
        _repositories[key] = shared
        return shared


class Repository:
    """A git repository with a work tree; see the module docstring for what it promises.

    Attributes: ``root`` (top of the main work tree), ``state_dir``
    (``<git common dir>/planflow``, created), ``common_dir`` (the shared ``.git`` directory).
    """

    def __init__(self, path: Path) -> None:
        """Open the repository containing ``path`` (any path inside the main or a linked work tree)
        and make sure ``.worktrees/`` is in ``<git common dir>/info/exclude``. Shared git files
        an agent of a killed planflow process changed are put back first
        (``gitops.shared_files.restore_abandoned``), then the command-running configuration is
        recorded as the baseline of ``gitops.guard``.

        Raises ``ValueError`` when ``path`` is not inside a git work tree, the repository is
        bare, or HEAD has no commit yet.
        """
        try:
            found = git.Repo(path, search_parent_directories=True)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError) as error:
            raise ValueError(f"{path} is not inside a git repository") from error
        if found.bare or found.working_tree_dir is None:
            raise ValueError(f"{path} is in a bare git repository; planflow needs a work tree")
        self.common_dir = Path(found.common_dir).resolve()
        # a run killed while its agent ran left what the agent planted: put back before the
        # guard's baseline is read
        for change in restore_abandoned(self.common_dir, self.common_dir / "planflow" / "shared-git"):
            logger.warning("put back %s in %s (left by an agent of a killed run)", change, self.common_dir)
        guard.protect(self.common_dir, read_config_file)
        main, bare = _main_worktree(Path(found.working_tree_dir))
        if bare:
            raise ValueError(f"the main worktree of {path} is bare; planflow needs a work tree")
        self.root = main
        self._stored = Stored(found, self.common_dir)
        self._identity: tuple[tuple, dict[str, str]] | None = None
        self.state_dir = self.common_dir / "planflow"
        self.state_dir.mkdir(exist_ok=True)
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._lock_fd = -1
        if self.resolve("HEAD") is None:
            raise ValueError(f"{self.root} has no commit yet (HEAD is unborn); make a first commit")
        self._exclude_worktrees_dir()

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the repository lock (re-entrant within a thread; blocks other threads and processes)."""
        with self._thread_lock:
            if self._depth == 0:
                fd = os.open(self.state_dir / "repo.lock", os.O_RDWR | os.O_CREAT, 0o644)
                fcntl.flock(fd, fcntl.LOCK_EX)
                self._lock_fd = fd
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    os.close(self._lock_fd)  # closing releases the flock
                    self._lock_fd = -1

    def head_sha(self) -> str:
        """The commit the main work tree's HEAD points at. Raises ``GitError``."""
        return self._git("read HEAD", "rev-parse", "--verify", "HEAD^{commit}")

    def head_branch(self) -> str | None:
        """The branch checked out in the main work tree, or None when its HEAD is detached."""
        head = self._worktrees()[0][1]
        return head.removeprefix("refs/heads/") if head and head.startswith("refs/heads/") else None

    def resolve(self, ref: str) -> str | None:
        """The commit sha ``ref`` (branch, tag, sha, ``HEAD~2``...) names, or None when it names
        no commit. A full ref name (``refs/...``) names that ref only (no other ref git's
        abbreviation rules would try); it and a 40-digit sha are read from the repository's
        files when they can be (``gitops.stored``: no git process). Raises ``GitError`` when
        git fails otherwise."""
        target = self._stored.ref(ref) if ref.startswith("refs/") else ref
        if target is None:
            return None
        if target is not UNKNOWN and self._stored.commit_parents(target) is not UNKNOWN:
            return target
        try:
            return self._git(
                f"resolve {ref}", "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"
            )
        except GitError as error:
            if error.exit_code == 1:
                return None
            raise

    def require_commit(self, ref: str) -> str:
        """Like ``resolve`` but raises ``ValueError`` when ``ref`` names no commit."""
        sha = self.resolve(ref)
        if sha is None:
            raise ValueError(f"{ref!r} names no commit in {self.root}")
        return sha

    def commit_exists(self, sha: str) -> bool:
        """True when commit ``sha`` is in the object database."""
        return self.resolve(sha) is not None

    def known_parents(self, sha: str) -> list[str] | None:
        """The parents of commit ``sha`` (40 digits) when the repository's files show them
        (``gitops.stored``), else None (no such commit, or only git could say)."""
        parents = self._stored.commit_parents(sha)
        return None if parents is UNKNOWN else parents

    def known_commit(self, sha: str) -> bytes | None:
        """The raw commit object ``sha`` (40 digits) when the repository's files hold it
        (``gitops.stored``), else None (only git could say)."""
        data = self._stored.commit_data(sha)
        return None if data is UNKNOWN else data

    def branch_worktree(self, branch: str) -> Path | None:
        """The worktree (main or linked) that has ``branch`` checked out, or None."""
        ref = f"refs/heads/{branch}"
        return next((path for path, head in self._worktrees() if head == ref), None)

    def prepare_worktree(self, path: Path, branch: str, base: str) -> Path:
        """Create a fresh worktree at ``path`` on ``branch``, which is (re)set to commit ``base``.

        Under the lock: salvages and removes a worktree already at ``path`` (prunes its entry
        when its folder is gone); salvages ``branch``'s old tip when it holds commits ``base``
        lacks; then ``git worktree add -B`` (the only git process when no worktree is at
        ``path`` and ``branch`` is new or at ``base``). Returns the worktree path (absolute). Raises ``ValueError`` when
        ``base`` is no commit or another worktree (e.g. the user's) has ``branch`` checked out,
        ``GitError`` when git fails (e.g. ``path`` exists and is not a worktree). The checkout
        runs in parallel (``checkout.workers=0``: one worker per core).
        """
        path = Path(path).resolve()
        with self.lock():
            worktrees = self._worktrees()
            if path in {p for p, _ in worktrees[1:]}:
                self.remove_worktree(path)
                worktrees = self._worktrees()
            base_sha = self.require_commit(base)
            holder = next((p for p, head in worktrees if head == f"refs/heads/{branch}"), None)
            if holder is not None and not holder.exists():  # a stale entry: prune, look again
                self._git("prune worktrees", "worktree", "prune")
                holder = self.branch_worktree(branch)
            if holder is not None:
                raise ValueError(f"branch {branch} is checked out in {holder}; planflow will not reset it")
            old = self.resolve(f"refs/heads/{branch}")
            if old is not None and old != base_sha:
                self._salvage_commit(branch, old, new=base_sha)
            self.record_branch(branch)
            # parallel checkout, one worker per core (git does it from 100 files on): 3 to 6x
            # faster on a 20,000-file repository (docs/benchmarks.md, P5)
            self._git(f"create worktree {path}", "-c", "checkout.workers=0", "worktree", "add", "-B",
                      branch, str(path), base_sha)
        return path

    def commit_all(self, worktree: Path, message: str) -> str | None:
        """Stage everything in linked worktree ``worktree`` and commit it with ``message``.

        Uses ``planflow <planflow@localhost>`` for whatever of ``user.name``/``user.email`` is
        not configured (through the environment; the config is not changed). User hooks and
        signing are off. Two git processes (``add``, ``commit``); only a failed commit is
        looked at again (``diff --cached``: nothing staged, or a real error). Returns the new
        commit sha, or None when nothing changed. Raises ``ValueError`` when ``worktree`` is
        not a linked worktree, ``GitError``.
        """
        worktree = self._linked_worktree(worktree)
        with self.lock():
            run_git(worktree, "stage changes", "add", "-A")
            try:
                run_git(worktree, "commit", *AUTOMATION_CONFIG, "commit", "-q", "-m", message,
                        env=self._identity_env(worktree))
            except GitError:
                try:
                    run_git(worktree, "look for staged changes", "diff", "--cached", "--quiet")
                    return None
                except GitError as error:
                    if error.exit_code != 1:
                        raise
                raise
            return self._worktree_head(worktree)

    def detached_worktree(self, path: Path, commit: str) -> Path:
        """A fresh worktree at ``path`` with a detached HEAD at ``commit`` (for reading and
        running checks; no branch moves). A worktree already at ``path`` is salvaged and removed
        first. Returns the absolute path. Raises ``ValueError`` when ``commit`` is no commit,
        ``GitError``."""
        path = Path(path).resolve()
        with self.lock():
            self.remove_worktree(path)
            sha = self.require_commit(commit)
            self._git(f"create worktree {path}", *AUTOMATION_CONFIG, "worktree", "add", "--detach",
                      str(path), sha)
        return path

    def diff(self, base: str, tip: str) -> str:
        """The unified diff (``git diff``) from commit ``base`` to commit ``tip``, renames as
        delete + add. Raises ``GitError``."""
        return self._git("diff commits", "diff", "--no-renames", "--no-color", "--no-ext-diff",
                         "--no-textconv", "--end-of-options",
                         base, tip)

    def changed_files(self, base: str, tip: str) -> list[str]:
        """Paths that differ between commits ``base`` and ``tip`` (renames as delete + add), sorted,
        escaped for showing (``gitops.errors.shown``: bytes that are not UTF-8 as ``\\xNN``).
        Raises ``GitError``."""
        names = self._stored.changed_paths(base, tip)
        if names is UNKNOWN:
            out = self._git("list changed files", "diff", "--name-only", "--no-renames", "-z",
                            "--end-of-options", base, tip)
            names = out.split("\0")
        return sorted(shown(name) for name in names if name)

    def remove_worktree(self, path: Path) -> bool:
        """Remove linked worktree ``path`` after salvaging its uncommitted changes (and a
        detached HEAD no ref contains). Returns True when a worktree was removed, False (no-op)
        when no worktree is at ``path``. A worktree on a branch is first removed without
        ``--force`` (one git process: git refuses when it has a change or a submodule, and then
        it is salvaged and removed by force). Raises ``ValueError`` for the main work tree,
        ``GitError``."""
        path = Path(path).resolve()
        with self.lock():
            listed = path in {p for p, _ in self._worktrees()[1:]}
            if listed and not path.exists():  # deleted behind git's back: drop its entry
                self._git("prune worktrees", "worktree", "prune")
            if not listed or not path.exists():
                if path == self.root:
                    raise ValueError(f"{path} is the main work tree; planflow never removes it")
                return False
            if worktree_head_ref(path) is not None:
                try:  # git checks that nothing uncommitted would be lost
                    self._git(f"remove worktree {path}", "worktree", "remove", str(path))
                    return True
                except GitError:
                    pass
            self._salvage_worktree(path)
            self._git(f"remove worktree {path}", "worktree", "remove", "--force", str(path))
            return True

    def sweep_worktrees(self, prefix: str) -> list[Path]:
        """Salvage and remove every linked worktree under ``<root>/.worktrees/`` whose folder
        name starts with ``prefix`` (a dead run's orphans). Returns the removed paths. Raises
        ``GitError``."""
        with self.lock():
            self._git("prune worktrees", "worktree", "prune")
            folder = (self.root / ".worktrees").resolve()
            orphans = [path for path, _ in self._worktrees()[1:]
                       if path.parent == folder and path.name.startswith(prefix)]
            for path in orphans:
                self.remove_worktree(path)
            return orphans

    def fetch(self, remote: str, refspecs: list[str]) -> None:
        """``git fetch remote refspecs`` (forced: ``+src:dst``) under the lock; ``remote`` is a URL
        or a path. Raises ``GitError`` (e.g. a ref the remote lacks)."""
        with self.lock():
            self._git(f"fetch from {remote}", "fetch", "--quiet", "--no-tags", remote,
                      *[f"+{spec.lstrip('+')}" for spec in refspecs])

    def push(self, remote: str, refspecs: list[str]) -> None:
        """``git push --force remote refspecs`` under the lock; never pushes the user's branches
        unless named. Raises ``GitError``."""
        with self.lock():
            self._git(f"push to {remote}", "push", "--quiet", "--force", remote, *refspecs)

    def set_branch(self, branch: str, sha: str) -> None:
        """Create ``refs/heads/<branch>`` at commit ``sha`` or move it there (``set_branches``
        with one branch; raises the same)."""
        self.set_branches({branch: sha})

    def set_branches(self, moves: dict[str, str]) -> None:
        """Create or move each ``refs/heads/<branch>`` of ``moves`` ({branch: commit sha}) to its
        commit, salvaging an old tip whose commits the new one lacks, in one ``git update-ref
        --stdin`` transaction (all move or none). Raises ``ValueError`` when a worktree has one of
        the branches checked out (moving it would change that checkout; nothing moves),
        ``GitError``."""
        if not moves:
            return
        with self.lock():
            checked_out = {head: path for path, head in self._worktrees() if head}
            for branch in moves:
                if (holder := checked_out.get(f"refs/heads/{branch}")) is not None:
                    raise ValueError(f"branch {branch} is checked out in {holder}; remove that worktree first")
            tips = self._stored.ref_tips()  # one read of the refs for every salvage check
            for branch, sha in moves.items():
                old = self.resolve(f"refs/heads/{branch}")
                if old is not None and old != sha:
                    self._salvage_commit(branch, old, new=sha, tips=tips)
            commands = "".join(f"update refs/heads/{branch} {sha}\n" for branch, sha in moves.items())
            run_git(self.root, f"set branch{'es' if len(moves) > 1 else ''} {', '.join(moves)}",
                    "update-ref", "-m", "planflow", "--stdin", stdin=commands)

    def record_branch(self, branch: str) -> None:
        """Add ``branch`` to the branches planflow created (``<state dir>/branches``, one name a
        line), the only ones ``planflow clean`` deletes. Raises ``OSError``."""
        with self.lock():
            if branch not in self.recorded_branches():
                with (self.state_dir / "branches").open("a", encoding="utf-8") as names:
                    names.write(branch + "\n")

    def recorded_branches(self) -> set[str]:
        """The branches planflow created in this repository (``record_branch``)."""
        try:
            return set((self.state_dir / "branches").read_text(encoding="utf-8").splitlines())
        except FileNotFoundError:
            return set()

    def ref_tips(self) -> dict[str, str]:
        """{full ref name: object sha} of every ref (read from the files, else ``git
        for-each-ref``). Raises ``GitError``."""
        tips = self._stored.ref_tips()
        if tips is not UNKNOWN:
            return tips
        out = self._git("list refs", "for-each-ref", "--format=%(objectname) %(refname)")
        return {ref: sha for sha, _, ref in (line.partition(" ") for line in out.splitlines())}

    def restore_ref(self, ref: str, old: str, current: str | None) -> None:
        """Point ``ref`` at ``old`` again (re-creating it when deleted), only if it is still at
        ``current`` (None: absent); a ``current`` commit ``old`` lacks is saved to a salvage ref
        first. When another task's check put ``ref`` back (or moved it on) meanwhile, its value
        under the lock is the one restored from (nothing to do when it is at ``old``). Raises
        ``GitError``."""
        with self.lock():
            current = self.ref_tips().get(ref)
            if current == old:
                return
            if current is not None and self.resolve(current) is not None:
                self._salvage_commit(ref.rsplit("/", 1)[-1], current, new=old)
            self._git(f"restore {ref}", "update-ref", "-m", "planflow: restored", ref, old,
                      current or "0" * 40)

    def branches(self, pattern: str = "*") -> list[str]:
        """Local branch names matching the ``fnmatch``-style ``pattern``, sorted. Raises ``GitError``."""
        return self._git("list branches", "for-each-ref", "--format=%(refname:lstrip=2)",
                         f"refs/heads/{pattern}").splitlines()

    def refs(self, prefix: str) -> list[str]:
        """Full names of the refs under ``prefix`` (e.g. ``refs/planflow/salvage/``), sorted.
        Raises ``GitError``."""
        return self._git("list refs", "for-each-ref", "--format=%(refname)", prefix).splitlines()

    def count_commits(self, tip: str, base: str) -> int:
        """How many commits ``tip`` has that ``base`` lacks (``git rev-list --count base..tip``).
        Raises ``GitError``."""
        return int(self._git("count commits", "rev-list", "--count", "--end-of-options", f"{base}..{tip}"))

    def delete_branch(self, branch: str, salvage: bool = True) -> str:
        """Delete ``refs/heads/<branch>`` (only if it still points where it was read) and return
        its tip sha. With ``salvage``, the tip is first saved to a salvage ref unless a kept
        ``refs/planflow`` ref holds it. Raises ``ValueError`` when a worktree has ``branch``
        checked out or it names no commit, ``GitError``."""
        with self.lock():
            holder = self.branch_worktree(branch)
            if holder is not None:
                raise ValueError(f"branch {branch} is checked out in {holder}; planflow will not delete it")
            tip = self.require_commit(f"refs/heads/{branch}")
            if salvage and not self._kept(tip):
                self.keep_ref(self._salvage_name(branch), tip)
            self._git(f"delete branch {branch}", "update-ref", "-d", f"refs/heads/{branch}", tip)
            return tip

    def keep_ref(self, name: str, sha: str) -> None:
        """Point ``refs/planflow/<name>`` at ``sha`` so the commit stays reachable. A commit the
        ref held before that neither ``sha`` nor another kept ref contains (a task re-run after a
        crash between its commit and its end) is saved to a salvage ref first. Raises ``GitError``."""
        ref = f"refs/planflow/{name}"
        with self.lock():
            old = self.resolve(ref)
            if old is not None and old != sha:
                self._salvage_commit(name.replace("/", "-"), old, new=sha, ignore=ref)
            self._git(f"keep ref {name}", "update-ref", "-m", "planflow", ref, sha)

    def stack(self, base: str, entries: list[StackEntry], scratch: Path) -> list[str]:
        """Stack the entries' branches in order on ``base``: base -> e1 -> e2 -> ...

        Each entry's own commits (those of its ``tip`` not in ``base``, an earlier entry's ``tip``
        or the stack built so far) are replayed onto the previous entry's new tip as a
        cherry-pick would, without a worktree (``git merge-tree --write-tree`` + ``commit-tree``,
        git 2.38+), or else cherry-picked in a temporary detached worktree at ``scratch``
        (removed afterwards); either way keeping the original author, committer identity and
        date, so the result is deterministic. An entry already sitting on
        the previous tip is kept; one without own commits gets the previous tip. Branches move only when every
        entry applied. Returns the new tips, one per entry. Raises ``StackConflict`` on a
        conflict (no branch moved), ``ValueError`` when a ref names no commit or an entry's
        branch is checked out in a worktree, ``GitError``.
        """
        return stack_branches(self, base, entries, Path(scratch).resolve())

    # -- helpers --------------------------------------------------------------------------

    def _git(self, operation: str, *args: str) -> str:
        return run_git(self.root, operation, *args)

    def _worktrees(self) -> list[tuple[Path, str | None]]:
        """(path, HEAD) of every worktree, the main one first; HEAD is ``refs/heads/<b>`` or
        None (detached): read from git's records of them, with no git process."""
        return [(self.root, head_ref(self.common_dir)), *self._stored.linked_worktrees()]

    def _worktree_head(self, worktree: Path) -> str:
        """The commit linked worktree ``worktree``'s HEAD is at (read from the files when it can be)."""
        ref = worktree_head_ref(worktree)
        sha = self.resolve(ref) if ref else None
        return sha or run_git(worktree, "read worktree HEAD", "rev-parse", "HEAD")

    def _linked_worktree(self, path: Path) -> Path:
        """``path`` resolved, when it is a linked worktree; ValueError otherwise (the main work
        tree or a folder inside it must never be staged or committed). Read as git does, with
        no git process: ``path/.git`` is a file naming ``<common dir>/worktrees/<name>``, whose
        ``gitdir`` file names ``path/.git`` back."""
        path = Path(path).resolve()
        try:
            admin = path / path.joinpath(".git").read_text().partition("gitdir:")[2].strip()
            back = admin / (admin / "gitdir").read_text().strip()
        except OSError:
            admin = back = None
        if (admin is None or admin.resolve().parent != self.common_dir / "worktrees"
                or back.resolve() != path / ".git"):
            raise ValueError(f"{path} is not a linked worktree of {self.root}")
        return path

    def _identity_env(self, cwd: Path) -> dict[str, str]:
        """Environment giving git the fallback identity for unconfigured ``user.name``/``user.email``.
        git is asked again only when a config file it reads changed (``_config_stamp``) or
        the identity variables did: one git process per run rather than per commit."""
        stamp = _config_stamp(self.common_dir, cwd)
        if self._identity is not None and self._identity[0] == stamp:
            return dict(self._identity[1])
        try:  # one git call for both keys
            found = run_git(cwd, "read identity", "config", "--get-regexp", r"^user\.(name|email)$")
        except GitError as error:
            if error.exit_code != 1:
                raise
            found = ""
        env = {}
        configured = {line.split(" ", 1)[0].lower() for line in found.splitlines()}
        for part, fallback in FALLBACK_IDENTITY.items():
            if f"user.{part.lower()}" in configured:
                continue
            for role in ("AUTHOR", "COMMITTER"):
                if f"GIT_{role}_{part}" not in os.environ:
                    env[f"GIT_{role}_{part}"] = fallback
        self._identity = (stamp, env)
        return dict(env)

    def _salvage_worktree(self, path: Path) -> None:
        """Save ``path``'s uncommitted changes (``git add -A`` + ``git stash create`` in that
        worktree; a nested repository's files as plain files, its ``.git`` moved to
        ``<state dir>/nested/salvage/...``), or its detached HEAD when no ref contains it, to a
        salvage ref."""
        # a clean worktree (the usual case) costs this one git call, not four
        if run_git(path, "look for changes to salvage", "status", "--porcelain", "-z",
                   "--untracked-files=all"):
            # a nested repository would be staged as a gitlink, or fail the add (no commit yet)
            flatten_nested(path, self.state_dir / "nested" / self._salvage_name(path.name))
            run_git(path, "stage changes for salvage", "add", "-A")
            stash = run_git(path, "salvage changes", "stash", "create", env=self._identity_env(path))
            if stash:
                self.keep_ref(self._salvage_name(path.name), stash)
                return
        if worktree_head_ref(path) is None:
            head = run_git(path, "read worktree HEAD", "rev-parse", "HEAD")
            if not self._refs_containing(head):
                self.keep_ref(self._salvage_name(path.name), head)

    def contains(self, tip: str, ancestor: str) -> bool:
        """True when commit ``tip`` contains commit ``ancestor`` (``git merge-base
        --is-ancestor``). Raises ``GitError`` when either is no commit."""
        try:
            self._git("compare commits", "merge-base", "--is-ancestor", ancestor, tip)
            return True
        except GitError as error:
            if error.exit_code != 1:
                raise
            return False

    def _salvage_commit(self, name: str, sha: str, new: str, ignore: str | None = None,
                        tips: object = None) -> None:
        """Save ``sha`` to a salvage ref unless ``new`` or a kept (non-salvage) ``refs/planflow``
        ref other than ``ignore`` contains it; ``tips``: the refs as ``Stored.ref_tips`` read
        them under the caller's lock (default: read now)."""
        if self._kept_tip(sha, ignore, tips) or self.contains(new, sha):
            return
        if not self._kept(sha, ignore):
            self.keep_ref(self._salvage_name(name), sha)

    def _kept(self, sha: str, ignore: str | None = None) -> bool:
        """True when a kept (non-salvage) ``refs/planflow`` ref other than ``ignore`` contains
        commit ``sha``."""
        return self._kept_tip(sha, ignore) or any(
            _keeps(ref, ignore) for ref in self._refs_containing(sha, "refs/planflow"))

    def _kept_tip(self, sha: str, ignore: str | None, tips: object = None) -> bool:
        """True when the files show a kept ref (as in ``_kept``) pointing at ``sha`` itself (a
        task's keep ref at its commit: no git process); ``tips`` as in ``_salvage_commit``."""
        tips = self._stored.ref_tips() if tips is None else tips
        return tips is not UNKNOWN and any(tip == sha and ref.startswith("refs/planflow/") and _keeps(ref, ignore)
                                           for ref, tip in tips.items())

    def _refs_containing(self, sha: str, *patterns: str) -> list[str]:
        """Refs (matching ``patterns``, if given) that contain commit ``sha``."""
        return self._git("find refs containing commit", "for-each-ref", "--format=%(refname)",
                         "--contains", sha, *patterns).splitlines()

    @staticmethod
    def _salvage_name(name: str) -> str:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        return f"salvage/{name}/{stamp}"

    def _exclude_worktrees_dir(self) -> None:
        """Add ``.worktrees/`` to ``info/exclude`` unless it is there."""
        exclude = self.common_dir / "info" / "exclude"
        text = exclude.read_text() if exclude.exists() else ""
        if ".worktrees/" not in text.splitlines():
            exclude.parent.mkdir(exist_ok=True)
            exclude.write_text(text + ("" if text.endswith("\n") or not text else "\n") + ".worktrees/\n")


def _keeps(ref: str, ignore: str | None) -> bool:
    """True when ``ref`` (under ``refs/planflow/``) keeps commits: not a salvage ref, not ``ignore``."""
    return not ref.startswith("refs/planflow/salvage/") and ref != ignore


def _config_stamp(common_dir: Path, cwd: Path) -> tuple:
    """What decides the identity git uses in ``cwd``: the (size, mtime, inode) of each config
    file git reads there (system, global, the repository's, a linked worktree's
    ``config.worktree``) and the environment variables that choose them or set the identity.
    Files a config file includes are not looked at (like ``gitops.guard``)."""
    env = {name: value for name, value in os.environ.items()
           if name.startswith(("GIT_CONFIG", "GIT_AUTHOR_", "GIT_COMMITTER_", "XDG_CONFIG_HOME", "HOME"))}
    home = Path(os.environ.get("HOME", "~")).expanduser()
    xdg = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")
    files = [Path("/etc/gitconfig"), Path(os.environ.get("GIT_CONFIG_GLOBAL") or home / ".gitconfig"),
             xdg / "git" / "config", common_dir / "config"]
    try:  # a linked worktree's own config, looked at only when there is one
        own = Path(cwd) / (Path(cwd) / ".git").read_text().partition("gitdir:")[2].strip() / "config.worktree"
        files += [own] if own.exists() else []
    except OSError:
        pass
    stamps = []
    for file in files:
        try:
            info = file.stat()
            stamps.append((str(file), info.st_size, info.st_mtime_ns, info.st_ino))
        except OSError:
            stamps.append((str(file), None))
    return tuple(sorted(env.items())), tuple(stamps)


def worktree_head_ref(path: Path) -> str | None:
    """The ref HEAD points at in linked worktree ``path`` (``refs/heads/...``), or None when it
    is detached: read from git's record of the worktree (``path/.git`` names it) with no git
    process; through ``git symbolic-ref`` when those files cannot be read. Raises ``GitError``."""
    try:
        admin = path / (path / ".git").read_text().partition("gitdir:")[2].strip()
        head = (admin / "HEAD").read_text().strip()
    except OSError:
        try:
            return run_git(path, "read HEAD ref", "symbolic-ref", "-q", "HEAD")
        except GitError as error:
            if error.exit_code != 1:
                raise
            return None
    return head.removeprefix("ref:").strip() if head.startswith("ref:") else None


def _main_worktree(cwd: Path) -> tuple[Path, bool]:
    """(path, bare) of the main worktree of the repository ``cwd`` is in (``git worktree list``'s
    first entry). Raises ``GitError``."""
    lines = _list_worktrees(cwd).split("\n\n", 1)[0].splitlines()
    return Path(lines[0].partition(" ")[2]).resolve(), "bare" in lines[1:]


def _list_worktrees(cwd: Path, attempts: int = 5) -> str:
    """``git worktree list --porcelain`` in ``cwd``. git reads every ``.git/worktrees/<name>/``
    entry, and one that another thread or process is creating at that moment can be half
    written (``fatal: failed to read .../commondir``): then it is read again after 50 ms, up to
    ``attempts`` times. Raises ``GitError``."""
    command = ("worktree", "list", "--porcelain")
    for _ in range(attempts - 1):
        try:
            return run_git(cwd, "list worktrees", *command)
        except GitError as error:
            if "failed to read" not in error.stderr:
                raise
        time.sleep(0.05)
    return run_git(cwd, "list worktrees", *command)
