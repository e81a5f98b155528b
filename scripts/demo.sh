#!/usr/bin/env bash
# The seed's human-in-the-loop approval workflow, end to end on the embedded store:
# build the Python agent, register it, start a workflow that suspends on a promise,
# then complete the promise and watch the agent resume.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/python scripts/build_examples.py approval
export AGENT_HOST_STORE=${AGENT_HOST_STORE:-$PWD/.agent-host}
ah=.venv/bin/agent-host
step() { printf '\n$ agent-host %s\n' "$*"; "$ah" "$@"; }

step component add guest_examples/approval/approval.wasm --name approval
"$ah" agent delete approval alice >/dev/null 2>&1 || true
step invoke approval alice 'start-approval()'
step agent list
idx=$("$ah" --json agent show approval alice |
      .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["pending_promises"][0]["oplog_idx"])')
step promise list
step promise complete approval alice "$idx" --json '"approved"'
step promise complete approval alice "$idx" --json '"rejected"'
step agent show approval alice
printf '\n(the data lives in %s; `agent-host oplog approval alice` shows every recorded step)\n' "$AGENT_HOST_STORE"
