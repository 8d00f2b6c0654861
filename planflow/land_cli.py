"""``planflow land RUN_ID``: land a finished run's stack on a branch, or open stacked pull
requests for it.

The git work is ``gitops.land``'s (see there for the modes and what is never touched); the
pull requests are ``planflow.pull_requests``'. This module checks the run (known, completed,
not executing: its run lock is held throughout), reads its stack, prints what happened (or,
with ``--dry-run``, what would) on stderr, ``--json`` on stdout, and keeps the last landing in
``<git dir>/planflow/runs/{run_id}/land.json`` (so a squash is not landed twice).

Exit codes: 0 landed (or nothing to land; with ``--dry-run``: it would land); 1 a conflict,
a push or a pull request that failed, or the target moved meanwhile; 2 bad input (unknown or
unfinished run, missing stack branch, no target, a target that moved and no mode, a checked
out target without ``--update-checkout``, no ``gh``/``gs``); 4 the run is executing.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console

from gitops.clean import known_runs
from gitops.errors import GitError
from gitops.land import (LandError, Landing, LandMode, apply_landing, plan_landing, push_branches,
                         require_remote, stack_subjects)
from gitops.repo import Repository
from gitops.runlock import RunInProgress, hold_run_lock
from gitops.stack import StackEntry
from planflow.pull_requests import (ForgeError, PullRequestDraft, forge_tool, open_with_gh,
                                    open_with_spice)
from planning.errors import PlanError
from planning.loader import load_plan
from planning.models import Plan, PlanTask
from planning.status import RunStatus, read_status, status_path


def add_land_command(sub: argparse._SubParsersAction) -> None:
    """Add the ``land`` subcommand to ``sub`` (the CLI's subparsers)."""
    land = sub.add_parser("land", help="land a finished run's stack on a branch, or open stacked"
                                       " pull requests for it")
    land.add_argument("run_id")
    land.add_argument("--onto", metavar="BRANCH",
                      help="the branch to land on (default: the branch the run started from)")
    how = land.add_mutually_exclusive_group()
    for mode, text in ((LandMode.squash, "one commit with the stack's changes"),
                       (LandMode.merge, "a merge commit of the stack's tip"),
                       (LandMode.rebase, "replay the stack's branches onto the target, then"
                                         " fast-forward it")):
        how.add_argument(f"--{mode.value}", dest="mode", action="store_const", const=mode, help=text)
    land.add_argument("--dry-run", action="store_true", help="say what would happen; change nothing")
    land.add_argument("--push", metavar="REMOTE",
                      help="push the landed branch to REMOTE (with --pr: the stack's branches;"
                           " default origin)")
    land.add_argument("--pr", action="store_true",
                      help="open stacked pull requests (gh, else git-spice) instead of landing")
    land.add_argument("--update-checkout", action="store_true",
                      help="the target may be checked out: move that checkout too (it must be clean)")
    land.add_argument("--repo", type=Path, default=Path("."))
    land.add_argument("--json", action="store_true", help="the outcome as JSON on stdout")


def cmd_land(args: argparse.Namespace, repo: Repository, err: Console) -> int:
    """Land run ``args.run_id`` of ``repo`` as the arguments say; the exit code (module docstring)."""
    path = status_path(repo.state_dir, args.run_id)
    try:
        if not path.is_file():
            raise LandError(f"no run {args.run_id} in {repo.root}",
                            f"name a run of this repository (known: {', '.join(known_runs(repo)) or 'none'})")
        with hold_run_lock(repo.state_dir, args.run_id):
            try:
                status = read_status(path)
            except ValueError as exc:
                raise LandError(f"the status of run {args.run_id} ({path}) cannot be read: {exc}",
                                "run the plan again to rewrite it") from exc
            return _land(args, repo, status, err)
    except RunInProgress as exc:
        err.print(f"error: {exc}")
        return 4
    except (LandError, ForgeError) as exc:
        err.print(f"error: {exc.message}\nfix: {exc.fix}")
        refused = not exc.conflict if isinstance(exc, LandError) else exc.missing
        return 2 if refused else 1
    except GitError as exc:
        err.print(f"error: {exc}")
        return 1


def _land(args: argparse.Namespace, repo: Repository, status: RunStatus, err: Console) -> int:
    if status.status != "completed":
        detail = status.output.strip().splitlines()[0] if status.output.strip() else status.status
        raise LandError(f"run {status.run_id} has not completed ({status.status}: {detail})",
                        f"finish it first: run the same `planflow run` command again to resume it"
                        f" (`planflow status {status.run_id}` shows what is left)")
    if not status.stack:
        raise LandError(f"run {status.run_id} stacked no branch", "there is nothing to land")
    target = (args.onto or status.base_branch or "").removeprefix("refs/heads/")
    if not target:
        raise LandError(f"run {status.run_id} did not record the branch it started from (a detached"
                        " HEAD, or an older planflow)", "name the branch to land on: --onto BRANCH")
    entries = stack_entries(repo, status)
    plan = _plan(status)
    if args.pr:
        return _pull_requests(args, repo, status, plan, target, entries, err)
    if args.push:
        require_remote(repo, args.push)
    record = status_path(repo.state_dir, status.run_id).with_name("land.json")
    landing = _recorded(repo, record, target, entries[-1].tip) or plan_landing(
        repo, target, entries, args.mode, _title(args.mode, status, plan, target),
        repo.root / ".worktrees" / f"{status.run_id}-land", args.update_checkout)
    if not args.dry_run and not landing.done:
        apply_landing(repo, landing)
        record.write_text(landing.model_dump_json(indent=2))
    err.print(_describe(landing, len(entries), args.dry_run))
    if args.push:
        if not args.dry_run:
            push_branches(repo, args.push, [target])
        err.print(f"{'would push' if args.dry_run else 'pushed'} {target} to {args.push}")
    if args.json:
        print(json.dumps(landing.model_dump(mode="json") | {
            "run_id": status.run_id, "dry_run": args.dry_run, "pushed_to": args.push}, indent=2))
    return 0


def stack_entries(repo: Repository, status: RunStatus) -> list[StackEntry]:
    """The run's stacked branches, base first, at their current tips; LandError naming a
    missing branch and how to get it back."""
    commits = {task.branch: task.commit for task in status.tasks if task.branch}
    labels = {task.branch: task.id for task in status.tasks if task.branch}
    entries = []
    for branch in status.stack:
        tip = repo.resolve(f"refs/heads/{branch}")
        if tip is None:
            commit = commits.get(branch)
            fix = (f"recreate it where the run left it: git branch {branch} {commit}"
                   if commit and repo.commit_exists(commit) else
                   f"run the plan again (planflow run {status.plan}) to rebuild the stack")
            raise LandError(f"branch {branch} of run {status.run_id}'s stack is missing", fix)
        entries.append(StackEntry(label=labels.get(branch, branch), branch=branch, tip=tip))
    return entries


def _recorded(repo: Repository, record: Path, target: str, stack_tip: str) -> Landing | None:
    """The recorded landing of this stack tip on ``target`` when the target still holds it."""
    try:
        landed = Landing.model_validate_json(record.read_text())
    except (OSError, ValueError):
        return None
    now = repo.resolve(f"refs/heads/{target}")
    if landed.target != target or landed.stack_tip != stack_tip or now is None:
        return None
    if not repo.contains(now, landed.new_tip):
        return None
    return landed.model_copy(update={"old_tip": now, "new_tip": now, "commits": 0, "done": True,
                                     "checkout": None, "branches": {}})


def _pull_requests(args: argparse.Namespace, repo: Repository, status: RunStatus, plan: Plan | None,
                   target: str, entries: list[StackEntry], err: Console) -> int:
    if args.mode is not None:
        raise LandError(f"--pr opens pull requests and lands nothing, so --{args.mode.value} does not apply",
                        "drop --pr to land here, or drop the mode (the forge merges the pull requests)")
    remote = args.push or "origin"
    log_dir = status_path(repo.state_dir, status.run_id).with_name("logs") / "land"
    tool, executable = forge_tool(log_dir)
    require_remote(repo, remote)
    drafts = pull_request_drafts(repo, status, plan, target, entries)
    if args.dry_run:
        err.print(f"would push {', '.join(e.branch for e in entries)} to {remote}, then with {tool}:")
        for draft in drafts:
            err.print(f"  would open a pull request {draft.branch} -> {draft.base}: {draft.title}")
        return 0
    push_branches(repo, remote, [entry.branch for entry in entries], force=True)
    err.print(f"pushed {len(entries)} branches to {remote}")
    worktree = repo.root / ".worktrees" / f"{status.run_id}-pr"
    try:
        if tool == "gh":
            repo.detached_worktree(worktree, entries[-1].tip)
            opened = open_with_gh(executable, worktree, drafts, log_dir)
        else:
            repo.prepare_worktree(worktree, entries[-1].branch, entries[-1].tip)
            opened = open_with_spice(executable, worktree, target, remote, drafts, log_dir)
    except ValueError as exc:  # the top branch is checked out elsewhere
        raise LandError(str(exc), "switch that checkout to another branch, then run again") from exc
    finally:
        repo.remove_worktree(worktree)
    for pr in opened:
        err.print(f"{pr.action}: {pr.branch} -> {pr.base} {pr.url or ''}".rstrip())
    if args.json:
        print(json.dumps({"run_id": status.run_id, "tool": tool, "remote": remote,
                          "pull_requests": [pr.model_dump() for pr in opened]}, indent=2))
    return 0


def pull_request_drafts(repo: Repository, status: RunStatus, plan: Plan | None, target: str,
                        entries: list[StackEntry]) -> list[PullRequestDraft]:
    """One pull request per stacked branch, each based on the branch before it (the first on
    ``target``); title and body from the plan task, else from the branch's commits."""
    task_ids = {task.branch: task.id for task in status.tasks if task.branch}
    drafts = []
    for index, entry in enumerate(entries):
        base, below = (target, target) if index == 0 else (entries[index - 1].branch, entries[index - 1].tip)
        task = _task(plan, task_ids.get(entry.branch))
        subjects = stack_subjects(repo, below, entry.tip)
        title = f"{task.title} (task {task.id})" if task else (subjects[-1] if subjects else entry.branch)
        lines = [task.body.strip(), ""] if task and task.body.strip() else []
        if task and task.acceptance_criteria:
            lines += ["Acceptance criteria:", *[f"- [ ] {item}" for item in task.acceptance_criteria], ""]
        if task and task.files:
            lines += ["Files: " + ", ".join(f"`{name}`" for name in task.files), ""]
        if not task:
            lines += [f"- {subject}" for subject in subjects] + [""]
        lines.append(f"Part {index + 1} of {len(entries)} of the stack of planflow run {status.run_id}"
                     f"{f' ({plan.name})' if plan else ''}, based on `{base}`.")
        drafts.append(PullRequestDraft(branch=entry.branch, base=base,
                                       title=f"[{index + 1}/{len(entries)}] {title}",
                                       body="\n".join(lines)))
    return drafts


def _describe(landing: Landing, branches: int, dry_run: bool) -> str:
    """One line saying what landing did (or would do)."""
    if landing.done:
        return f"{landing.target} already holds the stack (at {landing.old_tip[:10]}): nothing to land"
    how = {
        LandMode.fast_forward: f"fast-forward by {landing.commits} commit(s) of {branches} branches",
        LandMode.squash: f"one squash commit with the changes of {branches} branches",
        LandMode.merge: f"a merge commit of {branches} branches",
        LandMode.rebase: f"{branches} branches replayed onto it, {landing.commits} commit(s)",
    }[landing.mode]
    line = (f"{'would land' if dry_run else 'landed'} the stack on {landing.target}:"
            f" {landing.old_tip[:10]} -> {landing.new_tip[:10]} ({how})")
    if landing.checkout is not None:
        line += f"; {'would update' if dry_run else 'updated'} the checkout {landing.checkout}"
    return line + ("; dry run: nothing was changed" if dry_run else "")


def _title(mode: LandMode | None, status: RunStatus, plan: Plan | None, target: str) -> str:
    """The first line of a squash or merge commit's message."""
    name = plan.name if plan else Path(status.plan).name
    if mode is LandMode.merge:
        return f"Merge planflow run {status.run_id} ({name}) into {target}"
    return f"[{status.run_id}] {name}"


def _plan(status: RunStatus) -> Plan | None:
    """The run's plan as it reads now, or None when it cannot be read."""
    try:
        return load_plan(Path(status.plan))
    except (PlanError, OSError):
        return None


def _task(plan: Plan | None, task_id: str | None) -> PlanTask | None:
    """The plan task ``task_id``, or None."""
    try:
        return plan.task(task_id) if plan and task_id else None
    except KeyError:
        return None
