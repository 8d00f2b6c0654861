"""P5, a large repository: planflow's worktree set-up and removal per task vs bare
``git worktree add`` / ``git worktree remove`` on a generated repository of 20,000 files
(a few hundred MB), and what makes set-up cheaper: ``checkout.workers``, reusing one worktree
between tasks (``git checkout -B``), and a sparse checkout of a task's declared files; then
stacking a parallel wave of ``WAVE`` one-commit tasks on it without a worktree (``merge-tree
--write-tree`` + ``commit-tree``) against cherry-picks in a scratch worktree (what planflow
does with a git older than 2.38). Prints a table; not a test.

The repository is generated once into the cache dir (``$PLANFLOW_BENCH_CACHE``, else
``<temp dir>/planflow-bench-cache``) and reused. The variants alternate within each round;
each figure is the median of the rounds.

Usage: python bench/large_repo.py [--files N] [--kb K] [--rounds R]
"""

from __future__ import annotations

import random
import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import os
import subprocess
import tempfile

from common import IDENTITY, Row, cache_dir, git, script_main
from gitops import stack
from gitops.repo import Repository, StackEntry, open_repository

TARGET = 1.1

WAVE = 4
"""Tasks of the parallel wave the stacking rows stack."""


def generated_repo(files: int, kb: int) -> Path:
    """The cached repository of ``files`` text files of about ``kb`` KiB each in folders of 100
    (made on first use, then reused)."""
    path = cache_dir() / f"large-repo-{files}x{kb}k"
    if (path / ".git" / "planflow-bench-done").exists():
        return path
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    rng = random.Random(5)
    words = [f"{rng.getrandbits(48):012x}" for _ in range(4096)]
    for i in range(files):
        folder = path / f"pkg{i // 100:03d}"
        folder.mkdir(exist_ok=True)
        lines = (" ".join(rng.choices(words, k=12)) for _ in range(kb * 1024 // 156))
        (folder / f"mod{i % 100:02d}.py").write_text("\n".join(lines) + "\n")
    git(path, "add", "-A")
    git(path, *IDENTITY, "commit", "-qm", "large repository")
    (path / ".git" / "planflow-bench-done").touch()
    return path


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def run(files: int = 20000, kb: int = 12, rounds: int = 3) -> list[Row]:
    """P5 rows: set-up and removal seconds per task of each variant, against bare git."""
    root = generated_repo(files, kb)
    repo = open_repository(root)
    base = repo.head_sha()
    declared = ["pkg000/mod00.py", "pkg001/mod01.py"]
    work = root / ".worktrees"
    times: dict[str, list[float]] = {}

    def record(name: str, seconds: float) -> None:
        times.setdefault(name, []).append(seconds)

    reused = work / "bench-reused"
    git(root, "worktree", "add", "-q", "--detach", str(reused), base)
    try:
        for n in range(rounds):
            bare = work / f"bench-bare-{n}"
            record("bare add", _timed(lambda: git(root, "worktree", "add", "-q", "-B", f"bench-bare-{n}",
                                                   str(bare), base)))
            record("bare remove", _timed(lambda: git(root, "worktree", "remove", "--force", str(bare))))
            ours = work / f"bench-planflow-{n}"
            record("planflow set-up", _timed(lambda: repo.prepare_worktree(ours, f"bench-pf-{n}", base)))
            record("planflow removal", _timed(lambda: repo.remove_worktree(ours)))
            workers = work / f"bench-workers-{n}"
            record("checkout.workers=4", _timed(lambda: git(
                root, "-c", "checkout.workers=4", "-c", "checkout.thresholdForParallelism=100",
                "worktree", "add", "-q", "-B", f"bench-workers-{n}", str(workers), base)))
            git(root, "worktree", "remove", "--force", str(workers))
            sparse = work / f"bench-sparse-{n}"
            record("sparse checkout of 2 declared files", _timed(lambda: _sparse_add(
                root, sparse, f"bench-sparse-{n}", base, declared)))
            git(root, "worktree", "remove", "--force", str(sparse))
            (reused / f"task-{n}.txt").write_text("a task's change\n")
            record("reused worktree (checkout -B)", _timed(lambda: _reuse(reused, f"bench-reuse-{n}", base)))
    finally:
        git(root, "worktree", "remove", "--force", str(reused))
        for branch in git(root, "branch", "--list", "bench-*", "--format=%(refname:short)").split():
            git(root, "branch", "-q", "-D", branch)
    entries = _wave(root, base, WAVE)
    for _ in range(rounds):
        record("stack, merge-tree", _timed(lambda: stack.restacked_tips(repo, base, entries, work / "bench-stack")))
        record("stack, scratch worktree", _timed(lambda: _stack_in_worktree(repo, base, entries, work / "bench-stack")))
    median = {name: statistics.median(values) for name, values in times.items()}
    bare_add = median["bare add"]
    rows = [Row("P5", f"repository: {files} files, {_size_mb(root):.0f} MB checked out",
                f"bare add {bare_add:.2f} s")]
    for name in ("planflow set-up", "checkout.workers=4", "reused worktree (checkout -B)",
                 "sparse checkout of 2 declared files"):
        is_target = name == "planflow set-up"
        rows.append(Row("P5", f"worktree set-up/task: {name}", f"{median[name]:.3f} s",
                        f"bare add {bare_add:.3f} s", median[name] / bare_add,
                        f"<= {TARGET}x" if is_target else "",
                        median[name] / bare_add <= TARGET if is_target else None))
    rows.append(Row("P5", "worktree removal/task: planflow (remove; salvaged if git refuses)",
                    f"{median['planflow removal']:.3f} s", f"bare remove {median['bare remove']:.3f} s",
                    median["planflow removal"] / median["bare remove"]))
    rows.append(Row("P5", f"stacking a wave of {WAVE} tasks: merge-tree --write-tree + commit-tree",
                    f"{median['stack, merge-tree']:.3f} s",
                    f"scratch worktree {median['stack, scratch worktree']:.3f} s",
                    median["stack, merge-tree"] / median["stack, scratch worktree"]))
    return rows


def _wave(root: Path, base: str, tasks: int) -> list[StackEntry]:
    """``tasks`` commits on ``base``, each changing one file of its own (made with a temporary
    index: no checkout), as the entries of a parallel wave."""
    entries = []
    for n in range(tasks):
        with tempfile.TemporaryDirectory() as folder:
            env = dict(os.environ, GIT_INDEX_FILE=str(Path(folder) / "index"))

            def plumbing(*args: str, stdin: str | None = None) -> str:
                return subprocess.run(["git", *args], cwd=root, env=env, input=stdin, check=True,
                                      capture_output=True, text=True).stdout.strip()

            plumbing("read-tree", base)
            blob = plumbing("hash-object", "-w", "--stdin", stdin=f"task {n}\n")
            plumbing("update-index", "--add", "--cacheinfo", f"100644,{blob},pkg{n:03d}/task.txt")
            tip = plumbing(*IDENTITY, "commit-tree", plumbing("write-tree"), "-p", base, "-m", f"task {n}")
        entries.append(StackEntry(label=str(n), branch=f"bench-wave-{n}", tip=tip))
    return entries


def _stack_in_worktree(repo: Repository, base: str, entries: list[StackEntry], scratch: Path) -> list[str]:
    """The stacked tips as planflow makes them with a git older than 2.38 (cherry-picks in a
    scratch worktree)."""
    version = stack.git_version
    stack.git_version = lambda cwd: (2, 37)
    try:
        return stack.restacked_tips(repo, base, entries, scratch)
    finally:
        stack.git_version = version


def _sparse_add(root: Path, path: Path, branch: str, base: str, files: list[str]) -> None:
    git(root, "worktree", "add", "-q", "--no-checkout", "-B", branch, str(path), base)
    git(path, "sparse-checkout", "set", "--no-cone", *[f"/{name}" for name in files])
    git(path, "checkout", "-q")


def _reuse(path: Path, branch: str, base: str) -> None:
    git(path, "add", "-A")
    git(path, "checkout", "-q", "-f", "-B", branch, base)


def _size_mb(root: Path) -> float:
    return sum(p.stat().st_size for p in root.glob("pkg*/*")) / 2**20


if __name__ == "__main__":
    script_main(__doc__, run)
