#!/usr/bin/env bash
# Configure the Prefect server in PREFECT_API_URL for planflow: the `planflow` process work
# pool, the `planflow-agents` global concurrency limit, the blocks, every deployment of
# prefect.yaml, then `python -m flows.prefect_setup` (the parameter rules checked when a flow
# run is created). Safe to run again. The limit `planflow-run-{run_id}` (1 slot: one flow run
# per run id) is created by the first run of each run id (flows/run_slot.py). Settings (environment):
#   PLANFLOW_SOURCE       where workers get planflow's code (default: this checkout)
#   PLANFLOW_REPO         the repository plans run on by default (default: this checkout)
#   PLANFLOW_TZ           the nightly schedule's time zone (default: UTC)
#   PLANFLOW_AGENT_LIMIT  agents running at once across all runs (default: 4)
set -euo pipefail
cd "$(dirname "$0")/.."
: "${PREFECT_API_URL:?set PREFECT_API_URL to the server, e.g. http://127.0.0.1:4200/api}"
export PLANFLOW_SOURCE="${PLANFLOW_SOURCE:-$PWD}"
export PLANFLOW_REPO="${PLANFLOW_REPO:-$PWD}"
export PLANFLOW_TZ="${PLANFLOW_TZ:-UTC}"

prefect work-pool inspect planflow >/dev/null 2>&1 \
  || prefect work-pool create planflow --type process
prefect global-concurrency-limit inspect planflow-agents >/dev/null 2>&1 \
  || prefect global-concurrency-limit create planflow-agents --limit "${PLANFLOW_AGENT_LIMIT:-4}"
for module in blocks/*.py; do
  name=$(basename "$module" .py)
  [ "$name" = __init__ ] || prefect block register -m "blocks.$name"
done
prefect --no-prompt deploy --all
python -m flows.prefect_setup
