"""The four planflow commands (execute, status, spec, plan) as the text an agent's command file
holds, the same for every agent but for how the user's arguments are written into it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    """One command: ``name``, a one-line ``description``, an ``argument_hint`` and the
    ``body`` (markdown; ``{args}`` marks where the user's arguments go)."""

    name: str
    description: str
    argument_hint: str
    body: str

    def render(self, args: str) -> str:
        """The body with ``args`` (the agent's placeholder, e.g. ``$ARGUMENTS``) in place."""
        return self.body.replace("{args}", args)


_POLL = """\
Then call `run_status` with the run id about every 30 seconds until `status` is `completed`,
`failed` or `stopped` (`starting` and `running` mean it is still working). Do not do the
tasks' work yourself: planflow's agents do it in their own worktrees."""

COMMANDS = (
    Command("execute", "Run a planflow plan into a stack of branches", "<plan file> [agent]",
            f"""\
Execute a plan with planflow, through the `planflow` MCP server.

Arguments: {{args}}
The first argument is the plan file (a path inside this repository); a second one, if given, is
the agent (shell, claude, codex, gemini, opencode, aider, qwen).

1. Call `validate_plan` with the plan path. If it reports errors, show them (file:line and the
   fix) and stop.
2. Call `execute_plan` with the plan path (and the agent). It returns at once: tell the user the
   run id and the Prefect UI URL (`ui_url`, when there is one).
3. {_POLL}
4. When it ends, report the stack (`stack`, base first) or, for a failed run, each failed task's
   error and branch; the branches and worktrees are kept.
"""),
    Command("status", "Show the status of a planflow run", "<run id>", """\
Show the status of planflow run {args}: call the `run_status` tool of the `planflow` MCP server
with that run id and summarize `status`, `phase`, the progress of the tasks, `stack`, and the
errors of failed tasks. Give the Prefect UI URL (`launch.ui_url`) when there is one.
"""),
    Command("spec", "Have planflow's agent write the spec of a feature", "<feature request>",
            f"""\
Write the spec of a feature with planflow, through the `planflow` MCP server.

Feature request: {{args}}

1. Call `write_spec` with the feature request as `request`. It returns at once with a run id and
   the Prefect UI URL: tell the user both.
2. {_POLL}
3. When it completed, `result` names the spec (`path`) and its branch: show the user
   `git show BRANCH:PATH` and suggest the plan command next.
"""),
    Command("plan", "Have planflow's agent decompose a spec into a validated plan",
            "<spec path>", f"""\
Decompose a spec into a plan with planflow, through the `planflow` MCP server.

Spec: {{args}}

1. Call `write_plan` with the spec path as `spec_path`. It returns at once with a run id and
   the Prefect UI URL: tell the user both.
2. {_POLL}
3. When it completed, `result` names the plan (`path`) and its branch: call `dry_run` on the plan
   and show the execution summary, then suggest the execute command.
"""),
)
