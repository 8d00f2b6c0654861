"""The house defaults of every planflow Prefect task: cache policy, result storage, retries.

Caching is the resume mechanism (architecture promise 3). Prefect's ``DEFAULT`` policy puts
the flow-run id in the key and so never hits across runs; ``WorkKeyPolicy`` keys a task run
on what defines its work instead (the task's name, a policy version, and the ``key_parts``
its input model declares), and results are persisted as files, so a second process running
the same plan finds them.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect.cache_policies import CachePolicy
from prefect.context import TaskRunContext
from prefect.settings import get_current_settings

POLICY_VERSION = "1"
"""Bump to invalidate every cached task result (a change in what a task does)."""

DEFAULT_RETRIES = 2
DEFAULT_RETRY_DELAY_S = 10.0
"""First retry delay in seconds; each later retry doubles it (exponential backoff)."""


def result_storage() -> Path:
    """Where task results (the cache records) are written: ``$PLANFLOW_RESULTS_DIR`` when set,
    else Prefect's local storage path (``$PREFECT_HOME/storage``). A ``Path``, because Prefect
    reads a ``str`` as a block slug."""
    configured = os.environ.get("PLANFLOW_RESULTS_DIR")
    if configured:
        return Path(configured)
    return Path(get_current_settings().results.local_storage_path)


@dataclass
class WorkKeyPolicy(CachePolicy):
    """Cache key = sha256 of the task's name, ``POLICY_VERSION`` and ``inputs[param].cache_parts()``.

    ``param`` names the task's input model; it must have a ``cache_parts() -> dict`` method
    returning JSON-serializable values (volatile inputs such as paths left out).
    """

    param: str = "spec"

    def compute_key(
        self,
        task_ctx: TaskRunContext,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        parts = {
            "task": task_ctx.task.name,
            "policy": POLICY_VERSION,
            "work": inputs[self.param].cache_parts(),
        }
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
