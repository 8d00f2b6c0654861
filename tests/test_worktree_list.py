"""Listing worktrees while another thread or process is creating one (``gitops.repo``)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from gitops.errors import GitError
from gitops.repo import Repository, open_repository
from gitrepo import git, make_repo


def _half_written(repo_root: Path) -> tuple[Path, str]:
    """A linked worktree whose ``.git/worktrees/<name>/commondir`` is emptied, as git leaves it
    for a moment while ``git worktree add`` writes it; returns (that file, its content)."""
    git(repo_root, "worktree", "add", "-q", "-b", "other", str(repo_root / ".worktrees" / "other"))
    commondir = repo_root / ".git" / "worktrees" / "other" / "commondir"
    content = commondir.read_text()
    commondir.write_text("")
    return commondir, content


def test_a_worktree_being_created_meanwhile_is_read_again(tmp_path):
    root = make_repo(tmp_path / "repo")
    commondir, content = _half_written(root)
    finish = threading.Timer(0.08, commondir.write_text, args=(content,))
    finish.start()
    try:  # opening the repository lists the worktrees with git (for the main one)
        assert Repository(root).root == root.resolve()
    finally:
        finish.join()


def test_an_entry_that_stays_broken_is_an_error(tmp_path):
    root = make_repo(tmp_path / "repo")
    _half_written(root)
    with pytest.raises(GitError, match="failed to read"):
        Repository(root)


def test_a_half_written_entry_still_holds_its_branch(tmp_path):
    root = make_repo(tmp_path / "repo")
    repo = open_repository(root)
    _half_written(root)  # read from git's records (gitdir, HEAD), not through git
    assert repo.branch_worktree("other") == (root / ".worktrees" / "other").resolve()


def test_a_task_worktree_is_checked_out_in_parallel(tmp_path, monkeypatch):
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    for i in range(150):  # git checks out in parallel from 100 files on
        (root / f"f{i}.txt").write_text(f"{i}\n")
    git(root, "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "files")
    trace = tmp_path / "trace.json"
    monkeypatch.setenv("GIT_TRACE2_EVENT", str(trace))
    repo = open_repository(root)
    path = repo.prepare_worktree(root / ".worktrees" / "t1", "t1", "HEAD")
    assert len(list(path.glob("f*.txt"))) == 150
    assert "checkout--worker" in trace.read_text()
