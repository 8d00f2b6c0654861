"""Tasks a re-run need not start: their work landed in an earlier run of the same run id
under the same cache key (the keep ref and the record beside it, ``tasks.landed``), so the
scheduler takes their outcome as done without creating a Prefect task run for them. This is
the first line of the resume; the task run's own cache (Prefect's, then the landed record
again inside the task) is the second, for everything this does not take (a record that is
missing or does not match, a task dispatched to a remote worker, a review fix).
"""

from __future__ import annotations

from flows.context import RunContext
from gitops.repo import open_repository
from tasks.defaults import work_key
from tasks.landed import landed, record_path
from tasks.plan_task import TaskOutcome, TaskSpec, run_plan_task
from tasks.run_log import run_logger


class EarlierWork:
    """The landed work of ``ctx``'s run, looked up task by task (``outcome``); the refs are
    read once (one ``git for-each-ref``), when the first record is found: a first run, which
    has none, asks git nothing. ``taken``: the ids of the tasks taken so far."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.repo = open_repository(ctx.repo)
        self.refs: dict[str, str] | None = None
        self.taken: list[str] = []

    def outcome(self, spec: TaskSpec) -> TaskOutcome | None:
        """The outcome of ``spec``'s work when it landed, else None (the task needs its task
        run). Raises ``GitError`` when the refs cannot be read."""
        if self.ctx.params.remote or spec.review_round:
            return None
        key = work_key(run_plan_task.name, spec.cache_parts())
        if not record_path(self.repo, spec.run_id, spec.task.ref_id, key).is_file():
            return None
        if self.refs is None:
            self.refs = self.repo.ref_tips()
        done = landed(self.repo, spec.run_id, spec.task.ref_id, key, TaskOutcome.model_validate_json,
                      self.refs)
        if done is None:
            return None
        self.taken.append(spec.task.id)
        return done

    def log_taken(self) -> None:
        """One line in the current flow run's log naming the tasks taken (none: no line)."""
        if self.taken:
            run_logger().info(f"task(s) {', '.join(self.taken)} done in an earlier run: their"
                              " landed work (keep ref and record) taken without a task run")
