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
       .venv/bin/python -m pip install -q -e '.[dev]'; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "Error: installing agent-host's dependencies failed (log above, kept in $log)" >&2
  exit 1
fi
# Golem's TypeScript SDK (its prebuilt agent runtime, for tests/host/test_golem_ts.py):
# fetched once with npm into build/golem-ts/ and checked against its pinned hash. Not fatal
# here: that test fetches again and fails with the reason.
.venv/bin/python -m tests.fixtures.golem_ts >/dev/null ||
  echo "Warning: could not fetch Golem's TypeScript SDK; tests/host/test_golem_ts.py will fail" >&2
# System packages the tests need (Chromium, PostgreSQL's binaries): installed where
# missing if this runs as root or with passwordless sudo, else named (see the script).
scripts/system-deps.sh ||
  echo "Warning: system packages are missing (above); the tests that need them will fail" >&2
