#!/usr/bin/env bash
# The seed's human-in-the-loop approval workflow, end to end on the embedded store:
# build the Python agent (guest_examples/approval, a code-first WorkflowAgent), register
# it, start a workflow that suspends on a promise, then complete the promise and watch
# the agent resume.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/python scripts/build_examples.py approval
export AGENT_HOST_STORE=${AGENT_HOST_STORE:-$PWD/.agent-host}
ah=.venv/bin/agent-host
alice='WorkflowAgent("alice")'
step() {
  local shown=() a
  for a in "$@"; do [[ $a =~ [^A-Za-z0-9_./-] ]] && shown+=("'$a'") || shown+=("$a"); done
  printf '\n$ agent-host %s\n' "${shown[*]}"
  "$ah" "$@"
}

step component add guest_examples/approval/approval.wasm --name approval
step component show approval
"$ah" agent delete approval "$alice" >/dev/null 2>&1 || true
step invoke approval "$alice" start_approval
idx=$("$ah" --json agent show approval "$alice" |
      .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["pending_promises"][0]["oplog_idx"])')
step promise list
step promise complete approval "$alice" "$idx" --json '"approved"'
step invoke approval "$alice" status
step promise complete approval "$alice" "$idx" --json '"rejected"'
step agent show approval "$alice"
printf '\n(the data lives in %s; `agent-host oplog approval '\''%s'\''` shows every recorded step)\n' \
  "$AGENT_HOST_STORE" "$alice"
