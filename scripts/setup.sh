#!/usr/bin/env bash
# Create .venv (Python 3.11) and install agent-host with everything its tests and
# examples need, from the pins in pyproject.toml. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
"$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), "agent-host needs Python 3.11"' || {
  echo "Error: agent-host needs Python 3.11 (set PYTHON=/path/to/python3.11)" >&2; exit 2; }
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
# pip's output goes to a log, shown only if the install fails (setuptools is chatty).
log=.venv/setup.log
if ! { .venv/bin/python -m pip install -q --upgrade pip &&
       .venv/bin/python -m pip install -q -e '.[dev,server]'; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "Error: installing agent-host's dependencies failed (log above, kept in $log)" >&2
  exit 1
fi
