"""Landing a stack of branches on a target branch: ``plan_landing`` works out (and, for a merge,
squash or rebase, builds) the result without moving a ref; ``apply_landing`` moves the refs.

Modes (``LandMode``):

- ``fast-forward``: the target moves to the stack's tip; possible when the target's tip is in
  the stack (nothing landed on the target since the run's base);
- ``squash``: one new commit on the target with the stack's changes, its message listing the
  stack's commits;
- ``merge``: a merge commit on the target whose second parent is the stack's tip (also when a
  fast-forward would do);
- ``rebase``: the stack's branches are replayed onto the target (each branch moves; an old tip
  whose commits the new one lacks is kept under ``refs/planflow/salvage/``), then the target
  fast-forwards to the new tip.

No checkout changes: merge and squash trees come from ``git merge-tree --write-tree`` (git
2.38+) and ``commit-tree``; a rebase is replayed in a detached scratch worktree the caller
names (removed after); the target moves with ``update-ref`` given its old value, so a target
that moved meanwhile is never overwritten. A target checked out in a worktree (the user's
main checkout or any other) is refused unless ``update_checkout`` is given and that checkout
has no uncommitted change; it then moves with ``git merge --ff-only`` in that checkout, which
refuses rather than overwrite an untracked file.
"""

from __future__ import annotations

import re
from enum import Enum
from pathlib import Path

from pydantic import BaseModel, Field

from gitops.command import AUTOMATION_CONFIG, run_git
from gitops.errors import GitError, StackConflict
from gitops.repo import Repository
from gitops.stack import StackEntry, restacked_tips


class LandMode(str, Enum):
    """How a stack lands on its target (module docstring)."""

    fast_forward = "fast-forward"
    squash = "squash"
    merge = "merge"
    rebase = "rebase"


class LandError(Exception):
    """Landing cannot go ahead: ``message``, ``fix`` (what to do), ``conflict`` (True: the
    stack and the target changed the same lines of ``files``; False: a refusal of the state
    or the arguments). Nothing was moved."""

    def __init__(self, message: str, fix: str, conflict: bool = False,
                 files: list[str] | None = None) -> None:
        self.message = message
        self.fix = fix
        self.conflict = conflict
        self.files = files or []
        super().__init__(f"{message} (fix: {fix})")


class Landing(BaseModel):
    """What landing a stack on ``target`` does: the target's ``old_tip``, the ``stack_tip``,
    the ``mode``, the target's ``new_tip`` (a commit already made for a squash, merge or
    rebase, referenced by nothing until ``apply_landing``), ``commits`` (how many the target
    gains), ``behind`` (target commits the stack lacks), ``checkout`` (the worktree that has
    the target checked out, updated by ``apply_landing``), ``branches`` (rebase: branch ->
    its replayed tip) and ``done`` (the target already holds the stack: nothing to do)."""

    target: str
    old_tip: str
    stack_tip: str
    mode: LandMode
    new_tip: str
    commits: int
    behind: int
    checkout: Path | None = None
    branches: dict[str, str] = Field(default_factory=dict)
    done: bool = False


def plan_landing(repo: Repository, target: str, entries: list[StackEntry], mode: LandMode | None,
                 title: str, scratch: Path, update_checkout: bool = False) -> Landing:
    """Work out how ``entries`` (the stack, base first, each ``tip`` its branch's commit) land
    on branch ``target``, moving no ref.

    ``mode`` None fast-forwards when it can and refuses otherwise; ``title`` heads a squash or
    merge commit's message; ``scratch`` is where a rebase is replayed (a path for a temporary
    worktree). Raises ``LandError``: no such target; a stack branch that does not contain the
    branch before it (except with ``rebase``, which restacks them); the target moved and no
    mode was given; the target checked out somewhere without ``update_checkout``, or with
    uncommitted changes there; a conflict (``conflict`` True, with the files). Raises
    ``GitError`` when git fails otherwise.
    """
    with repo.lock():
        old = repo.resolve(f"refs/heads/{target}")
        if old is None:
            raise LandError(f"there is no branch {target} to land on",
                            f"name an existing branch with --onto, or create it: git branch {target} BASE")
        stack_tip = entries[-1].tip
        if repo.contains(old, stack_tip):
            return Landing(target=target, old_tip=old, stack_tip=stack_tip, mode=mode or LandMode.fast_forward,
                           new_tip=old, commits=0, behind=0, done=True)
        checkout = _checkout(repo, target, update_checkout)
        if mode is not LandMode.rebase:
            _require_linear(repo, entries)
        behind = repo.count_commits(old, stack_tip)
        if mode in (None, LandMode.fast_forward):
            if behind:
                raise LandError(
                    f"{target} has {behind} commit(s) the stack lacks: it moved since the run's base,"
                    " so it cannot be fast-forwarded",
                    f"choose how to land: --rebase (replay the stack onto {target}), --merge (a merge"
                    " commit) or --squash (one commit); --dry-run shows whether they conflict")
            mode = LandMode.fast_forward
        landing = Landing(target=target, old_tip=old, stack_tip=stack_tip, mode=mode, new_tip=stack_tip,
                          commits=repo.count_commits(stack_tip, old), behind=behind, checkout=checkout)
        if mode in (LandMode.squash, LandMode.merge):
            landing.new_tip = _merge_commit(repo, landing, title, entries[-1].branch)
            landing.commits = 1 if mode is LandMode.squash else landing.commits + 1
        elif mode is LandMode.rebase:
            landing.branches = _rebase(repo, target, entries, scratch)
            landing.new_tip = landing.branches[entries[-1].branch]
            landing.commits = repo.count_commits(landing.new_tip, old)
        return landing


def apply_landing(repo: Repository, landing: Landing) -> None:
    """Move the refs ``landing`` says: a rebase's branches, then the target (through its
    checkout when it has one). Raises ``LandError`` when a rebased branch is checked out, the
    target moved since ``plan_landing``, or its checkout refused the update (the target did
    not move), ``GitError``."""
    if landing.done:
        return
    with repo.lock():
        try:
            repo.set_branches(landing.branches)
        except ValueError as exc:
            raise LandError(str(exc), "remove that worktree (`git worktree remove PATH`) and run again") from exc
        ref = f"refs/heads/{landing.target}"
        moved = LandError(f"{landing.target} moved while landing; it was left where it is now",
                          "run planflow land again")
        try:
            if landing.checkout is None:
                run_git(repo.root, f"move {landing.target}", "update-ref", "-m", "planflow land",
                        ref, landing.new_tip, landing.old_tip)
                return
            if repo.resolve(ref) != landing.old_tip:
                raise moved
            run_git(landing.checkout, f"update the checkout {landing.checkout}", *AUTOMATION_CONFIG,
                    "merge", "--ff-only", "--no-autostash", "--quiet", landing.new_tip)
        except GitError as exc:
            if landing.checkout is None:
                raise moved from exc
            raise LandError(f"{landing.target} was not moved: {exc}",
                            f"make the update possible in {landing.checkout} (git names the"
                            " files in the way), then run planflow land again") from exc


def push_branches(repo: Repository, remote: str, branches: list[str], force: bool = False) -> None:
    """``git push REMOTE refs/heads/B:refs/heads/B`` for each of ``branches`` in one call,
    without hooks; ``force`` replaces what the remote has (the stack's own branches), else
    the remote must fast-forward. Raises ``GitError`` (e.g. the remote has commits the branch
    lacks)."""
    refspecs = [f"{'+' if force else ''}refs/heads/{b}:refs/heads/{b}" for b in branches]
    with repo.lock():
        run_git(repo.root, f"push to {remote}", *AUTOMATION_CONFIG, "push", "--quiet",
                "--end-of-options", remote, *refspecs)


def require_remote(repo: Repository, remote: str) -> None:
    """LandError unless ``remote`` is a configured remote, an existing path, or a URL."""
    names = run_git(repo.root, "list remotes", "remote").splitlines()
    if remote in names or Path(remote).expanduser().exists() or re.match(r"^[\w+.-]+://|^[^/]+@[^/]+:", remote):
        return
    raise LandError(f"there is no remote {remote} (remotes: {', '.join(names) or 'none'})",
                    f"add it (git remote add {remote} URL) or name another with --push REMOTE")


def stack_subjects(repo: Repository, old: str, tip: str) -> list[str]:
    """Subjects of the commits ``tip`` has that ``old`` lacks, oldest first."""
    out = run_git(repo.root, "list the stack's commits", "log", "--reverse", "--format=%s",
                  "--end-of-options", f"{old}..{tip}")
    return out.splitlines()


def _checkout(repo: Repository, target: str, update_checkout: bool) -> Path | None:
    """The worktree that has ``target`` checked out, when ``update_checkout`` allows moving it;
    LandError when one has it and moving it is not allowed or not safe."""
    holder = repo.branch_worktree(target)
    if holder is None:
        return None
    if not update_checkout:
        raise LandError(f"{target} is checked out in {holder}, and planflow does not change a"
                        " checkout unless asked",
                        "pass --update-checkout to move that checkout too (it must be clean), or"
                        " switch it to another branch, or land --onto a branch no worktree has checked out")
    dirty = run_git(holder, f"look for changes in {holder}", "status", "--porcelain", "-z",
                    "--untracked-files=no")
    if dirty:  # "XY path" entries (a rename's old path follows as an entry of its own)
        files = sorted({entry[3:] for entry in dirty.split("\0") if entry[2:3] == " "})
        raise LandError(f"the checkout {holder} of {target} has uncommitted changes in"
                        f" {', '.join(files)}",
                        "commit or stash them there, then run planflow land again")
    return holder


def _require_linear(repo: Repository, entries: list[StackEntry]) -> None:
    """LandError when a stack branch does not contain the branch before it."""
    for below, above in zip(entries, entries[1:]):
        if not repo.contains(above.tip, below.tip):
            raise LandError(
                f"the stack is broken: {above.branch} does not contain {below.branch}, so landing"
                f" {entries[-1].branch} would leave work out",
                f"pass --rebase (it replays each branch onto the one before it), or rebase"
                f" {above.branch} onto {below.branch} yourself")


def _merge_commit(repo: Repository, landing: Landing, title: str, tip_branch: str) -> str:
    """The squash or merge commit of ``landing`` (made, not referenced); LandError on a conflict."""
    try:
        tree = run_git(repo.root, "merge the stack", "merge-tree", "--write-tree", "--name-only",
                       "-z", "--no-messages", landing.old_tip, landing.stack_tip)
    except GitError as exc:
        if exc.exit_code == 129:  # usage error: a git without ``merge-tree --write-tree``
            raise LandError(f"--{landing.mode.value} needs git 2.38 or newer (`git merge-tree"
                            " --write-tree`)", "upgrade git, or land with --rebase") from exc
        if exc.exit_code != 1:
            raise
        files = [name for name in exc.stdout.split("\0")[1:] if name]
        raise LandError(
            f"the stack and {landing.target} both changed {', '.join(files)}: a {landing.mode.value}"
            " would conflict", _conflict_fix(landing.target, tip_branch), conflict=True,
            files=files) from exc
    subjects = stack_subjects(repo, landing.old_tip, landing.stack_tip)
    parents = ["-p", landing.old_tip]
    if landing.mode is LandMode.merge:
        parents += ["-p", landing.stack_tip]
    return run_git(repo.root, f"make the {landing.mode.value} commit", *AUTOMATION_CONFIG,
                   "commit-tree", tree.split("\0")[0], *parents, "-m", title,
                   "-m", "\n".join(f"- {subject}" for subject in subjects),
                   env=repo._identity_env(repo.root))


def _rebase(repo: Repository, target: str, entries: list[StackEntry], scratch: Path) -> dict[str, str]:
    """The stack replayed onto ``target`` (branch -> new tip); LandError on a conflict or a
    stack branch checked out in a worktree."""
    try:
        tips = restacked_tips(repo, f"refs/heads/{target}", entries, Path(scratch).resolve())
    except StackConflict as exc:
        branch = exc.branches.get(exc.task, exc.task)
        raise LandError(f"replaying {branch} onto {target} conflicts in {', '.join(exc.files)}",
                        _conflict_fix(target, entries[-1].branch), conflict=True, files=exc.files) from exc
    except ValueError as exc:
        raise LandError(str(exc), "remove that worktree (`git worktree remove PATH`) and run again") from exc
    return {entry.branch: tip for entry, tip in zip(entries, tips)}


def _conflict_fix(target: str, tip_branch: str) -> str:
    """How to settle by hand a conflict between ``target`` and the stack whose top branch is
    ``tip_branch``."""
    return (f"settle it in a worktree of your own: git worktree add ../land-fix {tip_branch} &&"
            f" cd ../land-fix && git rebase --update-refs {target} (fix each conflict, git add,"
            " git rebase --continue); remove that worktree, then run planflow land again: it"
            " fast-forwards")
