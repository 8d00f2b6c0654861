"""The ``shell`` agent: runs the task's ``run`` command (or ``--agent-command``) with bash.

The command sees the task through environment variables: ``PLANFLOW_RUN_ID``,
``PLANFLOW_TASK_ID``, ``PLANFLOW_TASK_TITLE``, ``PLANFLOW_TASK_FILES`` (newline-separated),
``PLANFLOW_PROMPT_FILE``, ``PLANFLOW_PLAN_FILE`` (when the plan file is known),
``PLANFLOW_WORKTREE`` and ``PLANFLOW_ATTEMPT``; paths are absolute.
"""

from __future__ import annotations

from typing import ClassVar

from agents.base import Agent, AgentConfigError, AgentRequest, Invocation
from agents.process import base_env


class ShellAgent(Agent):
    """Runs ``bash -c <command>`` in the worktree; the task's ``run`` wins over ``command``."""

    name: ClassVar[str] = "shell"

    def invocation(self, request: AgentRequest) -> Invocation:
        """``bash -c`` the command with the ``PLANFLOW_*`` variables on top of ``base_env``.

        Raises:
            AgentConfigError: neither the task's ``run`` nor the agent's ``command`` is set.
        """
        task = request.task
        command = task.run or self.command
        if not command:
            raise AgentConfigError(
                f"task {task.id} ({task.title}) has no command for the shell agent: add a"
                " `**Run**:` block to the task in the plan (`run:` field in YAML plans),"
                " or pass --agent-command"
            )
        extra = {
            "PLANFLOW_RUN_ID": request.run_id,
            "PLANFLOW_TASK_ID": task.id,
            "PLANFLOW_TASK_TITLE": task.title,
            "PLANFLOW_TASK_FILES": "\n".join(task.files),
            "PLANFLOW_PROMPT_FILE": str(request.prompt_path.resolve()),
            "PLANFLOW_WORKTREE": str(request.worktree.resolve()),
            "PLANFLOW_ATTEMPT": str(request.attempt),
        }
        if request.plan_path is not None:
            extra["PLANFLOW_PLAN_FILE"] = str(request.plan_path.resolve())
        return Invocation(argv=["bash", "-c", command], env=base_env(extra))
