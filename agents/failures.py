"""Why an agent run failed, as a stable code, and whether another attempt can help.

    Failure
    ├── auth            the API rejected the key (401/403): not retried
    ├── rate_limit      429 / quota: retried with backoff
    ├── server_error    5xx / overloaded: retried with backoff
    ├── max_turns       the CLI stopped at its turn limit: not retried
    ├── budget          the CLI stopped at its cost limit: not retried
    ├── rejected        the API refused the request as invalid (400) without saying more
    │                   (aider reports an OpenAI-style 401 this way): not retried
    ├── timeout         killed at the run's timeout (process group): retried
    ├── exit_zero       the CLI exited 0 but its output reports an error: retried
    ├── setup           the worktree's setup (copy, shared folder, setup command) failed
    │                   before the agent started: retried
    └── error           any other non-zero exit or crash: retried
"""

from __future__ import annotations

import re
from enum import Enum


class Failure(str, Enum):
    """The failure classes of an agent run (values are the stable codes)."""

    auth = "auth"
    rate_limit = "rate_limit"
    server_error = "server_error"
    max_turns = "max_turns"
    budget = "budget"
    rejected = "rejected"
    timeout = "timeout"
    exit_zero = "exit_zero"
    setup = "setup"
    error = "error"

    @property
    def retryable(self) -> bool:
        """Whether another attempt can help (not for auth, max turns, budget, rejected)."""
        return self not in (Failure.auth, Failure.max_turns, Failure.budget, Failure.rejected)


_PATTERNS = (
    (Failure.auth, re.compile(
        r"\b(401|403)\b|unauthori[sz]ed|authentication|invalid api key|not logged in",
        re.IGNORECASE)),
    (Failure.rate_limit, re.compile(r"\b429\b|rate.?limit|quota|too many requests", re.IGNORECASE)),
    (Failure.server_error, re.compile(
        r"\b5\d\d\b|server.?error|overloaded|internal|high demand|servers are down",
        re.IGNORECASE)),
)


def classify_status(status: int | None) -> Failure | None:
    """The class of an HTTP status an API returned: 401/403 auth, 429 rate limit, 5xx server
    error; None for other statuses or None."""
    if status in (401, 403):
        return Failure.auth
    if status == 429:
        return Failure.rate_limit
    if status is not None and 500 <= status <= 599:
        return Failure.server_error
    return None


def classify_text(text: str) -> Failure | None:
    """The class named by an error message (auth first, then rate limit, then server error);
    None when the text names none of them."""
    for failure, pattern in _PATTERNS:
        if pattern.search(text):
            return failure
    return None
