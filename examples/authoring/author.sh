#!/bin/sh
# A stand-in for a coding agent in the README's walkthrough of `planflow spec`, `plan` and
# `ship`, so that it runs without a model: planflow's shell agent runs it in the step's
# worktree with PLANFLOW_TASK_ID (`spec` or `plan`), PLANFLOW_ATTEMPT and PLANFLOW_TASK_FILES
# (the document to write), and it writes a prepared document. Its first plan is too coarse
# (one XL task), as a model's first plan sometimes is, so planflow sends it back once.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
case "$PLANFLOW_TASK_ID" in
  spec) cp "$here/spec.md" "$PLANFLOW_TASK_FILES" ;;
  plan) if [ "$PLANFLOW_ATTEMPT" = 1 ]; then
          sed 's/^\*\*Complexity\*\*: M (2h)$/**Complexity**: XL/' "$here/../textkit/plan.md" > "$PLANFLOW_TASK_FILES"
        else
          cp "$here/../textkit/plan.md" "$PLANFLOW_TASK_FILES"
        fi ;;
  *) echo "author.sh writes only the spec and the plan, not task $PLANFLOW_TASK_ID" >&2; exit 1 ;;
esac
echo "wrote $PLANFLOW_TASK_FILES"
