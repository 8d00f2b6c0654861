"""gitops against real git repositories in temporary folders."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest
from gitrepo import git, make_repo

from gitops import stack as stack_module
from gitops.errors import GitError, StackConflict
from gitops.names import branch_name, worktree_path
from gitops.repo import Repository, StackEntry, open_repository
from planning.models import PlanTask


@pytest.fixture(autouse=True)
def isolated_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No global/system git config and no identity variables: tests see only the repo's config."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for part in ("AUTHOR", "COMMITTER"):
        for field in ("NAME", "EMAIL", "DATE"):
            monkeypatch.delenv(f"GIT_{part}_{field}", raising=False)
    monkeypatch.delenv("EMAIL", raising=False)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


@pytest.fixture
def repo(root: Path) -> Repository:
    return Repository(root)


def user_view(root: Path) -> tuple[str, str, str, str]:
    """What the user sees of their checkout: HEAD, status, staged diff, unstaged diff."""
    return (
        git(root, "rev-parse", "HEAD"),
        git(root, "status", "--porcelain", "--untracked-files=all"),
        git(root, "diff", "--cached"),
        git(root, "diff"),
    )


def task_branch(repo: Repository, name: str, files: dict[str, str], base: str | None = None) -> str:
    """A branch ``name`` from ``base`` (default HEAD) with one commit writing ``files``; returns its tip."""
    path = repo.root / ".worktrees" / name
    repo.prepare_worktree(path, name, base or repo.head_sha())
    for file, text in files.items():
        (path / file).write_text(text)
    tip = repo.commit_all(path, f"task {name}")
    repo.remove_worktree(path)
    assert tip is not None
    return tip


def salvage_refs(root: Path) -> list[str]:
    return git(root, "for-each-ref", "--format=%(refname)", "refs/planflow/salvage/").splitlines()


# -- opening -------------------------------------------------------------------------------


def test_open_rejects_non_repository_and_unborn_head(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not inside a git repository"):
        Repository(tmp_path)
    git(tmp_path, "init", "-q")
    with pytest.raises(ValueError, match="no commit"):
        Repository(tmp_path)


def test_open_from_subfolder_and_linked_worktree(root: Path, repo: Repository) -> None:
    (root / "sub").mkdir()
    assert Repository(root / "sub").root == root.resolve()
    linked = repo.prepare_worktree(root / ".worktrees" / "x", "x", "HEAD")
    assert Repository(linked).root == root.resolve()
    assert repo.state_dir == (root / ".git" / "planflow").resolve() and repo.state_dir.is_dir()
    assert open_repository(root) is open_repository(root / "sub")


def test_git_error_carries_command_details(repo: Repository) -> None:
    with pytest.raises(GitError) as caught:
        repo.changed_files("no-such-ref", "HEAD")
    error = caught.value
    assert error.command[:2] == ["git", "diff"] and error.exit_code == 128
    assert "no-such-ref" in error.stderr and error.operation in str(error)
    assert repo.resolve("no-such-ref") is None
    assert repo.resolve("main") == repo.head_sha() and repo.commit_exists(repo.head_sha())
    assert not repo.commit_exists("0" * 40)


# -- worktrees -----------------------------------------------------------------------------


def test_prepare_and_remove_worktree(root: Path, repo: Repository) -> None:
    before = user_view(root)
    path = repo.prepare_worktree(root / ".worktrees" / "r1-task-1", "r1-task-1-x", "HEAD")
    assert path.is_dir() and (path / "README.md").read_text() == "hello\n"
    assert git(path, "symbolic-ref", "HEAD") == "refs/heads/r1-task-1-x"
    assert git(path, "rev-parse", "HEAD") == repo.head_sha()
    assert ".worktrees/" in (root / ".git" / "info" / "exclude").read_text().splitlines()
    assert user_view(root) == before  # .worktrees/ does not show up as untracked

    repo.remove_worktree(path)
    assert not path.exists() and str(path) not in git(root, "worktree", "list")
    assert repo.resolve("refs/heads/r1-task-1-x") == repo.head_sha()  # the branch stays
    repo.remove_worktree(path)  # absent: no-op
    assert salvage_refs(root) == []  # nothing to save


def test_prepare_worktree_prunes_stale_entry(root: Path, repo: Repository) -> None:
    path = repo.prepare_worktree(root / ".worktrees" / "w", "b", "HEAD")
    shutil.rmtree(path)  # deleted behind git's back: the branch is still "checked out" there
    assert repo.prepare_worktree(path, "b", "HEAD") == path.resolve()


def test_user_checkout_untouched_with_uncommitted_edits(root: Path, repo: Repository) -> None:
    (root / "README.md").write_text("user edit\n")
    (root / "staged.txt").write_text("staged\n")
    git(root, "add", "staged.txt")
    (root / "untracked.txt").write_text("mine\n")
    before = user_view(root)

    first = task_branch(repo, "t1", {"a.txt": "a\n"})
    second = task_branch(repo, "t2", {"b.txt": "b\n"})
    entries = [StackEntry(label="1", branch="t1", tip=first), StackEntry(label="2", branch="t2", tip=second)]
    repo.stack(repo.head_sha(), entries, root / ".worktrees" / "stack")

    assert user_view(root) == before
    assert (root / "README.md").read_text() == "user edit\n"
    assert not (root / "a.txt").exists()
    assert git(root, "symbolic-ref", "HEAD") == "refs/heads/main"


def test_main_work_tree_is_refused(root: Path, repo: Repository) -> None:
    (root / "new.txt").write_text("x\n")
    before = user_view(root)
    with pytest.raises(ValueError):
        repo.commit_all(root, "nope")
    (root / "sub").mkdir()
    with pytest.raises(ValueError):
        repo.commit_all(root / "sub", "nope")
    with pytest.raises(ValueError):
        repo.remove_worktree(root)
    with pytest.raises(ValueError):
        repo.set_branch("main", repo.head_sha())
    with pytest.raises(ValueError, match="checked out"):
        repo.prepare_worktree(root / ".worktrees" / "w", "main", "HEAD")
    assert user_view(root) == before


# -- salvage -------------------------------------------------------------------------------


def test_remove_worktree_salvages_uncommitted_changes(root: Path, repo: Repository) -> None:
    path = repo.prepare_worktree(root / ".worktrees" / "w1", "b1", "HEAD")
    (path / "README.md").write_text("changed\n")
    (path / "new.txt").write_text("new file\n")
    repo.remove_worktree(path)

    [ref] = salvage_refs(root)
    assert ref.startswith("refs/planflow/salvage/w1/")
    assert git(root, "show", f"{ref}:new.txt") == "new file"
    assert git(root, "show", f"{ref}:README.md") == "changed"


def test_prepare_worktree_salvages_existing_worktree_and_branch_tip(root: Path, repo: Repository) -> None:
    base = repo.head_sha()
    path = repo.prepare_worktree(root / ".worktrees" / "w", "task-b", base)
    (path / "done.txt").write_text("committed\n")
    tip = repo.commit_all(path, "attempt 1")
    (path / "wip.txt").write_text("not committed\n")

    again = repo.prepare_worktree(path, "task-b", base)  # a retry: fresh worktree from base

    assert git(again, "rev-parse", "HEAD") == base and not (again / "wip.txt").exists()
    refs = salvage_refs(root)
    tips = [ref for ref in refs if ref.startswith("refs/planflow/salvage/task-b/")]
    changes = [ref for ref in refs if ref.startswith("refs/planflow/salvage/w/")]
    assert [git(root, "rev-parse", ref) for ref in tips] == [tip]
    assert len(changes) == 1 and git(root, "show", f"{changes[0]}:wip.txt") == "not committed"


def test_kept_tip_is_not_salvaged_again(root: Path, repo: Repository) -> None:
    tip = task_branch(repo, "b", {"a.txt": "a\n"})
    repo.keep_ref("run/task-1", tip)
    assert git(root, "rev-parse", "refs/planflow/run/task-1") == tip
    repo.set_branch("b", repo.head_sha())
    assert salvage_refs(root) == []
    repo.set_branch("fresh", tip)
    assert repo.resolve("refs/heads/fresh") == tip


def test_set_branches_moves_all_in_one_transaction_or_none(root: Path, repo: Repository) -> None:
    base = repo.head_sha()
    kept = task_branch(repo, "kept", {"k.txt": "k\n"})
    repo.keep_ref("run/task-k", kept)
    lost = task_branch(repo, "lost", {"l.txt": "l\n"})
    git(root, "branch", "out", base)
    repo.prepare_worktree(root / ".worktrees" / "out", "out", base)

    with pytest.raises(ValueError, match="branch out is checked out in"):
        repo.set_branches({"kept": base, "out": kept})
    assert (repo.resolve("refs/heads/kept"), repo.resolve("refs/heads/out")) == (kept, base)

    repo.set_branches({"kept": base, "lost": base, "new": lost})
    assert [repo.resolve(f"refs/heads/{name}") for name in ("kept", "lost", "new")] == [base, base, lost]
    assert [git(root, "rev-parse", ref) for ref in salvage_refs(root)] == [lost]  # kept: its keep ref
    assert git(root, "reflog", "-1", "--format=%gs", "refs/heads/kept") == "planflow"


# -- commits -------------------------------------------------------------------------------


def test_commit_all_returns_none_without_changes(root: Path, repo: Repository) -> None:
    path = repo.prepare_worktree(root / ".worktrees" / "w", "b", "HEAD")
    assert repo.commit_all(path, "nothing") is None
    (path / "README.md").write_text("hello\n")  # same content
    assert repo.commit_all(path, "nothing") is None


def test_commit_all_uses_fallback_identity_without_config(root: Path, repo: Repository) -> None:
    path = repo.prepare_worktree(root / ".worktrees" / "w", "b", "HEAD")
    (path / "sub").mkdir()
    (path / "sub" / "x.txt").write_text("x\n")
    sha = repo.commit_all(path, "-starts with a dash")
    assert sha == git(path, "rev-parse", "HEAD")
    assert git(root, "log", "-1", "--format=%an <%ae>|%cn <%ce>|%s", sha) == (
        "planflow <planflow@localhost>|planflow <planflow@localhost>|-starts with a dash"
    )
    assert "user" not in git(root, "config", "--list", "--local")
    assert repo.changed_files(repo.head_sha(), sha) == ["sub/x.txt"]


def test_commit_all_uses_configured_identity(root: Path, repo: Repository) -> None:
    git(root, "config", "user.name", "Ada")
    git(root, "config", "user.email", "ada@example.com")
    path = repo.prepare_worktree(root / ".worktrees" / "w", "b", "HEAD")
    (path / "x.txt").write_text("x\n")
    sha = repo.commit_all(path, "msg")
    assert git(root, "log", "-1", "--format=%an <%ae>", sha) == "Ada <ada@example.com>"


# -- stacking ------------------------------------------------------------------------------


def three_parallel_tasks(repo: Repository) -> list[StackEntry]:
    entries = []
    for label, file in (("1", "a.txt"), ("2", "b.txt"), ("3", "c.txt")):
        tip = task_branch(repo, f"run-task-{label}", {file: f"{file}\n"})
        entries.append(StackEntry(label=label, branch=f"run-task-{label}", tip=tip))
    return entries


def test_stack_three_parallel_branches_in_order(root: Path, repo: Repository) -> None:
    base = repo.head_sha()
    entries = three_parallel_tasks(repo)
    scratch = root / ".worktrees" / "run-stack"

    tips = repo.stack(base, entries, scratch)

    assert tips[0] == entries[0].tip  # already on base: kept as is
    parents = [git(root, "rev-parse", f"{tip}^") for tip in tips]
    assert parents == [base, tips[0], tips[1]]
    assert [repo.resolve(f"refs/heads/{entry.branch}") for entry in entries] == tips
    assert git(root, "ls-tree", "--name-only", tips[2]).splitlines() == ["README.md", "a.txt", "b.txt", "c.txt"]
    assert repo.changed_files(tips[0], tips[1]) == ["b.txt"]
    assert repo.changed_files(tips[1], tips[2]) == ["c.txt"]
    log = git(root, "log", "--format=%s|%an", f"{base}..{tips[2]}").splitlines()
    assert log == ["task run-task-3|planflow", "task run-task-2|planflow", "task run-task-1|planflow"]
    assert not scratch.exists() and str(scratch) not in git(root, "worktree", "list")


def test_stack_is_deterministic(root: Path, repo: Repository, monkeypatch: pytest.MonkeyPatch) -> None:
    base = repo.head_sha()
    entries = three_parallel_tasks(repo)
    scratch = root / ".worktrees" / "stack"
    first = repo.stack(base, entries, scratch)
    monkeypatch.setenv("GIT_COMMITTER_DATE", "2001-02-03T04:05:06Z")  # must not leak into stacked commits
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Somebody Else")
    assert repo.stack(base, entries, scratch) == first
    # starting from the already stacked branches changes nothing either
    stacked = [entry.model_copy(update={"tip": tip}) for entry, tip in zip(entries, first)]
    assert repo.stack(base, stacked, scratch) == first
    assert [repo.resolve(f"refs/heads/{entry.branch}") for entry in entries] == first


def test_stack_keeps_dependent_branch_and_fills_empty_entry(root: Path, repo: Repository) -> None:
    base = repo.head_sha()
    one = task_branch(repo, "one", {"a.txt": "a\n"})
    two = task_branch(repo, "two", {"b.txt": "b\n"}, base=one)  # built on top of "one"
    entries = [
        StackEntry(label="1", branch="one", tip=one),
        StackEntry(label="2", branch="two", tip=two),
        StackEntry(label="3", branch="empty", tip=base),
    ]
    assert repo.stack(base, entries, root / ".worktrees" / "s") == [one, two, two]
    assert repo.resolve("refs/heads/empty") == two


def test_stack_onto_moved_base(root: Path, repo: Repository) -> None:
    old_base = repo.head_sha()
    entries = three_parallel_tasks(repo)[:2]
    new_base = task_branch(repo, "other", {"z.txt": "z\n"})
    tips = repo.stack(new_base, entries, root / ".worktrees" / "s")
    assert git(root, "rev-parse", f"{tips[0]}^") == new_base
    assert repo.changed_files(old_base, tips[1]) == ["a.txt", "b.txt", "z.txt"]


def test_stack_conflict(root: Path, repo: Repository) -> None:
    base = repo.head_sha()
    one = task_branch(repo, "run-task-1", {"README.md": "one\n"})
    side = task_branch(repo, "run-task-2", {"other.txt": "x\n"})
    two = task_branch(repo, "run-task-3", {"README.md": "two\n"})
    entries = [
        StackEntry(label="1", branch="run-task-1", tip=one),
        StackEntry(label="2", branch="run-task-2", tip=side),
        StackEntry(label="3", branch="run-task-3", tip=two),
    ]
    scratch = root / ".worktrees" / "stack"
    before = user_view(root)

    with pytest.raises(StackConflict) as caught:
        repo.stack(base, entries, scratch)

    conflict = caught.value
    assert not isinstance(conflict, GitError)
    assert (conflict.task, conflict.other, conflict.files) == ("3", "1", ["README.md"])
    assert conflict.branches == {"1": "run-task-1", "3": "run-task-3"}
    assert conflict.base == base
    report = conflict.report()
    for text in ("task 3", "task 1", "README.md", "run-task-1", "run-task-3", "rebase"):
        assert text in report
    assert [repo.resolve(f"refs/heads/{entry.branch}") for entry in entries] == [one, side, two]
    assert not scratch.exists() and str(scratch) not in git(root, "worktree", "list")
    assert user_view(root) == before
    assert repo.stack(base, entries[:2], scratch)  # the repository is usable afterwards


def _recording_git(patch: pytest.MonkeyPatch) -> list[list[str]]:
    """The arguments of every git call ``gitops.stack`` makes from now on (still run)."""
    made: list[list[str]] = []
    real = stack_module.run_git
    patch.setattr("gitops.stack.run_git", lambda cwd, op, *args, **kw: made.append(list(args))
                  or real(cwd, op, *args, **kw))
    return made


def _stacked_in_a_worktree(monkeypatch: pytest.MonkeyPatch, repo: Repository, base: str,
                           entries: list[StackEntry], scratch: Path) -> list[str]:
    """What stacking gives with a git older than 2.38 (cherry-picks in a scratch worktree)."""
    with monkeypatch.context() as patch:
        patch.setattr("gitops.stack.git_version", lambda cwd: (2, 37))
        made = _recording_git(patch)
        tips = stack_module.restacked_tips(repo, base, entries, scratch)
    assert any("cherry-pick" in args for args in made)
    return tips


def test_stack_without_a_worktree_makes_the_commits_cherry_pick_makes(
        root: Path, repo: Repository, monkeypatch: pytest.MonkeyPatch) -> None:
    base = repo.head_sha()
    git(root, "config", "user.name", "Ünïcode Name")
    entries = three_parallel_tasks(repo)
    scratch = root / ".worktrees" / "stack"
    with monkeypatch.context() as patch:
        made = _recording_git(patch)
        tips = repo.stack(base, entries, scratch)

    assert not any("worktree" in args or "cherry-pick" in args for args in made)
    assert sum("merge-tree" in args for args in made) == 2
    assert _stacked_in_a_worktree(monkeypatch, repo, base, entries, scratch) == tips


@pytest.mark.parametrize("worktree", [False, True], ids=["merge-tree", "scratch worktree"])
def test_stack_conflict_is_reported_the_same_either_way(
        root: Path, repo: Repository, monkeypatch: pytest.MonkeyPatch, worktree: bool) -> None:
    if worktree:
        monkeypatch.setattr("gitops.stack.git_version", lambda cwd: (2, 37))
    base = repo.head_sha()
    one = task_branch(repo, "run-task-1", {"README.md": "one\n", "x.txt": "x\n"})
    two = task_branch(repo, "run-task-2", {"README.md": "two\n", "x.txt": "y\n"})
    entries = [StackEntry(label="1", branch="run-task-1", tip=one),
               StackEntry(label="2", branch="run-task-2", tip=two)]
    with pytest.raises(StackConflict) as caught:
        repo.stack(base, entries, root / ".worktrees" / "stack")
    assert (caught.value.task, caught.value.other, caught.value.files) == ("2", "1", ["README.md", "x.txt"])
    assert [repo.resolve(f"refs/heads/{entry.branch}") for entry in entries] == [one, two]


def test_own_commits_read_from_the_files_are_those_rev_list_gives(
        root: Path, repo: Repository, monkeypatch: pytest.MonkeyPatch) -> None:
    base = repo.head_sha()
    one = task_branch(repo, "one", {"a.txt": "a\n"})
    two = task_branch(repo, "two", {"b.txt": "b\n"}, base=one)  # contains "one"
    three = task_branch(repo, "three", {"c.txt": "c\n"}, base=two)
    cases = [(one, [base]), (one, [base, two]), (two, [base, one]), (three, [base]), (two, [one, three])]
    from_files = [stack_module.own_commits(repo, tip, exclude) for tip, exclude in cases]
    monkeypatch.setattr(repo, "known_parents", lambda sha: None)  # rev-list answers every case
    assert from_files == [stack_module.own_commits(repo, tip, exclude) for tip, exclude in cases]
    assert [len(commits) for commits in from_files] == [1, 0, 1, 3, 0]


def test_stack_refuses_branch_checked_out_in_a_worktree(root: Path, repo: Repository) -> None:
    path = repo.prepare_worktree(root / ".worktrees" / "w", "busy", "HEAD")
    (path / "x.txt").write_text("x\n")
    tip = repo.commit_all(path, "x")
    with pytest.raises(ValueError, match="checked out"):
        repo.stack(repo.head_sha(), [StackEntry(label="1", branch="busy", tip=tip)], root / ".worktrees" / "s")


# -- lock ----------------------------------------------------------------------------------


def test_lock_is_reentrant(repo: Repository) -> None:
    with repo.lock():
        with repo.lock():
            repo.set_branch("inside", repo.head_sha())  # takes the lock again
    assert (repo.state_dir / "repo.lock").exists()


@pytest.mark.parametrize("shared", [True, False], ids=["same-object", "two-objects"])
def test_lock_serializes_threads(root: Path, repo: Repository, shared: bool) -> None:
    events: list[str] = []

    def worker(name: str) -> None:
        handle = repo if shared else Repository(root)  # two objects: only the file lock serializes
        with handle.lock():
            events.append(f"{name} in")
            time.sleep(0.2)
            events.append(f"{name} out")

    threads = [threading.Thread(target=worker, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert events in (["a in", "a out", "b in", "b out"], ["b in", "b out", "a in", "a out"])


# -- names ---------------------------------------------------------------------------------


def test_names(tmp_path: Path) -> None:
    task = PlanTask(id="2.1", title="Add the Login page!")
    assert worktree_path(tmp_path, "abc123", task.ref_id) == tmp_path / ".worktrees" / "abc123-task-2-1"
    assert branch_name("abc123", task) == "abc123-task-2-1-add-the-login-page"

