"""A known secret in the agent configuration (an ``AgentConfig`` block's API key) reaches the
agent that needs it and nothing else: after a run with a succeeding and a failing agent that
both print the key, it is in no log, status file, agent home, stderr, artifact, Prefect log,
task or flow run state message (the exceptions), result file, nor in the process list or the
environment of another agent running at the same time."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest

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
    assert (ctl / "got-key").exists() and str(good) in (ctl / "ps.txt").read_text()  # listed while it ran
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


def prefect_records(run_id: str) -> dict[str, str]:
    """What the Prefect API holds about run ``run_id`` (its artifacts, keyed by the run id,
    and the flow runs named after it and holding them): {what: text} of the artifacts, the
    flow and task runs' state messages, and their logs."""
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
    assert artifacts and len(flow_runs) >= 2 and task_runs and logs
    records = {f"artifact {a.key}": f"{a.description} {json.dumps(a.data)}" for a in artifacts}
    records |= {f"flow run {run.name} state": str(run.state.message) for run in flow_runs}
    records |= {f"task run {run.name} state": str(run.state.message) for run in task_runs}
    records["Prefect logs"] = "\n".join(log.message for log in logs)
    return records
