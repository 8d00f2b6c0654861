"""Reading files as committed, without a worktree: ``read_committed``, ``committed_sizes``."""

from __future__ import annotations

from gitops.command import run_git
from gitops.errors import GitError
from gitops.repo import Repository


def read_committed(repo: Repository, ref: str, path: str) -> str | None:
    """The text of ``path`` (repository-relative, ``/``-separated) in commit or branch ``ref``;
    None when ``ref`` names no commit or the commit has no such file. Raises ``GitError`` when
    git fails otherwise."""
    sha = repo.resolve(ref)
    if sha is None:
        return None
    try:
        return run_git(repo.root, f"read {path} at {ref}", "show", f"{sha}:{path}")
    except GitError as error:
        if error.exit_code == 128:
            return None
        raise


def committed_sizes(repo: Repository, base: str, tip: str) -> dict[str, int]:
    """{path: bytes} of the files (blobs) commit ``tip`` adds or changes against commit
    ``base``; paths as git prints them (``surrogateescape``). Raises ``GitError``."""
    fields = run_git(repo.root, "list committed changes", "diff-tree", "-r", "-z", "--raw",
                     "--no-renames", base, tip).split("\0")
    changed = {path for meta, path in zip(fields[::2], fields[1::2])
               if meta.split(" ")[1:2] in (["100644"], ["100755"])}
    if not changed:
        return {}
    sizes = {}
    for entry in run_git(repo.root, "read committed sizes", "ls-tree", "-r", "-l", "-z", tip).split("\0"):
        meta, _, path = entry.partition("\t")
        if path in changed:
            sizes[path] = int(meta.split()[3])
    return sizes
