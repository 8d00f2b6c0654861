"""P6, a worktree ready to work in: the setup time per task (``tasks.worktree_setup``) of a
generated ``node_modules`` of 20,000 files, built in every task's worktree (no sharing), copied
from a built folder with ``cp -a`` (a warm-cache install), and shared (``share:``: built once,
then linked into each worktree). Prints a table; not a test.

Each round prepares one fresh worktree per variant, interleaved; the first task of the shared
variant builds and keeps the folder (reported apart), the others link it. Figures are medians.

Usage: python bench/worktree_setup.py [--files N] [--tasks T]
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from common import IDENTITY, Row, git, script_main
from gitops.prepare import SharedFolders, share_key
from gitops.repo import open_repository
from planning.worktree_config import Share, WorktreeConfig
from tasks.worktree_setup import ready_worktree

GENERATE = (
    "import os, sys\n"
    "n = int(sys.argv[1])\n"
    "for i in range(n):\n"
    "    d = f'node_modules/pkg{i // 100:03d}/lib'\n"
    "    os.makedirs(d, exist_ok=True)\n"
    "    with open(f'{d}/m{i % 100:02d}.js', 'w') as f:\n"
    "        f.write(f'module.exports = {i};\\n' * 40)\n"
)
"""A stand-in for ``npm ci``: writes ``n`` files of about 1 KiB under ``node_modules``."""


def run(files: int = 20000, tasks: int = 4) -> list[Row]:
    """Rows: setup seconds per task of each variant, and the share's first build."""
    work = Path(tempfile.mkdtemp(prefix="planflow-bench-setup-"))
    try:
        return _measure(work, files, tasks)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _measure(work: Path, files: int, tasks: int) -> list[Row]:
    repo_path = work / "repo"
    repo_path.mkdir()
    git(repo_path, "init", "-q", "-b", "main")
    (repo_path / ".gitignore").write_text("node_modules/\n")
    (repo_path / "package-lock.json").write_text('{"lockfileVersion": 3}\n')
    (work / "generate.py").write_text(GENERATE)
    git(repo_path, "add", "-A")
    git(repo_path, *IDENTITY, "commit", "-qm", "init")
    repo = open_repository(repo_path)
    build = f"{sys.executable} {work / 'generate.py'} {files}"
    built = work / "built"
    built.mkdir()
    ready_worktree(WorktreeConfig(setup=build), repo, built, "-", "warm", work / "logs" / "w.log", 3600)
    share = Share(path="node_modules", key=["package-lock.json"], run=build)
    variants = {
        "built in each worktree": WorktreeConfig(setup=build),
        "copied (cp -a)": WorktreeConfig(setup=f"cp -a {built / 'node_modules'} node_modules"),
        "shared (linked)": WorktreeConfig(share=[share]),
    }
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    first_build = 0.0
    for task in range(tasks + 1):
        for index, (name, config) in enumerate(variants.items()):
            worktree = repo_path / ".worktrees" / f"v{index}-t{task}"
            repo.prepare_worktree(worktree, f"v{index}-t{task}", "HEAD")
            took = ready_worktree(config, repo, worktree, f"v{index}-t{task}", str(task),
                                  work / "logs" / f"v{index}-t{task}.log", 3600)
            if name.startswith("shared") and task == 0:
                first_build = took
            elif task > 0 or not name.startswith("shared"):
                seconds[name].append(took)
            count = sum(1 for _ in (worktree / "node_modules").rglob("*.js"))
            assert count == files, f"{name}: {count} files, expected {files}"
    shared_dir = SharedFolders(repo.state_dir / "share").kept(share, share_key(repo_path, share))
    mode = _mode(shared_dir, repo_path / ".worktrees" / "v2-t1" / "node_modules")
    base = statistics.median(seconds["built in each worktree"])
    rows = [Row("P6", f"setup per task, node_modules of {files} files, {name}",
                f"{statistics.median(values):.2f} s", f"built {base:.2f} s",
                ratio=statistics.median(values) / base if base else None)
            for name, values in seconds.items()]
    rows.append(Row("P6", "shared: the first task builds and keeps it", f"{first_build:.2f} s",
                    f"built {base:.2f} s", ratio=first_build / base if base else None))
    rows.append(Row("P6", "shared: how files are linked", mode))
    return rows


def _mode(kept: Path, linked: Path) -> str:
    """``hardlink`` when a file of ``linked`` is the kept copy's inode, else ``reflink or copy``."""
    sample = next(kept.rglob("*.js"))
    other = linked / sample.relative_to(kept)
    return "hardlink" if sample.stat().st_ino == other.stat().st_ino else "reflink or copy"


if __name__ == "__main__":
    script_main(__doc__, run)
