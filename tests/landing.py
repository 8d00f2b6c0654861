"""Test helper for ``planflow land``: a finished run's stack built with git, a snapshot of the
user's checkout (HEAD, index and files, byte for byte), and stand-in ``gh`` and ``gs``
executables that record their arguments."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from gitrepo import TEST_IDENTITY, git, make_repo
from planflow.cli import main
from planning.status import RunStatus, TaskState, TaskStatus, status_path

RUN = "1a2d00"
TASKS = [("1", "parser", "parse.txt"), ("2", "checker", "check.txt"), ("3", "report", "report.txt")]
"""The three tasks of ``stacked_run``: (id, title, the file its commit adds)."""


def commit_file(repo: Path, branch: str, name: str, text: str, message: str) -> str:
    """Commit ``name`` = ``text`` on top of ``branch`` with plumbing (a scratch index: no
    checkout changes) and move ``branch`` there; returns the new commit."""
    scratch = {**os.environ, "GIT_INDEX_FILE": str(repo / ".git" / "scratch-index")}

    def plumbing(*args: str, text_in: str | None = None) -> str:
        return subprocess.run(["git", *args], cwd=repo, input=text_in, env=scratch, text=True,
                              capture_output=True, check=True).stdout.strip()

    blob = plumbing("hash-object", "-w", "--stdin", text_in=text)
    plumbing("read-tree", branch)
    plumbing("update-index", "--add", "--cacheinfo", f"100644,{blob},{name}")
    tree = plumbing("write-tree")
    (repo / ".git" / "scratch-index").unlink()
    sha = plumbing(*TEST_IDENTITY, "commit-tree", tree, "-p", branch, "-m", message)
    git(repo, "update-ref", f"refs/heads/{branch}", sha)
    return sha


def stacked_run(root: Path, status: str = "completed") -> tuple[Path, list[str]]:
    """A repository at ``root`` whose run ``RUN`` (plan ``root/plan.yaml``, 3 tasks) stacked
    three branches on ``main``; the main checkout is then on branch ``work`` with an
    uncommitted change, a staged file and an untracked file. Returns (repo, branches)."""
    repo = make_repo(root / "repo")
    base = git(repo, "rev-parse", "main")
    plan = root / "plan.yaml"
    plan.write_text("name: landing\nphases:\n  - name: build\n    tasks:\n" + "".join(
        f'      - {{id: "{tid}", title: {title}, prompt: "Write {name}.", files: [{name}],'
        f' acceptance: ["{name} exists"]}}\n' for tid, title, name in TASKS))
    branches, tasks, tip = [], [], "main"
    for tid, title, name in TASKS:
        branch = f"{RUN}-task-{tid}-{title}"
        git(repo, "branch", branch, tip)
        commit = commit_file(repo, branch, name, f"{title}\n", f"[{RUN}] task {tid}: {title}")
        branches.append(branch)
        tasks.append(TaskStatus(id=tid, name=title, phase=1, state=TaskState.done, branch=branch, commit=commit))
        tip = branch
    record = RunStatus(run_id=RUN, plan=str(plan), status=status, base=base, base_branch="main",
                       stack=branches, tasks=tasks)
    path = status_path(repo / ".git" / "planflow", RUN)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(record.model_dump_json())
    git(repo, "switch", "-q", "-c", "work")
    (repo / "README.md").write_text("hello, edited\n")
    (repo / "staged.txt").write_text("staged\n")
    git(repo, "add", "staged.txt")
    (repo / "scratch.txt").write_text("untracked\n")
    return repo, branches


def moved_target(root: Path, name: str, text: str) -> tuple[Path, list[str], str, list[str]]:
    """``stacked_run`` whose ``main`` then gains a commit writing ``name``: (repo, branches,
    that commit, the branches' tips)."""
    repo, branches = stacked_run(root)
    moved = commit_file(repo, "main", name, text, f"{name} changed on main")
    return repo, branches, moved, [git(repo, "rev-parse", branch) for branch in branches]


def snapshot(repo: Path) -> dict[str, bytes]:
    """The main checkout's HEAD, index and every file outside ``.git`` and ``.worktrees``."""
    files = {".git/HEAD": (repo / ".git" / "HEAD").read_bytes(),
             ".git/index": (repo / ".git" / "index").read_bytes()}
    for folder, dirs, names in os.walk(repo):
        dirs[:] = [d for d in dirs if d not in (".git", ".worktrees")]
        for name in names:
            path = Path(folder) / name
            files[str(path.relative_to(repo))] = path.read_bytes()
    return files


def land(capsys, repo: Path, *args: str) -> tuple[int, dict | None, str]:
    """``planflow land RUN ARGS --json`` in-process: (exit code, JSON or None, stderr)."""
    code = main(["land", RUN, "--repo", str(repo), "--json", *args])
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if captured.out.strip() else None, captured.err


STAND_IN = '''#!{python}
"""A stand-in {name}: records each call as a JSON line in {log}; see tests/landing.py."""
import json, os, subprocess, sys
args = sys.argv[1:]
branch = subprocess.run(["git", "rev-parse", "--abbrev-ref", "HEAD"], capture_output=True, text=True).stdout.strip()
with open({log!r}, "a") as log:
    log.write(json.dumps({{"args": args, "cwd": os.getcwd(), "branch": branch}}) + "\\n")
state_path = {log!r} + ".prs"
prs = json.load(open(state_path)) if os.path.exists(state_path) else {{}}
{body}
'''

GH_BODY = '''
if args[:2] == ["auth", "status"]:
    sys.exit({auth_exit})
if args[:2] == ["pr", "list"]:
    head = args[args.index("--head") + 1]
    print(json.dumps([prs[head]] if head in prs else []))
elif args[:2] == ["pr", "create"]:
    head, base = args[args.index("--head") + 1], args[args.index("--base") + 1]
    number = len(prs) + 1
    prs[head] = {{"number": number, "url": f"https://github.com/o/r/pull/{{number}}", "baseRefName": base}}
    json.dump(prs, open(state_path, "w"))
    print(prs[head]["url"])
elif args[:2] == ["pr", "edit"]:
    pass
'''

GS_BODY = '''
if args == ["--version"]:
    print("git-spice v0.15.2 (stand-in)")
elif "submit" in args:
    print("Created #1: https://github.com/o/r/pull/1")
'''


def stand_in(bin_dir: Path, name: str, body: str, log: Path) -> Path:
    """An executable ``bin_dir/name`` running ``body`` (Python; ``args``, ``prs`` and
    ``state_path`` are defined) that appends {"args", "cwd", "branch"} per call to ``log``."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / name
    path.write_text(STAND_IN.format(python=sys.executable, name=name, log=str(log), body=body))
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def calls(log: Path) -> list[dict]:
    """The calls a stand-in recorded, in order."""
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
