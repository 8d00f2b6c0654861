"""Stacking task branches: ``StackEntry`` and ``stack_branches`` (used as ``Repository.stack``)."""

from __future__ import annotations

import functools
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from pydantic import BaseModel

from gitops.command import AUTOMATION_CONFIG, run_git
from gitops.errors import GitError, StackConflict

if TYPE_CHECKING:
    from gitops.repo import Repository


class StackEntry(BaseModel):
    """One branch to stack: ``label`` (the task id), ``branch`` (short name), ``tip`` (the commit
    holding the task's work)."""

    label: str
    branch: str
    tip: str


class Commit(NamedTuple):
    """A commit to replay: ``sha``, its ``first_parent`` and ``committer_env`` (the original
    committer's name, email and date as ``GIT_COMMITTER_*`` variables)."""

    sha: str
    first_parent: str
    committer_env: dict[str, str]


def stack_branches(repo: Repository, base: str, entries: list[StackEntry], scratch: Path) -> list[str]:
    """Implementation of ``Repository.stack`` (see there); ``scratch`` is an absolute path."""
    with repo.lock():
        new_tips = restacked_tips(repo, base, entries, scratch)
        repo.set_branches({entry.branch: new_tip for entry, new_tip in zip(entries, new_tips)
                           if repo.resolve(f"refs/heads/{entry.branch}") != new_tip})  # most stay
        return new_tips


def restacked_tips(repo: Repository, base: str, entries: list[StackEntry], scratch: Path) -> list[str]:
    """The tips ``Repository.stack`` would give the entries' branches, without moving any:
    the commits are made in the scratch worktree at ``scratch`` (absolute; removed after).
    Raises like ``Repository.stack``."""
    with repo.lock():
        for entry in entries:
            holder = repo.branch_worktree(entry.branch)
            if holder is not None:
                raise ValueError(f"branch {entry.branch} is checked out in {holder}; remove that worktree first")
        base_sha = repo.require_commit(base)
        tips = [repo.require_commit(entry.tip) for entry in entries]
        new_tips: list[str] = []
        prev, scratch_made = base_sha, False
        parents: dict[str, list[str] | None] = {}  # commits read once for every entry's walk
        try:
            for index, (entry, tip) in enumerate(zip(entries, tips)):
                # the stack so far is not the entry's own work (a resolved conflict sits on it)
                commits = own_commits(repo, tip, [base_sha, *tips[:index], *new_tips], parents)
                if not commits:
                    new_tip = prev
                elif commits[0].first_parent == prev:
                    new_tip = tip
                elif (merged := _merge_in_memory(repo, prev, commits, base_sha)) is not None:
                    if isinstance(merged, list):
                        raise _conflict(repo, base_sha, entries[: index + 1], tips, merged)
                    new_tip = merged
                else:  # this git, or these commits, need a checkout
                    if not scratch_made:
                        repo.remove_worktree(scratch)  # a leftover from an interrupted run
                        run_git(repo.root, "create stacking worktree", *AUTOMATION_CONFIG,
                                "worktree", "add", "--detach", str(scratch), prev)
                        scratch_made = True
                    files = _pick(scratch, prev, commits, entry.label)
                    if files:
                        raise _conflict(repo, base_sha, entries[: index + 1], tips, files)
                    new_tip = run_git(scratch, "read stacked tip", "rev-parse", "HEAD")
                new_tips.append(new_tip)
                prev = new_tip
        finally:
            if scratch_made:
                run_git(repo.root, "remove stacking worktree", "worktree", "remove", "--force", str(scratch))
        return new_tips


def _conflict(repo: Repository, base: str, entries: list[StackEntry], tips: list[str],
              files: list[str]) -> StackConflict:
    """The ``StackConflict`` for the last of ``entries``; the other side is the earliest earlier
    entry whose changes since ``base`` touch one of ``files``."""
    task = entries[-1]
    other = next((earlier for earlier, tip in zip(entries[:-1], tips)
                  if set(repo.changed_files(base, tip)) & set(files)), None)
    branches = {entry.label: entry.branch for entry in (other, task) if entry is not None}
    return StackConflict(task.label, other.label if other else None, files, branches, base)


WALK_LIMIT = 200
"""Commits read from the files, at most, to find that no commit of ``exclude`` contains a tip
(``_one_own_commit``); past it, ``git rev-list`` answers."""


def own_commits(repo: Repository, tip: str, exclude: list[str],
                parents: dict[str, list[str] | None] | None = None) -> list[Commit]:
    """Commits of ``tip`` not in any of ``exclude`` (commit shas), oldest first. A tip that is
    one commit on a commit of ``exclude`` (a task's usual work) is answered from the files
    (``_one_own_commit``; ``parents`` keeps the parents it read, {sha: parents or None}, for
    the caller's next call), the rest by ``git rev-list``. Raises ``GitError``."""
    if tip in exclude:
        return []
    single = _one_own_commit(repo, tip, exclude, {} if parents is None else parents)
    if single is not None:
        return [single]
    out = run_git(repo.root, "list commits to stack", "rev-list", "--reverse", "--topo-order",
                  "--no-commit-header", "--date=raw", "--format=%H%x00%P%x00%cn%x00%ce%x00%cd",
                  tip, "--not", *exclude)
    commits = []
    for line in out.splitlines():
        sha, parents, name, email, date = line.split("\0")
        env = {"GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email, "GIT_COMMITTER_DATE": date}
        commits.append(Commit(sha, parents.split(" ")[0], env))
    return commits


MERGE_TREE = (2, 38)
"""The first git whose ``merge-tree --write-tree`` merges without a worktree."""

MERGE_BASE = (2, 40)
"""The first git whose ``merge-tree`` takes ``--merge-base`` (a cherry-pick's base: the
commit's parent)."""

_HEADERS = {b"tree", b"parent", b"author", b"committer"}
"""Commit headers a commit made by ``commit-tree`` reproduces; a commit with others (an
encoding, a signature) is replayed by ``cherry-pick``."""


def _merge_in_memory(repo: Repository, onto: str, commits: list[Commit], base: str) -> str | list[str] | None:
    """``commits`` (oldest first) replayed onto commit ``onto`` without a worktree: for each,
    ``git merge-tree --write-tree`` merges it with its parent as the merge base (what
    ``cherry-pick`` does) and ``commit-tree`` makes the commit with the original author,
    committer and message. Returns the new tip, the conflicting paths of the first commit that
    conflicts (sorted), or None when this must be done in a worktree: a git older than 2.38;
    a commit with more than one parent or headers ``commit-tree`` cannot give (``_HEADERS``);
    before git 2.40 (no ``--merge-base``), anything but one commit whose parent is ``base``
    (whose merge base with ``onto``, a descendant of ``base``, is that parent). Raises
    ``GitError``."""
    version = git_version(repo.root)
    if version < MERGE_TREE or (version < MERGE_BASE and (len(commits) != 1 or commits[0].first_parent != base)):
        return None
    parts = [_commit_parts(repo, commit.sha) for commit in commits]
    if None in parts:
        return None
    tip = onto
    for commit, (author_env, message) in zip(commits, parts):  # type: ignore[misc]
        merge_base = ("--merge-base", commit.first_parent) if version >= MERGE_BASE else ()
        try:
            out = run_git(repo.root, f"merge {commit.sha[:10]} onto the stack", "merge-tree",
                          "--write-tree", "--name-only", "-z", "--no-messages", *merge_base, tip, commit.sha)
        except GitError as error:
            if error.exit_code != 1:
                raise
            return sorted({name for name in error.stdout.split("\0")[1:] if name})
        with tempfile.NamedTemporaryFile(dir=repo.state_dir, prefix="message-") as file:
            file.write(message)
            file.flush()
            tip = run_git(repo.root, f"commit {commit.sha[:10]} onto the stack", *AUTOMATION_CONFIG,
                          "commit-tree", out.split("\0")[0], "-p", tip, "-F", file.name,
                          env={**author_env, **commit.committer_env})
    return tip


def _commit_parts(repo: Repository, sha: str) -> tuple[dict[str, str], bytes] | None:
    """(the ``GIT_AUTHOR_*`` variables, the raw message) of commit ``sha``, or None when it
    cannot be read here, has more than one parent or headers beyond ``_HEADERS``."""
    data = repo.known_commit(sha)
    if data is None:
        return None
    head, _, message = data.partition(b"\n\n")
    lines = head.split(b"\n")
    if any(line.split(b" ", 1)[0] not in _HEADERS for line in lines) or \
            sum(line.startswith(b"parent ") for line in lines) != 1:
        return None
    author = next(line[7:] for line in lines if line.startswith(b"author "))
    return _identity_env("AUTHOR", author), message


@functools.cache
def git_version(cwd: Path) -> tuple[int, int]:
    """(major, minor) of the installed git (``git version``; once per process). Raises ``GitError``."""
    digits = re.findall(r"\d+", run_git(cwd, "read git version", "version"))
    return int(digits[0]), int(digits[1])


def _one_own_commit(repo: Repository, tip: str, exclude: list[str],
                    parents_of: dict[str, list[str] | None]) -> Commit | None:
    """``tip`` as the only commit of its own, read from the files: when its one parent is in
    ``exclude`` and walking back from the other commits of ``exclude`` (to that parent, at most
    ``WALK_LIMIT`` commits) never meets ``tip``. None when that does not hold or only git can
    tell (the caller asks ``rev-list``). ``parents_of``: parents already read ({sha: parents,
    or None when only git can say}); the walk adds what it reads."""
    parents = repo.known_parents(tip)
    if parents is None or len(parents) != 1 or parents[0] not in exclude:
        return None
    seen: set[str] = set()
    todo = [sha for sha in exclude if sha != parents[0]]
    while todo:
        sha = todo.pop()
        if sha in seen or sha == parents[0]:
            continue
        if sha not in parents_of:
            parents_of[sha] = repo.known_parents(sha)
        above = parents_of[sha]
        if sha == tip or above is None or len(seen) >= WALK_LIMIT:
            return None
        seen.add(sha)
        todo += above
    data = repo.known_commit(tip) or b""
    committer = next((line[10:] for line in data.split(b"\n") if line.startswith(b"committer ")), None)
    if committer is None:
        return None
    return Commit(tip, parents[0], _identity_env("COMMITTER", committer))


def _identity_env(role: str, ident: bytes) -> dict[str, str]:
    """``GIT_<role>_NAME``/``EMAIL``/``DATE`` of a commit's ``Name <email> seconds zone`` header."""
    name, _, rest = ident.partition(b" <")
    email, _, date = rest.partition(b"> ")
    env = {f"GIT_{role}_NAME": name, f"GIT_{role}_EMAIL": email, f"GIT_{role}_DATE": date}
    return {key: value.decode("utf-8", "surrogateescape") for key, value in env.items()}


def _pick(scratch: Path, onto: str, commits: list[Commit], label: str) -> list[str]:
    """Cherry-pick ``commits`` onto ``onto`` in the scratch worktree (HEAD ends at the result).

    Returns the conflicting paths (after ``cherry-pick --abort``), empty when all applied.
    Raises ``GitError`` when a pick fails without a conflict.
    """
    run_git(scratch, "move stacking worktree", *AUTOMATION_CONFIG, "checkout", "-q", "--detach", onto)
    for commit in commits:
        try:
            run_git(scratch, f"apply {commit.sha[:10]} of task {label}", *AUTOMATION_CONFIG,
                    "cherry-pick", "--allow-empty", "--keep-redundant-commits", commit.sha,
                    env=commit.committer_env)
        except GitError:
            out = run_git(scratch, "list conflicting files", "diff", "--name-only", "--diff-filter=U", "-z")
            run_git(scratch, "abort cherry-pick", "cherry-pick", "--abort")
            files = sorted({name for name in out.split("\0") if name})
            if not files:
                raise
            return files
    return []
