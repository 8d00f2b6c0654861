#!/usr/bin/env bash
# The main job on the bundled example: copy the sample repository to a temp dir, run the
# textkit plan with the shell agent, then show the status JSON and the stack. The temp dir is
# removed at the end (PLANFLOW_DEMO_KEEP=1 keeps it). Without PREFECT_API_URL the run uses
# planflow's local Prefect server, started in the background the first time (its UI address is
# printed; `planflow server stop` stops it).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/planflow-demo.XXXXXX")
if [ "${PLANFLOW_DEMO_KEEP:-0}" != 1 ]; then trap 'rm -rf "$work"' EXIT; fi
cp -R "$here/sample-repo" "$work/repo"
cd "$work/repo"
git init -q -b main
git add -A
git -c user.name="planflow demo" -c user.email=demo@planflow.invalid commit -qm "textkit: initial sample repository"

echo "== planflow run (repository: $work/repo)" >&2
planflow run "$here/textkit/plan.md" --repo . --agent shell --max-parallel 4 | tee "$work/status.json"

tip=$(python -c 'import json,sys; print(json.load(open(sys.argv[1]))["stack"][-1])' "$work/status.json")
echo "== git log --graph --oneline $tip" >&2
git log --graph --oneline "$tip"
echo "== the user's checkout is untouched:" >&2
git status --short --branch
