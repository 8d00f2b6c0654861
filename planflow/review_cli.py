"""The ``planflow run`` options of the review loop and their ``ExecuteParams`` fields."""

from __future__ import annotations

import argparse
from typing import Any


def add_review_options(run: argparse.ArgumentParser) -> None:
    """Add ``--reviewer``, ``--review-frequency``, ``--review-command``, ``--reviewer-agent``,
    ``--max-review-rounds``, ``--human-review-timeout`` and ``--escalate-to-human`` to ``run``."""
    group = run.add_argument_group("review", "judge each task's branch before the next phase"
                                             " builds on it; rejected tasks are fixed and reviewed again")
    group.add_argument("--reviewer", choices=["none", "agent", "command", "human"], default="none",
                       help="agent: a coding agent gives a verdict per task; command: a command on"
                            " the phase tip, exit 0 approves; human: the flow pauses for a form in"
                            " the Prefect UI (default: none)")
    group.add_argument("--review-frequency", choices=["phase", "end", "off"], default="phase",
                       help="after every phase, once at the end, or never (default: phase)")
    group.add_argument("--review-command",
                       help="reviewer command: the command run on the phase tip; reviewer agent:"
                            " the shell reviewer's script, or another CLI's executable")
    group.add_argument("--reviewer-agent",
                       help="reviewer agent: an adapter name or AgentConfig block (default: --agent)")
    group.add_argument("--max-review-rounds", type=int, default=3,
                       help="rounds before the run stops with the open comments (default: 3)")
    group.add_argument("--human-review-timeout", type=float, default=3600.0,
                       help="seconds a human review waits for its answer (default: 3600)")
    group.add_argument("--escalate-to-human", action="store_true",
                       help="after the last rejected round, pause for a person instead of stopping")


def review_params(args: argparse.Namespace) -> dict[str, Any]:
    """The ``ExecuteParams`` fields of the review options in ``args``."""
    return {
        "reviewer": args.reviewer,
        "review_frequency": args.review_frequency,
        "review_command": args.review_command,
        "reviewer_agent": args.reviewer_agent,
        "max_review_rounds": args.max_review_rounds,
        "human_review_timeout_s": args.human_review_timeout,
        "escalate_to_human": args.escalate_to_human,
    }
