"""``write_spec``: the spec flow. An agent turns a feature request into
``specs/{run_id}-{slug}/spec.md``, committed on branch ``{run_id}-spec`` from the repository's
HEAD; planflow checks the sections (``planning.authoring.spec_findings``) and sends the
missing ones back to the agent."""

from __future__ import annotations

from pathlib import Path

from prefect import flow
from prefect.states import State
from pydantic import Field

from flows.authoring import AuthorParams, author_document
from flows.parameters import fields_as_parameters
from flows.prompts import render
from flows.run_slot import busy_state
from gitops.repo import open_repository
from gitops.runlock import RunInProgress
from planning.authoring import conventions_in, new_run_id, spec_findings, spec_folder


class SpecParams(AuthorParams):
    """One spec run, as the CLI and the Prefect UI's form give it."""

    request: str = Field(min_length=1, description="The feature request, in the user's words.")


@flow(name="write-spec")
@fields_as_parameters(SpecParams)
def write_spec(params: SpecParams) -> dict | State:
    """Write and commit the spec of ``params.request``.

    Returns the ``Document`` as a dict (``run_id``, ``path`` relative to the repository root,
    ``branch``, ``commit``, ``attempts``, usage), or a ``Cancelled`` state when another flow
    run holds the run id (``flows.run_slot``). Raises ``DocumentRejected`` when no attempt
    had every section, ``AgentFailed`` when the agent failed, ``ValueError`` when ``repo`` is
    no git repository; worktree and branch are kept.
    """
    repo = open_repository(Path(params.repo))
    run_id = params.run_id or new_run_id()
    document = f"{spec_folder(run_id, params.request)}/spec.md"
    conventions = conventions_in(repo.root)
    prompt = render("spec", request=params.request.strip(), spec_path=document,
                    conventions=", ".join(f"`{name}`" for name in conventions) or "none")
    try:
        spec = author_document(params, repo, run_id, "spec", "spec-generation", repo.head_sha(),
                               document, prompt, lambda text: (spec_findings(text, conventions), text))
    except RunInProgress as busy:  # another flow run holds the run id: Cancelled
        return busy_state(busy)
    return spec.model_dump(mode="json")
