"""``ready_worktree``: a task's fresh worktree made ready before its agent starts, as the run's
``WorktreeConfig`` says (``planning.worktree_config``): copied files, shared folders, setup.

Order: ``copy`` (ignored files of the user's checkout), then each ``share`` (its kept copy
linked in, or built with its ``run`` command and kept), then ``setup``. Commands run with
``bash -e -c`` in the worktree, with the gates' environment and the task's timeout; each one's
output is a log next to the agent's (``task-X.attempt-N.setup.log``,
``task-X.attempt-N.share-K.log``), and what happened is written to the task run's log in
Prefect. Any failure is ``SetupFailed`` (failure class ``setup``, retried like the others).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from prefect import get_run_logger
from prefect.exceptions import MissingContextError

from agents.failures import Failure
from agents.process import base_env, run_process
from gitops.prepare import PrepareError, SharedFolders, copy_ignored, require_ignored, share_key
from gitops.repo import Repository
from planning.status import StatusStore
from planning.worktree_config import WorktreeConfig
from tasks.errors import SetupFailed


def ready_worktree(config: WorktreeConfig | None, repo: Repository, worktree: Path, branch: str,
                   task_id: str, log_path: Path, timeout_s: float,
                   store: StatusStore | None = None) -> float:
    """Prepare ``worktree`` (on ``branch``, for task ``task_id``) as ``config`` says; ``log_path``
    is the agent's log of this attempt (the setup logs go next to it); ``timeout_s`` (seconds)
    limits each command. Records the time taken as the task's ``setup_s`` in ``store``.

    Returns the seconds it took (0.0 without a configuration). Raises ``SetupFailed`` when a
    file cannot be copied, a file to copy or a shared folder is not ignored by git, a share's
    build or the setup command fails or times out; ``GitError`` when git fails.
    """
    if config is None or config.empty:
        return 0.0
    started = time.monotonic()
    log = _logger()
    try:
        copied, empty = copy_ignored(repo.root, worktree, config.copy_)
        require_ignored(worktree, [share.path.rstrip("/") + "/" for share in config.share], "share")
    except (PrepareError, OSError) as exc:
        raise SetupFailed(task_id, f"preparing the worktree failed: {exc} (failure:"
                          f" {Failure.setup.value})", worktree, branch, None) from exc
    if copied:
        log.info(f"setup: copied {', '.join(copied[:20])}" + (" ..." if len(copied) > 20 else ""))
    for pattern in empty:
        log.warning(f"setup: copy `{pattern}` matched no file of the checkout")
    shared = SharedFolders(repo.state_dir / "share")
    for number, share in enumerate(config.share, start=1):
        key = share_key(worktree, share)
        mode = shared.restore(share, key, worktree)
        if mode is not None:
            log.info(f"setup: {share.path} linked ({mode}) from the copy kept for key {key}")
            continue
        _run(share.run, worktree, branch, task_id, log_path.with_suffix(f".share-{number}.log"),
             timeout_s, f"building {share.path}")
        kept = shared.keep(share, key, worktree)
        log.info(f"setup: {share.path} built with `{share.run}`" + (f", kept for key {key}" if kept else ""))
    if config.setup:
        took = _run(config.setup, worktree, branch, task_id, log_path.with_suffix(".setup.log"),
                    timeout_s, "the setup command")
        log.info(f"setup: `{config.setup}` passed in {took:.1f} s")
    seconds = round(time.monotonic() - started, 3)
    if store:
        store.update_task(task_id, setup_s=seconds)
    return seconds


def _run(script: str, worktree: Path, branch: str, task_id: str, log_path: Path, timeout_s: float,
         what: str) -> float:
    """Run ``script`` (``bash -e -c``) in ``worktree``; its seconds, or ``SetupFailed``."""
    outcome = run_process(["bash", "-e", "-c", script], worktree, base_env({}), timeout_s, log_path)
    if outcome.ok:
        return outcome.duration_s
    how = f"timed out after {timeout_s:g} s" if outcome.timed_out else f"exited {outcome.exit_code}"
    _logger().error(f"setup: {what} `{script}` {how}:\n{outcome.output_tail[-2000:]}")
    raise SetupFailed(task_id, f"{what} `{script}` {how} (failure: {Failure.setup.value})",
                      worktree, branch, log_path, outcome.output_tail)


def _logger() -> logging.Logger | logging.LoggerAdapter:
    """The task run's logger in Prefect, or planflow's outside a run."""
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger("planflow")
