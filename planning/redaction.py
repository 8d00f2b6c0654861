"""One redaction for everything planflow writes: ``redact`` (text), ``redact_bytes`` (files,
result records), ``scrub`` (models, containers, exceptions) and ``RedactFilter`` (log records).

The secrets are every value the run knows to be one:

* the values registered with ``add_secrets``: an ``AgentConfig`` block's ``api_key`` and each
  value of its ``env`` (``agents.config.AgentSettings.secret_values``), an adapter's key;
* the value of each variable of ``os.environ`` whose name holds ``KEY``, ``TOKEN``, ``SECRET``,
  ``PASSWORD`` or ``PASSWD`` (any case), read on every call, so a variable set later counts.

Values shorter than ``MIN_SECRET_CHARS`` are left alone (replacing ``1`` or ``yes`` everywhere
would garble every message). Each secret is also found in its JSON-escaped form and base64
encoded, standard or URL-safe, at any of the three offsets it can sit at in a base64 stream
(``secret_forms``): a key printed by ``base64``, inside ``user:key`` basic auth, or in a
base64 blob. ``redact`` puts ``REDACTED`` in their place; ``redact_bytes`` can keep the length
(``same_length``: ``*`` for every byte) so that a binary record (a pickle) stays readable.
"""

from __future__ import annotations

import base64
import copy
import json
import logging
import os
import re
import threading
from collections.abc import Iterable
from typing import Any, TypeVar

from pydantic import BaseModel

REDACTED = "[redacted]"
MIN_SECRET_CHARS = 6
SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD", re.IGNORECASE)
"""Names of environment variables whose values are secrets."""

T = TypeVar("T")

_registered: set[str] = set()
_lock = threading.Lock()
_compiled: dict[frozenset[str], tuple[re.Pattern[str], re.Pattern[bytes]]] = {}


def add_secrets(values: Iterable[str | None]) -> None:
    """Treat each value of ``values`` (None and short ones are skipped) as a secret from now
    on, in this process."""
    with _lock:
        _registered.update(v for v in values if v and len(v) >= MIN_SECRET_CHARS)


def known_secrets() -> frozenset[str]:
    """The registered secrets and the secret-named environment variables' values."""
    from_env = {value for name, value in os.environ.copy().items()
                if SECRET_NAME.search(name) and len(value) >= MIN_SECRET_CHARS}
    with _lock:
        return frozenset(_registered | from_env)


def secret_forms(secret: str) -> list[str]:
    """``secret`` as it can appear in text: itself, JSON-escaped, and the base64 characters
    that encode only its bytes at each offset 0, 1, 2 of a stream (standard and URL-safe
    alphabets). A form shorter than ``MIN_SECRET_CHARS`` is left out."""
    forms = {secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}
    data = secret.encode()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + data).decode()
        # character j carries bits 6j..6j+5 of the stream: keep those that hold the secret's only
        first, last = -(-8 * offset // 6), (8 * (offset + len(data))) // 6
        fragment = encoded[first:last]
        forms |= {fragment, fragment.replace("+", "-").replace("/", "_")}
    return sorted((f for f in forms if len(f) >= MIN_SECRET_CHARS), key=len, reverse=True)


def _patterns() -> tuple[re.Pattern[str], re.Pattern[bytes]] | None:
    secrets = known_secrets()
    if not secrets:
        return None
    if secrets not in _compiled:
        forms = sorted({form for secret in secrets for form in secret_forms(secret)},
                       key=len, reverse=True)
        text = re.compile("|".join(map(re.escape, forms)))
        raw = re.compile(b"|".join(re.escape(form.encode()) for form in forms))
        with _lock:
            if len(_compiled) > 64:
                _compiled.clear()
            _compiled[secrets] = (text, raw)
    return _compiled[secrets]


def redact(text: str) -> str:
    """``text`` with every form of every known secret replaced by ``REDACTED``."""
    patterns = _patterns()
    if patterns is None or not text:
        return text
    return patterns[0].sub(REDACTED, text)


def redact_bytes(data: bytes, same_length: bool = False) -> bytes:
    """``data`` with every form of every known secret replaced by ``REDACTED`` (with
    ``same_length``: by as many ``*`` as the form has bytes, so offsets and length prefixes
    in a binary format stay valid)."""
    patterns = _patterns()
    if patterns is None or not data:
        return data
    if same_length:
        return patterns[1].sub(lambda match: b"*" * len(match.group()), data)
    return patterns[1].sub(REDACTED.encode(), data)


def redact_file(path: os.PathLike[str] | str) -> bool:
    """Redact the file at ``path`` in place; True when it held a secret. Missing or unreadable
    files are left alone."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        return False
    cleaned = redact_bytes(data)
    if cleaned == data:
        return False
    with open(path, "wb") as handle:
        handle.write(cleaned)
    return True


def scrub(value: T) -> T:
    """A copy of ``value`` with every string in it redacted: strings, lists, tuples, sets, dicts
    (keys and values), pydantic models (their fields) and exceptions (their ``args`` and
    attributes); anything else (a named tuple too) is returned as it is."""
    if _patterns() is None:
        return value
    return _scrub(value, 0)


def _scrub(value: Any, depth: int) -> Any:
    if depth > 20:
        return value
    if isinstance(value, str):
        return redact(value)
    if type(value) in (list, tuple, set, frozenset):
        return type(value)(_scrub(item, depth + 1) for item in value)
    if isinstance(value, dict):
        return {_scrub(k, depth + 1): _scrub(v, depth + 1) for k, v in value.items()}
    if isinstance(value, BaseModel):
        updates = {name: _scrub(getattr(value, name), depth + 1) for name in type(value).model_fields}
        return value.model_copy(update=updates)
    if isinstance(value, BaseException):
        clean = copy.copy(value)
        clean.args = tuple(_scrub(arg, depth + 1) for arg in value.args)
        for name, attribute in vars(value).items():
            setattr(clean, name, _scrub(attribute, depth + 1))
        return clean
    return value


class RedactFilter(logging.Filter):
    """A logging filter that redacts a record in place (its formatted message, and the
    traceback text when it has one); it never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _patterns() is None:
            return True
        message = record.getMessage()
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_FILTER = RedactFilter()
_installed = False


def install_log_redaction(logger_names: Iterable[str] = ("prefect", "planflow")) -> None:
    """Redact every log record of this process, whoever logs it: ``RedactFilter`` on the
    loggers ``logger_names`` and their handlers, and, since a logger's filters do not see the
    records its children propagate to it, in the record factory too (every record of every
    logger, including handlers added later, such as Prefect's API log handler). Idempotent."""
    global _installed
    for name in logger_names:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
        for handler in logger.handlers:
            if _FILTER not in handler.filters:
                handler.addFilter(_FILTER)
    with _lock:
        if _installed:
            return
        _installed = True
        make_record = logging.getLogRecordFactory()

        def redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = make_record(*args, **kwargs)
            _FILTER.filter(record)
            return record

        logging.setLogRecordFactory(redacting_factory)
