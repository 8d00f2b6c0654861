#!/usr/bin/env bash
# `make serve`: planflow on one machine. Starts `prefect server start` (SQLite under
# PREFECT_HOME), configures it (scripts/deploy.sh), then runs a worker of the `planflow` pool
# in the foreground. Ctrl-C stops the worker and the server. PORT defaults to 4200.
set -euo pipefail
cd "$(dirname "$0")/.."
port="${PORT:-4200}"
export PREFECT_API_URL="http://127.0.0.1:$port/api"
export PREFECT_SERVER_ANALYTICS_ENABLED=false
mkdir -p .planflow
prefect server start --host 127.0.0.1 --port "$port" > .planflow/server.log 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
  curl -fs "$PREFECT_API_URL/health" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { cat .planflow/server.log; exit 1; }
  sleep 1
done
echo "Prefect server: http://127.0.0.1:$port (log: .planflow/server.log)" >&2
scripts/deploy.sh
prefect worker start --pool planflow
