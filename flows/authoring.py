"""The loop shared by the spec and plan flows: an agent writes a document in a worktree until
planflow's checks accept it, then it is committed on the step's branch.

``author_document``: worktree ``.worktrees/{run_id}-{step}`` on branch ``{run_id}-{step}``, with the
document's folder created; attempt 1 runs the agent on the prompt; each later attempt (at most ``attempts`` in all) adds
the checks' findings to it (``prompts/retry.md``); the accepted document is committed and the
worktree removed. A rejected or failed run keeps its worktree and branch. When the branch
already holds an accepted document and no reviewer feedback is given, the agent is not called
(re-running resumes). The run's status file shows the step's phase (``spec-generation``,
``plan-decomposition``) while it works.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from prefect.tasks import exponential_backoff
from pydantic import BaseModel, Field

from flows.context import AGENT_CHOICES
from flows.prompts import render
from flows.run_slot import run_slot
from gitops.files import read_committed
from gitops.repo import Repository
from planning.status import RunStatus, StatusStore, register_store, status_path
from tasks.author_task import AuthorStep, run_author_agent
from tasks.defaults import DEFAULT_RETRIES, DEFAULT_RETRY_DELAY_S
from tasks.limits import agent_limit

Check = Callable[[str], tuple[list[str], str]]
"""A document check: its text -> (findings, the text to commit); no findings: accepted."""


class AgentParams(BaseModel):
    """The agent and run options of the authoring and ship flows (part of their typed forms
    in the Prefect UI)."""

    repo: str = Field(".", description="The git repository the document is written for.")
    agent: str = Field("shell", json_schema_extra=AGENT_CHOICES, description="The agent that writes: shell, claude, codex, gemini, opencode, aider, qwen.")
    agent_command: str | None = Field(None, description="The shell agent's command (or another CLI's executable).")
    agent_block: str | None = Field(None, description="A saved AgentConfig block used instead of `agent`.")
    run_id: str | None = Field(None, pattern=r"^[0-9a-f]{6}$", description="Run id (6 hex); default: a new one.")
    timeout_s: float = Field(1800.0, gt=0, description="Limit of one agent run, seconds.")
    retries: int = Field(DEFAULT_RETRIES, ge=0, le=10, description="Retries of an agent that fails or times out.")
    retry_delay_s: float = Field(DEFAULT_RETRY_DELAY_S, ge=0, description="First retry delay, seconds; doubles on each retry.")
    attempts: int = Field(3, ge=1, le=10, description="Agent attempts at a document planflow accepts; each retry is told what was wrong.")


class AuthorParams(AgentParams):
    """What every authoring flow takes."""

    feedback: str | None = Field(None, description="A reviewer's requested changes: the agent revises the document on the branch with them.")
    last_step: bool = Field(True, description="Mark the run completed once the document is accepted (ship sets False: execution follows).")


class Document(BaseModel):
    """An accepted document: ``path`` relative to the repository root, committed as ``commit``
    on ``branch``; ``attempts`` agent runs (0: the branch already held it); the agents' usage:
    ``tokens_in``/``tokens_out`` tokens, ``cost_usd`` USD (None when none was reported)."""

    run_id: str
    path: str
    branch: str
    commit: str
    attempts: int
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float | None = None


class DocumentRejected(Exception):
    """Every attempt ended with findings; the message lists the last ones, the worktree and
    the branch (both kept)."""


def author_document(params: AuthorParams, repo: Repository, run_id: str, step: str, phase: str,
                    base: str, document: str, prompt: str, check: Check,
                    seed: dict[str, str] | None = None) -> Document:
    """Have the agent write ``document`` on branch ``{run_id}-{step}`` until ``check`` accepts it.

    Args:
        params: the flow's parameters (agent, attempts, feedback...).
        repo: the repository; run_id: the run (6 hex); step: ``spec`` or ``plan``.
        phase: the status phase shown while the agent works (``spec-generation``...).
        base: the commit the branch starts from when it does not exist yet.
        document: the path the agent writes, relative to the repository root.
        prompt: the first attempt's prompt (markdown).
        check: accepts or rejects the written text (see ``Check``).
        seed: files (repository-relative path -> text) written into a new worktree before the
            agent runs (a spec that is not committed yet).

    Returns the committed ``Document``. Raises ``DocumentRejected`` when no attempt was
    accepted, ``AgentFailed`` when the agent failed its retries, ``RunInProgress`` when another
    process or flow run works on ``run_id`` (it holds the run's slot: ``flows.run_slot``); the
    status says which, and the worktree and branch are kept.
    """
    branch = f"{run_id}-{step}"
    with agent_limit(), run_slot(repo.state_dir, run_id):
        store = register_store(StatusStore(status_path(repo.state_dir, run_id),
                                           RunStatus(run_id=run_id, plan=document, phase=phase,
                                                     output=f"{phase}: starting")))
        committed = repo.resolve(f"refs/heads/{branch}")
        if committed and not params.feedback:
            text = read_committed(repo, committed, document)
            if text is not None and not check(text)[0]:
                _finish(store, params, f"{document} already accepted on branch {branch}")
                return Document(run_id=run_id, path=document, branch=branch, commit=committed,
                                attempts=0)
        worktree = repo.prepare_worktree(repo.root / ".worktrees" / branch, branch, committed or base)
        (worktree / document).parent.mkdir(parents=True, exist_ok=True)
        for path, text in (seed or {}).items():
            if not (worktree / path).exists():
                (worktree / path).parent.mkdir(parents=True, exist_ok=True)
                (worktree / path).write_text(text, encoding="utf-8")
        try:
            return _attempts(params, repo, run_id, step, phase, worktree, branch, document,
                             prompt, check, store)
        except Exception as exc:
            store.update(status="failed", finished_at=time.time(), output=f"{phase}: {exc}")
            raise


def _attempts(params: AuthorParams, repo: Repository, run_id: str, step: str, phase: str,
              worktree: Path, branch: str, document: str, prompt: str, check: Check,
              store: StatusStore) -> Document:
    runner = run_author_agent.with_options(
        retries=params.retries, retry_delay_seconds=exponential_backoff(params.retry_delay_s))
    base_prompt = prompt
    if params.feedback:
        base_prompt += render("feedback", path=document, feedback=params.feedback)
    usage = Document(run_id=run_id, path=document, branch=branch, commit="", attempts=0)
    logs = repo.state_dir / "runs" / run_id / "logs"
    earlier = len(list(logs.glob(f"{step}.attempt-*.prompt.md")))  # logs of earlier calls stay
    findings: list[str] = []
    for attempt in range(1, params.attempts + 1):
        text = base_prompt
        if findings:
            text += render("retry", path=document, findings="\n".join(f"- {f}" for f in findings))
        fixing = f", fixing {len(findings)} finding(s) of attempt {attempt - 1}" if findings else ""
        store.update(output=f"{phase}: {params.agent_block or params.agent} agent writing"
                            f" {document} (attempt {attempt} of {params.attempts}{fixing})")
        run = runner(AuthorStep(
            run_id=run_id, step=step, attempt=earlier + attempt, worktree=worktree, branch=branch,
            document=document, prompt=text, agent=params.agent, agent_command=params.agent_command,
            agent_block=params.agent_block, timeout_s=params.timeout_s,
            logs=logs))
        usage.attempts = attempt
        usage.tokens_in += run.tokens_in
        usage.tokens_out += run.tokens_out
        if run.cost_usd is not None:
            usage.cost_usd = round((usage.cost_usd or 0.0) + run.cost_usd, 6)
        path = worktree / document
        if not path.is_file():
            findings = [f"the file `{document}` was not written"]
            continue
        findings, accepted = check(path.read_text(encoding="utf-8"))
        if not findings:
            path.write_text(accepted, encoding="utf-8")
            repo.commit_all(worktree, f"[{run_id}] {step}: {document}")
            usage.commit = repo.require_commit(f"refs/heads/{branch}")
            repo.remove_worktree(worktree)
            _finish(store, params, f"{document} written on branch {branch} ({attempt} attempt(s))")
            return usage
    raise DocumentRejected(
        f"{document} was rejected after {params.attempts} attempt(s); worktree {worktree} and"
        f" branch {branch} are kept; last findings:\n" + "\n".join(f"- {f}" for f in findings))


def _finish(store: StatusStore, params: AuthorParams, output: str) -> None:
    if params.last_step:
        store.update(status="completed", phase=None, finished_at=time.time(), output=output)
    else:
        store.update(output=f"{store.status.phase}: done: {output}")
