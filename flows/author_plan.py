"""``write_plan``: the plan flow. An agent decomposes a spec into ``plan.md`` (spectacular
format) next to it, on branch ``{run_id}-plan`` stacked on the spec's commit; planflow parses
it with its own parser and rules (``planning.authoring.plan_issues``), hands the exact error
messages back to the agent, and adds the run id and its own execution summary to the
accepted plan (``planning.authoring.finish_plan``)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from prefect import flow
from prefect.states import State
from pydantic import Field

from flows.authoring import AuthorParams, author_document
from flows.parameters import fields_as_parameters
from flows.prompts import render
from flows.run_slot import busy_state
from gitops.files import read_committed
from gitops.repo import Repository, open_repository
from gitops.runlock import RunInProgress
from planning.authoring import finish_plan, folder_run_id, new_run_id, plan_issues
from planning.errors import PlanError
from planning.spectacular import parse_spectacular

class PlanParams(AuthorParams):
    """One plan run, as the CLI and the Prefect UI's form give it."""

    spec_path: str = Field(description="The spec, relative to the repository root (or absolute inside it): in the checkout, or committed on the run's `{run_id}-spec` branch.")
    max_parallel: int = Field(4, ge=1, le=64, description="Agents assumed by the plan's execution summary.")


@flow(name="write-plan")
@fields_as_parameters(PlanParams)
def write_plan(params: PlanParams) -> dict | State:
    """Write, validate and commit the plan of the spec ``params.spec_path``.

    The run id is ``params.run_id``, else the spec folder's (``specs/{run_id}-slug/``), else a
    new one. The branch starts from the spec branch ``{run_id}-spec`` when it holds the spec,
    else from HEAD (a spec only in the checkout is copied into the worktree and committed with
    the plan). Returns the ``Document`` as a dict, or a ``Cancelled`` state when another flow run
    holds the run id (``flows.run_slot``). Raises ``PlanError`` when the spec is found
    nowhere, ``DocumentRejected`` when no attempt was valid, ``AgentFailed`` when the agent
    failed; worktree and branch are kept.
    """
    repo = open_repository(Path(params.repo))
    spec, text = _spec_location(repo, params.spec_path)
    folder_id, feature = folder_run_id(spec)
    run_id = params.run_id or folder_id or new_run_id()
    document = str(spec.parent / "plan.md")
    spec_branch = f"{run_id}-spec"
    from_branch = read_committed(repo, spec_branch, str(spec)) is not None
    base = repo.require_commit(spec_branch) if from_branch else repo.head_sha()
    seed = None if from_branch or read_committed(repo, base, str(spec)) is not None else {str(spec): text}

    def check(plan_text: str) -> tuple[list[str], str]:
        try:
            plan = parse_spectacular(plan_text, Path(document))
        except PlanError as exc:
            return [str(exc)], plan_text
        issues = plan_issues(plan)
        if issues:
            return [str(issue) for issue in issues], plan_text
        return [], finish_plan(plan_text, plan, run_id, feature, params.max_parallel)

    prompt = render("plan", spec_path=str(spec), plan_path=document, run_id=run_id, feature=feature)
    try:
        plan = author_document(params, repo, run_id, "plan", "plan-decomposition", base, document,
                               prompt, check, seed)
    except RunInProgress as busy:  # another flow run holds the run id: Cancelled
        return busy_state(busy)
    return plan.model_dump(mode="json")


def _spec_location(repo: Repository, given: str) -> tuple[PurePosixPath, str]:
    """The spec's repository-relative path and text: from the checkout, else from the branch
    ``{run_id}-spec`` its folder names. PlanError when it is outside the repository or found
    nowhere."""
    path = Path(given)
    if path.is_absolute():
        try:
            path = path.resolve().relative_to(repo.root)
        except ValueError:
            raise PlanError(f"the spec {given} is not inside the repository {repo.root}",
                            fix="give a path inside the repository") from None
    relative = PurePosixPath(path.as_posix())
    on_disk = repo.root / relative
    if on_disk.is_file():
        return relative, on_disk.read_text(encoding="utf-8")
    folder_id = folder_run_id(relative)[0]
    branch = f"{folder_id}-spec" if folder_id else None
    text = read_committed(repo, branch, str(relative)) if branch else None
    if text is None:
        raise PlanError(f"spec not found: {relative} is neither in the checkout nor on branch"
                        f" {branch or '{run_id}-spec'}", fix="write it with `planflow spec`")
    return relative, text
