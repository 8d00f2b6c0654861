"""Reading refs, commits, trees and worktrees from the repository's files (``gitops.stored``)
gives what git gives, and hands over to git where it cannot be sure."""

from __future__ import annotations

from pathlib import Path

import git as gitpython
import pytest
from gitrepo import git, make_repo

from gitops.command import run_git
from gitops.repo import Repository
from gitops.stored import UNKNOWN, Stored


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


def _stored(root: Path) -> Stored:
    return Stored(gitpython.Repo(root), root / ".git")


def _commit(root: Path, message: str) -> str:
    git(root, "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message)
    return git(root, "rev-parse", "HEAD")


def _git_tips(root: Path) -> dict[str, str]:
    out = git(root, "for-each-ref", "--format=%(objectname) %(refname)")
    return {ref: sha for sha, _, ref in (line.partition(" ") for line in out.splitlines())}


def test_ref_tips_are_those_of_for_each_ref(root: Path) -> None:
    head = git(root, "rev-parse", "HEAD")
    git(root, "branch", "packed")
    git(root, "tag", "-a", "-m", "note", "v1")  # an annotated tag: the tag object's sha
    git(root, "pack-refs", "--all")
    git(root, "branch", "loose")
    (root / "f.txt").write_text("f\n")
    moved = _commit(root, "moved")
    git(root, "update-ref", "refs/heads/packed", moved)  # loose now wins over the packed line
    git(root, "symbolic-ref", "refs/remotes/origin/HEAD", "refs/heads/loose")
    git(root, "update-ref", "refs/planflow/run/task-1", head)

    tips = _stored(root).ref_tips()

    assert tips == _git_tips(root)
    assert tips["refs/heads/packed"] == moved and tips["refs/remotes/origin/HEAD"] == head


def test_a_ref_is_read_exactly_and_unsure_names_go_to_git(root: Path) -> None:
    stored = _stored(root)
    head = git(root, "rev-parse", "HEAD")
    git(root, "branch", "b")
    git(root, "pack-refs", "--all")
    assert stored.ref("refs/heads/b") == head  # packed
    assert stored.ref("refs/heads/nothing") is None
    for name in ("refs/heads/../../config", "refs/heads/a..b", "HEAD", "refs/heads/x.lock", "main"):
        assert stored.ref(name) is UNKNOWN
    (root / ".git" / "refs" / "heads" / "junk").write_text("not a sha\n")
    assert stored.ref("refs/heads/junk") is UNKNOWN
    assert stored.ref_tips() is UNKNOWN


def test_changed_paths_are_those_of_diff_name_only(root: Path) -> None:
    (root / "keep").mkdir()
    (root / "keep" / "same.txt").write_text("same\n")
    (root / "gone.txt").write_text("gone\n")
    (root / "mode.sh").write_text("echo\n")
    (root / "becomes").write_text("a file\n")
    base = _commit(root, "base")
    (root / "gone.txt").unlink()
    (root / "mode.sh").chmod(0o755)
    (root / "becomes").unlink()
    (root / "becomes").mkdir()
    (root / "becomes" / "inside.txt").write_text("now a folder\n")
    (root / "deep" / "er").mkdir(parents=True)
    (root / "deep" / "er" / "new.txt").write_text("new\n")
    (root / "README.md").write_text("changed\n")
    (root / "caf\xe9-\udcff.txt").write_text("odd name\n")  # not UTF-8 on disk
    tip = _commit(root, "tip")
    expected = sorted(name for name in run_git(root, "diff", "diff", "--name-only", "--no-renames", "-z",
                                               base, tip).split("\0") if name)

    assert _stored(root).changed_paths(base, tip) == expected
    assert Repository(root).changed_files(base, tip) == sorted(
        ["README.md", "becomes", "becomes/inside.txt", "caf\xe9-\\xff.txt", "deep/er/new.txt",
         "gone.txt", "mode.sh"])


def test_objects_it_cannot_read_go_to_git(root: Path) -> None:
    stored = _stored(root)
    head = git(root, "rev-parse", "HEAD")
    tree = git(root, "rev-parse", "HEAD^{tree}")
    assert stored.commit_parents(head) == []
    assert stored.commit_parents(tree) is UNKNOWN  # not a commit
    assert stored.commit_parents("0" * 40) is UNKNOWN
    repo = Repository(root)
    git(root, "update-ref", "refs/tags/tree", tree)
    assert repo.resolve("refs/tags/tree") is None  # git's answer: names no commit
    assert repo.resolve(head) == head


def test_a_repository_with_another_ref_storage_is_read_by_git(root: Path) -> None:
    git(root, "config", "extensions.refStorage", "reftable")
    assert _stored(root).ref("refs/heads/main") is UNKNOWN
    assert _stored(root).ref_tips() is UNKNOWN


def test_worktrees_are_those_git_lists(root: Path) -> None:
    git(root, "worktree", "add", "-q", "-b", "side", str(root / ".worktrees" / "side"))
    git(root, "worktree", "add", "-q", "--detach", str(root / ".worktrees" / "loose"))
    listed = _stored(root).linked_worktrees()
    assert listed == [((root / ".worktrees" / "loose").resolve(), None),
                      ((root / ".worktrees" / "side").resolve(), "refs/heads/side")]
    assert Repository(root).branch_worktree("side") == (root / ".worktrees" / "side").resolve()


def test_identity_is_read_again_when_the_config_changes(root: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        monkeypatch.delenv(name, raising=False)
    repo = Repository(root)
    first = repo.prepare_worktree(root / ".worktrees" / "one", "one", "HEAD")
    (first / "a.txt").write_text("a\n")
    assert git(root, "log", "-1", "--format=%an", repo.commit_all(first, "a")) == "planflow"
    git(root, "config", "user.name", "Ada")
    (first / "b.txt").write_text("b\n")
    assert git(root, "log", "-1", "--format=%an", repo.commit_all(first, "b")) == "Ada"
