"""``resolve_conflict``: a resolver agent settles a stacking conflict, as a cached Prefect task.

A detached worktree ``.worktrees/{run_id}-resolve-{id}`` starts at the stack so far; the
conflicting task's commits are replayed there and, at each conflict, the run's agent gets the
conflict (files with markers, both sides, both tasks' descriptions). The result must pass the
quality gates of both tasks in that worktree; then its commit is kept under
``refs/planflow/{run_id}/resolved-{id}`` and the worktree removed. On failure the worktree
stays for inspection. Not retried (another agent run rarely settles what one could not).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import task
from pydantic import BaseModel

from agents.base import AgentRequest, run_agent
from agents.conflict_prompt import build_conflict_prompt
from gitops.replay import UnresolvedConflict, conflict_sides, replay_resolving
from gitops.repo import open_repository
from planning.models import PlanTask
from planning.status import open_store
from tasks.agent_setup import resolve_agent
from tasks.defaults import WorkKeyPolicy, result_serializer, result_storage
from tasks.errors import GateFailed, ResolutionFailed
from tasks.gates import run_gates
from tasks.limits import agent_slot


class ResolveSpec(BaseModel):
    """One conflict to resolve: ``task`` (whose commits, from ``tip``, conflicted) and ``other``
    (the earlier task, None when the conflict is with the base); ``onto`` the stack's commit
    they go on; ``exclude`` commits that are not ``task``'s own (the base and the earlier
    tasks' tips); the run's agent (``agent``, ``agent_command``, ``agent_block``);
    ``timeout_s`` seconds per agent run and gate; ``run_gates``; ``status_path`` where the
    agent's usage is added to ``task``'s ledger."""

    run_id: str
    repo: Path
    plan_name: str
    task: PlanTask
    other: PlanTask | None
    onto: str
    tip: str
    exclude: list[str]
    agent: str
    agent_command: str | None = None
    agent_block: str | None = None
    timeout_s: float = 1800.0
    run_gates: bool = True
    status_path: Path | None = None

    def cache_parts(self) -> dict[str, Any]:
        """The cache key: both tasks' content, the commits involved, the agent and gates."""
        tasks = [t.model_dump(mode="json", exclude={"line"}) if t else None for t in (self.task, self.other)]
        return {"run_id": self.run_id, "tasks": tasks, "onto": self.onto, "tip": self.tip,
                "exclude": self.exclude, "agent": [self.agent_block or self.agent, self.agent_command],
                "gates": self.run_gates}


class Resolution(BaseModel):
    """A settled conflict: ``commit`` (the task's work on top of ``onto``), the ``files`` that
    conflicted, the resolver's ``agent`` name and its last ``message``; ``other``: the id of
    the earlier task it was settled against (None: the base)."""

    commit: str
    files: list[str]
    agent: str
    message: str = ""
    other: str | None = None


@task(
    name="resolve-conflict",
    task_run_name="resolve-{spec.task.id}",
    cache_policy=WorkKeyPolicy(param="spec"),
    persist_result=True,
    result_storage=result_storage(),
    result_serializer=result_serializer(),
)
def resolve_conflict(spec: ResolveSpec) -> Resolution:
    """Replay ``spec.task``'s commits onto ``spec.onto`` with the resolver agent settling each
    conflict, then run both tasks' quality gates on the result.

    Returns a ``Resolution``. Raises ``ResolutionFailed`` (worktree kept) when the agent fails,
    conflict markers remain or a gate fails; ``AgentConfigError`` when the agent cannot be
    built; ``GitError`` when git fails.
    """
    repo = open_repository(spec.repo)
    ref = spec.task.ref_id
    worktree = repo.root / ".worktrees" / f"{spec.run_id}-resolve-{ref}"
    logs = repo.state_dir / "runs" / spec.run_id / "logs"
    agent = resolve_agent(spec.agent, spec.agent_block, spec.agent_command, None)
    label = f"detached worktree {worktree.name}"
    files_seen: list[str] = []
    messages: list[str] = []

    def settle(files: list[str]) -> None:
        attempt = len(messages) + 1
        files_seen.extend(path for path in files if path not in files_seen)
        prompt = build_conflict_prompt(spec.task, spec.other, spec.plan_name,
                                       {path: conflict_sides(worktree, path) for path in files})
        request = AgentRequest(
            run_id=spec.run_id,
            task=PlanTask(id=f"resolve-{spec.task.id}", title=f"resolve conflict of {spec.task.id}",
                          files=files),
            prompt=prompt, worktree=worktree,
            log_path=logs / f"resolve-{ref}.attempt-{attempt}.log",
            prompt_path=logs / f"resolve-{ref}.prompt.md",
            timeout_s=agent.settings.timeout_s or spec.timeout_s, attempt=attempt,
        )
        with agent_slot():
            result = run_agent(agent, request)
        if spec.status_path:
            open_store(spec.status_path).add_usage(spec.task.id, 0, result.tokens_in, result.tokens_out,
                                                   result.cost_usd, result.requests,
                                                   result.tokens_cached)
        messages.append(result.message)
        if result.status != "succeeded":
            raise ResolutionFailed(spec.task.id, f"the resolver ({agent.name} agent) ended {result.status}",
                                   worktree, label, request.log_path, result.message)

    try:
        commit = replay_resolving(repo, worktree, spec.onto, spec.tip, spec.exclude, settle)
    except UnresolvedConflict as exc:
        raise ResolutionFailed(spec.task.id, str(exc), worktree, label, None,
                               messages[-1] if messages else "") from None
    if spec.run_gates:
        for checked in (t for t in (spec.other, spec.task) if t is not None):
            try:
                run_gates(checked, worktree, label, spec.timeout_s,
                          logs / f"resolve-{ref}.task-{checked.ref_id}")
            except GateFailed as exc:
                raise ResolutionFailed(spec.task.id,
                                       f"the resolved result fails task {checked.id}'s {exc.what}",
                                       worktree, label, exc.log_path, exc.output) from None
    repo.keep_ref(f"{spec.run_id}/resolved-{ref}", commit)
    repo.remove_worktree(worktree)
    return Resolution(commit=commit, files=files_seen, agent=agent.name,
                      message=(messages[-1] if messages else "")[-2000:],
                      other=spec.other.id if spec.other else None)
