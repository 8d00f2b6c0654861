"""The ledger summary ``planflow run`` prints at the end: per task tokens (in, cached, out),
cost, model requests, duration, setup time and attempts, per review round its reviewer agent's,
and the run's totals. The figures mean the same for every agent CLI (README, "The ledger")."""

from __future__ import annotations

from planning.status import RunStatus


def render_ledger(status: RunStatus) -> str:
    """A plain-text table of the run's ledger (one line per task, one per review round whose
    reviewer agent ran, ``review`` with ``p2 r1`` (phase 2, round 1) or ``end r1``, then the totals).

    Tokens in include the cached ones; cached, cost (USD), seconds and setup (the part of the
    duration spent preparing the worktree, ``tasks.worktree_setup``, in seconds) are ``-`` when
    unknown (no agent reported them, no setup ran).
    """
    header = f"{'task':>8}  {'state':8} {'tokens in':>10} {'cached':>8} {'tokens out':>10} " \
             f"{'cost $':>10} {'requests':>8} {'seconds':>8} {'setup s':>8} {'attempts':>8}"
    lines = [header]
    for t in status.tasks:
        lines.append(_row(t.id, t.state.value, t.tokens_in, t.tokens_cached, t.tokens_out,
                          t.cost_usd, t.turns, t.duration_s, t.setup_s, t.attempts))
    for r in status.reviews:
        where = f"{r.scope.replace('phase-', 'p')} r{r.round}"
        lines.append(_row("review", where, r.tokens_in, None, r.tokens_out, r.cost_usd, r.turns,
                          None, None, r.attempts))
    total = status.totals()
    setups = [t.setup_s for t in status.tasks if t.setup_s is not None]
    lines.append(_row("total", status.status, total["tokens_in"], total["tokens_cached"],
                      total["tokens_out"], total["cost_usd"], total["turns"],
                      total["duration_s"], sum(setups) if setups else None, total["attempts"]))
    return "\n".join(lines)


def _row(name: str, state: str, tokens_in: int, cached: int | None, tokens_out: int,
         cost: float | None, requests: int, seconds: float | None, setup: float | None,
         attempts: int) -> str:
    cost_text = "-" if cost is None else f"{cost:.4f}"
    cached_text = "-" if cached is None else str(cached)
    seconds_text = "-" if seconds is None else f"{seconds:.1f}"
    setup_text = "-" if setup is None else f"{setup:.1f}"
    return (f"{name:>8}  {state:8} {tokens_in:>10} {cached_text:>8} {tokens_out:>10} "
            f"{cost_text:>10} {requests:>8} {seconds_text:>8} {setup_text:>8} {attempts:>8}")
