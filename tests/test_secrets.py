"""A known secret in the agent configuration (an ``AgentConfig`` block's API key) reaches the
agent that needs it and nothing else: after a run with a succeeding and a failing agent that
both print the key, it is in no log, status file, agent home, stderr, artifact, Prefect log,
task or flow run state message (the exceptions), result file, nor in the process list or the
environment of another agent running at the same time. Every secret the run knows (the
block's key and ``env`` values, planflow's variables named like secrets), plain or in base64,
on a leftover process's command line or in any output, is in none of those nor in Prefect's
database (events, logs, artifacts, states)."""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from pathlib import Path

import pytest

from agents.contain import containment
from blocks.agent_config import AgentConfig
from runs import make_repo, run_cli, write_plan

pytestmark = pytest.mark.usefixtures("prefect_api")

RESULT = json.dumps({"type": "result", "subtype": "success", "is_error": False, "result": "ok",
                     "num_turns": 1, "total_cost_usd": 0.01, "session_id": "s",
                     "usage": {"input_tokens": 10, "output_tokens": 5}})

WAIT_FOR = 'for i in $(seq 2400); do [ -e "{path}" ] && break; sleep 0.05; done'
"""Shell: wait (at most 120 s) until ``path`` exists: a handshake between two agents."""


def fake_cli(path: Path, body: str) -> Path:
    path.write_text("#!/bin/bash\n" + body)
    path.chmod(0o755)
    return path


def test_the_agent_key_leaks_nowhere(tmp_path, capsys):
    secret = f"sk-planflow-{uuid.uuid4().hex}"
    repo, ctl = make_repo(tmp_path / "repo"), tmp_path / "ctl"
    ctl.mkdir()
    # a CLI that gets the key, writes it to its home, prints it, and waits while the other agent
    # takes the process list; a second CLI that prints the key in its error and fails
    good = fake_cli(tmp_path / "good", f"""\
[ "$ANTHROPIC_API_KEY" = "{secret}" ] && touch "{ctl}/got-key"
mkdir -p "$HOME/.config" && echo "key=$ANTHROPIC_API_KEY" > "$HOME/.config/session.json"
echo "using key $ANTHROPIC_API_KEY"
touch "{ctl}/running"
{WAIT_FOR.format(path=ctl / "listed")}
echo hi > hi.txt
echo '{RESULT}'
""")
    bad = fake_cli(tmp_path / "bad", 'echo "error: 401 invalid x-api-key $ANTHROPIC_API_KEY" >&2; exit 1\n')
    AgentConfig(kind="claude", executable=str(good), api_key=secret).save("secret-good", overwrite=True)
    AgentConfig(kind="claude", executable=str(bad), api_key=secret).save("secret-bad", overwrite=True)
    lister = (f'{WAIT_FOR.format(path=ctl / "running")}; ps -eww -o args > "{ctl}/ps.txt";'
              f' env > "{ctl}/env.txt"; touch "{ctl}/listed"; echo b > b.txt')
    plan = write_plan(tmp_path / "plan.yaml", f"""\
        name: secrets
        run_id: 5ec8e7
        phases:
          - name: one
            strategy: parallel
            tasks:
              - {{id: "1", title: uses the key, agent: secret-good}}
              - {{id: "2", title: lists processes, files: [b.txt], run: '{lister}'}}
              - {{id: "3", title: fails with the key, agent: secret-bad}}
        """)

    code, status, err = run_cli(capsys, str(plan), "--repo", str(repo), "--retries", "0",
                                "--max-parallel", "3")

    assert code == 1, err
    assert [t["state"] for t in status["tasks"]] == ["done", "done", "failed"], err
    assert "401 invalid x-api-key [redacted]" in status["tasks"][2]["error"]
    assert (ctl / "got-key").exists()
    # agent 2 listed the processes while agent 1 ran: in a PID namespace of its own it sees none
    assert (str(good) in (ctl / "ps.txt").read_text()) == (containment()[0] == "reaper")
    places = {"stderr": err, "status JSON": json.dumps(status),
              "process list seen by agent 2": (ctl / "ps.txt").read_text(),
              "environment of agent 2": (ctl / "env.txt").read_text()}
    places |= {str(path): path.read_bytes().decode(errors="replace")
               for root in (repo / ".git" / "planflow", Path(os.environ["PLANFLOW_RESULTS_DIR"]))
               for path in root.rglob("*") if path.is_file()}
    assert any(path.endswith("session.json") for path in places)  # the agent home was scanned
    assert any("using key [redacted]" in text for text in places.values())  # and its log
    places |= prefect_records("5ec8e7")
    leaks = sorted(where for where, text in places.items() if secret in text)
    assert leaks == [], f"the API key leaked into {leaks}"


def test_every_secret_the_run_knows_leaks_nowhere(tmp_path, capsys, monkeypatch):
    """The block's key and an ``env`` value on the command line of a daemon the agent leaves
    (the leftover warning), in base64 (standard with ``user:``, URL-safe) in its output; a
    variable of planflow's environment named like a secret in a quality gate's output."""
    key, value, variable, canary = (f"sk-{uuid.uuid4().hex}", f"v-{uuid.uuid4().hex}",
                                    f"pw-{uuid.uuid4().hex}", f"canary{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv("PLANFLOW_TEST_DEPLOY_PASSWORD", variable)
    repo, ctl = make_repo(tmp_path / "repo"), tmp_path / "ctl"
    ctl.mkdir()
    (ctl / "variable.txt").write_text(variable)
    leaker = fake_cli(tmp_path / "leaker", f"""\
(setsid env -i bash -c 'sleep 300; : {canary}' "--key=$ANTHROPIC_API_KEY" "--auth=$SERVICE_AUTH" > /dev/null 2>&1 &)
sleep 0.5
echo "basic $(printf 'user:%s' "$ANTHROPIC_API_KEY" | base64 -w0)"
echo "urlsafe $(printf '%s' "$SERVICE_AUTH" | base64 -w0 | tr '+/' '-_')"
echo hi > hi.txt
echo '{RESULT}'
""")
    AgentConfig(kind="claude", executable=str(leaker), api_key=key,
                env={"SERVICE_AUTH": value}).save("secret-leaker", overwrite=True)
    plan = write_plan(tmp_path / "plan.yaml", f"""\
        name: leftovers
        run_id: 5ec8e8
        phases:
          - name: one
            tasks:
              - id: "1"
                title: leaves a daemon with the keys on its command line
                agent: secret-leaker
                files: [hi.txt]
                verify: ['echo "{canary} gate sees $(cat {ctl}/variable.txt)"']
        """)

    code, status, err = run_cli(capsys, str(plan), "--repo", str(repo), "--retries", "0")

    assert code == 0, err
    warnings = " ".join(status["tasks"][0]["warnings"])
    assert "process(es) running (killed)" in warnings and canary in warnings, warnings
    assert "--key=[redacted]" in warnings
    places = {"stderr": err, "status JSON": json.dumps(status)}
    places |= {str(path): path.read_bytes().decode(errors="replace")
               for path in (repo / ".git" / "planflow").rglob("*") if path.is_file()}
    places |= result_records(Path(os.environ["PLANFLOW_RESULTS_DIR"]))
    places |= prefect_records("5ec8e8", logged=False)
    places |= prefect_database(canary)
    assert any(f"{canary} gate sees [redacted]" in text for text in places.values())
    forms = {"key": key, "env value": value, "variable": variable}
    forms |= {"key in base64": base64.b64encode(f"user:{key}".encode()).decode()[8:-8],
              "env value in url-safe base64": base64.urlsafe_b64encode(value.encode()).decode()[:-4]}
    leaks = sorted(f"{what} in {where}" for where, text in places.items()
                   for what, secret in forms.items() if secret in text)
    assert leaks == [], leaks


def result_records(folder: Path) -> dict[str, str]:
    """{path: text} of every result file under ``folder``, with each base64 pickle in it decoded
    (a secret inside a pickle is not visible in the file's own text)."""
    records = {}
    for path in folder.rglob("*"):
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        try:
            pickled = base64.decodebytes(json.loads(text).get("result", "").encode())
        except (ValueError, AttributeError):
            pickled = b""
        records[str(path)] = text + pickled.decode(errors="replace")
    return records


def prefect_database(canary: str, within_s: float = 30.0) -> dict[str, str]:
    """The raw bytes of the test server's SQLite database (events, logs, artifacts, states),
    read once ``canary`` shows in them (events are written in batches), at most ``within_s``
    seconds."""
    from prefect.events.worker import EventsWorker
    from prefect.settings import PREFECT_SERVER_DATABASE_CONNECTION_URL

    EventsWorker.drain_all(timeout=10)
    database = Path(PREFECT_SERVER_DATABASE_CONNECTION_URL.value().split("///", 1)[1])
    deadline = time.monotonic() + within_s
    while True:
        text = b"".join(path.read_bytes() for path in database.parent.glob(database.name + "*"))
        if canary.encode() in text or time.monotonic() > deadline:
            return {f"Prefect database {database.name}": text.decode(errors="replace")}
        time.sleep(1)


def prefect_records(run_id: str, logged: bool = True) -> dict[str, str]:
    """What the Prefect API holds about run ``run_id`` (its artifacts, keyed by the run id,
    and the flow runs named after it and holding them): {what: text} of the artifacts, the
    flow and task runs' state messages, and their logs (``logged``: there must be some)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (ArtifactFilter, ArtifactFilterKey, FlowRunFilter,
                                                FlowRunFilterId, FlowRunFilterName, LogFilter,
                                                LogFilterFlowRunId)
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=10)
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(like_=run_id)))
        named = client.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(like_=run_id)))
        ids = list({artifact.flow_run_id for artifact in artifacts} | {run.id for run in named})
        flow_runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)))
        task_runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)))
        logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=ids)))
    assert artifacts and len(flow_runs) >= 2 and task_runs and (logs or not logged)
    records = {f"artifact {a.key}": f"{a.description} {json.dumps(a.data)}" for a in artifacts}
    records |= {f"flow run {run.name} state": str(run.state.message) for run in flow_runs}
    records |= {f"task run {run.name} state": str(run.state.message) for run in task_runs}
    records["Prefect logs"] = "\n".join(log.message for log in logs)
    return records
