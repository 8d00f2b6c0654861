"""One redaction for everything planflow writes (``planning.redaction``): which values are
secrets, the forms they are found in (base64 at every offset, both alphabets, JSON-escaped),
and the places it is applied without a run: log records of any logger, models and exceptions,
result pickles, state files, the command line's output."""

from __future__ import annotations

import base64
import json
import logging
import os
import pickle
import secrets

import pytest

from agents.config import AgentSettings
from planning.disk import write_text
from planning.redaction import (REDACTED, add_secrets, install_log_redaction, known_secrets, redact,
                                redact_bytes, scrub)
from tasks.errors import AgentFailed


def new_secret(prefix: str = "sk-") -> str:
    return prefix + secrets.token_urlsafe(24)


@pytest.mark.parametrize("name", ["OPENAI_API_KEY", "GITHUB_TOKEN", "aws_secret_access_key",
                                  "DB_PASSWORD", "my_service_passwd", "X_API_KEY_2"])
def test_environment_variables_named_like_secrets_are_secrets(monkeypatch, name):
    value = new_secret("v")
    monkeypatch.setenv(name, value)
    assert value in known_secrets()
    assert redact(f"got {value}!") == f"got {REDACTED}!"


def test_other_variables_and_short_values_are_not(monkeypatch):
    monkeypatch.setenv("PLANFLOW_SOMETHING", "visible-value-123")
    monkeypatch.setenv("SHORT_TOKEN", "abc")
    assert redact("visible-value-123 abc") == "visible-value-123 abc"


def test_an_agent_blocks_key_and_env_values_are_secrets():
    key, value = new_secret(), new_secret("env-")
    settings = AgentSettings(kind="claude", api_key=key, env={"NEUTRAL_NAME": value})
    add_secrets(settings.secret_values())
    assert redact(f"{key} and {value}") == f"{REDACTED} and {REDACTED}"


@pytest.mark.parametrize("encode", [base64.b64encode, base64.urlsafe_b64encode,
                                    lambda data: base64.b64encode(data).rstrip(b"=")])
def test_a_secret_in_base64_is_found_at_every_offset(encode):
    secret = new_secret() + "+/?~"  # characters whose base64 differs between the alphabets
    add_secrets([secret])
    for prefix in range(0, 7):
        for suffix in range(0, 4):
            blob = encode(os.urandom(prefix) + secret.encode() + os.urandom(suffix)).decode()
            assert REDACTED in redact(blob), (prefix, suffix)
    basic_auth = base64.b64encode(f"user:{secret}".encode()).decode()
    assert REDACTED in redact(f"Authorization: Basic {basic_auth}")


def test_a_json_escaped_secret_is_found():
    secret = new_secret() + '"\\q'
    add_secrets([secret])
    assert secret not in redact(json.dumps({"m": secret})) and REDACTED in redact(json.dumps({"m": secret}))


def test_scrub_reaches_models_containers_and_exceptions(tmp_path):
    secret = new_secret()
    add_secrets([secret])
    error = AgentFailed("1", f"failed with {secret}", tmp_path, "b", None, f"out {secret}")
    assert secret not in str(error) and secret not in error.output  # redacted when raised
    cleaned = scrub({"list": [secret], "tuple": (secret,), "model": AgentSettings(kind="x", model=secret),
                     "error": ValueError(f"bad {secret}")})
    assert secret not in repr(cleaned) and secret not in str(cleaned["error"])


def test_same_length_redaction_keeps_a_pickle_readable():
    from tasks.defaults import RedactingPickle

    secret = new_secret()
    add_secrets([secret])
    assert b"*" * len(secret) in redact_bytes(pickle.dumps(secret), same_length=True)
    serializer = RedactingPickle()
    loaded = serializer.loads(serializer.dumps({"message": f"x {secret} y", "n": 3}))
    assert loaded == {"message": f"x {'*' * len(secret)} y", "n": 3}


def test_every_log_record_is_redacted_whoever_logs_it(caplog):
    secret = new_secret()
    add_secrets([secret])
    install_log_redaction()
    handler_records = []

    class Keep(logging.Handler):
        def emit(self, record):
            handler_records.append(self.format(record))

    # a child logger's records propagate to "prefect" without passing its filters; a handler
    # added afterwards, and a logger outside prefect and planflow, are covered too
    logger = logging.getLogger("prefect.task_runs.some-child")
    keep = Keep()
    logging.getLogger("unrelated.ui").addHandler(keep)
    logger.addHandler(keep)
    try:
        logger.error("the key %s", secret)
        logging.getLogger("unrelated.ui").error(f"again {secret}")
        try:
            raise RuntimeError(f"boom {secret}")
        except RuntimeError:
            logger.exception("failed")
    finally:
        logger.removeHandler(keep)
        logging.getLogger("unrelated.ui").removeHandler(keep)
    assert len(handler_records) == 3
    assert not any(secret in text for text in handler_records), handler_records
    assert "the key [redacted]" in handler_records[0] and "boom [redacted]" in handler_records[2]


def test_state_files_and_command_output_are_redacted(tmp_path, capsys):
    from planflow.cli import main

    secret = new_secret()
    add_secrets([secret])
    write_text(tmp_path / "state.json", json.dumps({"warning": f"pid 7 `sleep --key {secret}`"}))
    assert secret not in (tmp_path / "state.json").read_text()
    plan = tmp_path / "plan.yaml"
    plan.write_text(f"name: p\nphases:\n  - name: one\n    tasks:\n      - {{id: '1', title: {secret}}}\n")
    main(["run", str(plan), "--dry-run", "--mermaid"])
    main(["run", str(plan), "--dry-run", "--json"])
    captured = capsys.readouterr()
    assert secret not in captured.out + captured.err
    assert REDACTED in captured.out
