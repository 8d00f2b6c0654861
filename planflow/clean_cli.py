"""``planflow clean [RUN_ID | --all] [--force BRANCH...]`` and the disk line of ``planflow status``.

What is removed and what is kept is ``gitops.clean``'s job; this module parses the arguments
and prints: the human report on stderr, ``--json`` on stdout.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console

from gitops.clean import clean_runs, disk_usage, known_runs, run_worktrees
from gitops.repo import Repository


def add_clean_command(sub: argparse._SubParsersAction) -> None:
    """Add the ``clean`` subcommand to ``sub`` (the CLI's subparsers)."""
    clean = sub.add_parser("clean", help="remove finished runs' worktrees (work saved first) and"
                                         " their merged branches")
    which = clean.add_mutually_exclusive_group(required=True)
    which.add_argument("run_id", nargs="?", help="the run to clean")
    which.add_argument("--all", action="store_true", help="every run that is not executing")
    clean.add_argument("--force", nargs="+", default=[], metavar="BRANCH",
                       help="also delete these branches although they hold commits HEAD lacks"
                            " (their tips stay in salvage refs)")
    clean.add_argument("--repo", type=Path, default=Path("."))
    clean.add_argument("--json", action="store_true", help="the report as JSON on stdout")


def cmd_clean(args: argparse.Namespace, repo: Repository, err: Console) -> int:
    """Clean ``args.run_id`` (or every known run with ``--all``) in ``repo``; print what was
    removed, kept and freed. Returns 0, or 2 when the named run is unknown or executing."""
    runs = known_runs(repo)
    if args.run_id and args.run_id not in runs:
        err.print(f"error: no run {args.run_id} in {repo.root} (known: {', '.join(runs) or 'none'})")
        return 2
    report = clean_runs(repo, runs if args.all else [args.run_id], args.force)
    unknown = sorted(set(args.force) - set(report.deleted))
    if args.json:
        print(json.dumps({
            "removed_worktrees": {str(path): size for path, size in report.removed.items()},
            "ignored_files": {str(path): {"count": len(files), "bytes": sum(files.values()),
                                          "files": sorted(files)}
                              for path, files in report.ignored.items()},
            "freed_bytes": report.freed_bytes, "salvaged": report.salvaged,
            "deleted_branches": report.deleted, "kept_branches": report.kept,
            "skipped": report.skipped, "force_not_deleted": unknown,
        }, indent=2))
    for path, size in report.removed.items():
        err.print(f"removed worktree {path} ({human_bytes(size)})")
        files = report.ignored.get(path, {})
        if files:
            names = sorted(files)
            err.print(f"  with {len(files)} ignored file(s), {human_bytes(sum(files.values()))},"
                      f" not saved: {', '.join(names[:10])}" + (" ..." if len(names) > 10 else ""))
    for ref in report.salvaged:
        err.print(f"saved uncommitted work to {ref}")
    for branch, tip in report.deleted.items():
        err.print(f"deleted branch {branch} (was {tip[:10]})")
    for branch, why in report.kept.items():
        err.print(f"kept branch {branch}: {why}")
    for what, why in report.skipped.items():
        err.print(f"skipped {what}: {why}")
    for branch in unknown:
        err.print(f"not deleted: --force {branch} (no such branch of a cleaned run, or checked out)")
    err.print(f"freed {human_bytes(report.freed_bytes)}")
    return 2 if args.run_id and args.run_id in report.skipped else 0


def worktrees_disk(repo: Repository, run_id: str) -> tuple[int, int]:
    """(number of worktree folders, bytes on disk they use) of run ``run_id``."""
    folders = run_worktrees(repo, run_id)
    return len(folders), sum(disk_usage(folder) for folder in folders)


def human_bytes(size: int) -> str:
    """``size`` bytes as ``"12.3 MB"`` (powers of 1000)."""
    value = float(size)
    for unit in ("B", "kB", "MB"):
        if value < 1000:
            return f"{value:.0f} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"
