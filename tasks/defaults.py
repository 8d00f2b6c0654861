"""The house defaults of every planflow Prefect task: cache policy, result storage and its
serializer, retries, and the redaction of logs.

Caching is the resume mechanism (architecture promise 3). Prefect's ``DEFAULT`` policy puts
the flow-run id in the key and so never hits across runs; ``WorkKeyPolicy`` keys a task run
on what defines its work instead (the task's name, a policy version, and the ``key_parts``
its input model declares), and results are persisted as files, so a second process running
the same plan finds them. ``RedactingPickle`` writes them with every known secret masked.
With ``$PLANFLOW_RESULT_STORAGE`` (a saved storage block) results go there instead, and with
``$PLANFLOW_REDIS_URL`` the cache's transactions take a lock in Redis (``tasks.shared_cache``):
workers on several machines share the cache.

Importing this module (every process that runs a planflow task or flow does) installs the
log redaction (``planning.redaction.install_log_redaction``) on Prefect's and planflow's
loggers.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect.cache_policies import CachePolicy
from prefect.context import TaskRunContext
from prefect.serializers import PickleSerializer
from prefect.settings import get_current_settings
from pydantic import Field

from planning.redaction import install_log_redaction, redact_bytes
from tasks.shared_cache import shared_lock_manager, shared_result_storage

install_log_redaction()

POLICY_VERSION = "1"
"""Bump to invalidate every cached task result (a change in what a task does)."""

DEFAULT_RETRIES = 2
DEFAULT_RETRY_DELAY_S = 10.0
"""First retry delay in seconds; each later retry doubles it (exponential backoff)."""


def result_storage() -> Path | str:
    """Where task results (the cache records) are written: the storage block named by
    ``$PLANFLOW_RESULT_STORAGE`` (its slug, ``tasks.shared_cache``) when set, else
    ``$PLANFLOW_RESULTS_DIR`` when set, else Prefect's local storage path
    (``$PREFECT_HOME/storage``). A folder is a ``Path``, because Prefect reads a ``str`` as a
    block slug."""
    shared = shared_result_storage()
    if shared is not None:
        return shared
    configured = os.environ.get("PLANFLOW_RESULTS_DIR")
    if configured:
        return Path(configured)
    return Path(get_current_settings().results.local_storage_path)


class RedactingPickle(PickleSerializer):
    """Prefect's pickle serializer, with every form of every known secret in the pickle masked
    by as many ``*`` (the pickle stays valid: no length changes). Its ``type`` is recorded in
    each result file, so reading one needs this module imported."""

    type: str = Field(default="planflow-redacting-pickle", frozen=True)

    def dumps(self, obj: Any) -> bytes:
        """The redacted pickle of ``obj``, base64 encoded as Prefect's own."""
        pickled = base64.decodebytes(super().dumps(obj))
        return base64.encodebytes(redact_bytes(pickled, same_length=True))


def result_serializer() -> RedactingPickle:
    """The serializer of every persisted planflow result."""
    return RedactingPickle()


@dataclass
class WorkKeyPolicy(CachePolicy):
    """Cache key = sha256 of the task's name, ``POLICY_VERSION`` and ``inputs[param].cache_parts()``.

    ``param`` names the task's input model; it must have a ``cache_parts() -> dict`` method
    returning JSON-serializable values (volatile inputs such as paths left out). With a shared
    lock manager (``tasks.shared_cache``) the cache transaction is ``SERIALIZABLE``: one worker
    computes a key while the others wait for its result.
    """

    param: str = "spec"

    def __post_init__(self) -> None:
        manager = shared_lock_manager()
        if manager is not None and self.lock_manager is None:
            self.lock_manager, self.isolation_level = manager, "SERIALIZABLE"

    def compute_key(
        self,
        task_ctx: TaskRunContext,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        return work_key(task_ctx.task.name, inputs[self.param].cache_parts())


def work_key(task_name: str, work: dict[str, Any]) -> str:
    """The cache key of task ``task_name`` on the work ``work`` (``cache_parts()``): sha256
    hex of both and ``POLICY_VERSION``."""
    parts = {"task": task_name, "policy": POLICY_VERSION, "work": work}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
