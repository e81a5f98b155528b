#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# Parallel workers (pytest-xdist): AGENT_HOST_TEST_WORKERS, 3 by default (more than these
# 2-core machines' cores: most tests wait on guests, servers and subprocesses); 0 runs the
# suite in this one process. Each worker has its own temporary directories, ports and,
# for the PostgreSQL tests, its own server.
workers="${AGENT_HOST_TEST_WORKERS:-3}"
parallel=()
if [ "$workers" != "0" ]; then
  parallel=(-n "$workers" --dist worksteal)
fi
set +e
.venv/bin/python -m pytest "${parallel[@]}" "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "Error: pytest collected no tests; treating that as a failure" >&2
  exit 1
fi
exit "$rc"
