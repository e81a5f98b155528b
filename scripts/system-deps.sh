#!/usr/bin/env bash
# The system packages the tests need beside Python's, installed only where missing:
# - chromium: Debian's browser, driven by the console's tests (tests/e2e/test_console.py);
#   the Playwright wheel brings only its driver, never a browser download.
# - postgresql: the server binaries (initdb, postgres) the PostgreSQL store's tests start
#   themselves (tests/fixtures/postgres.py).
# With apt-get as root or through passwordless sudo (or $SUDO); otherwise it names the
# packages to install and exits 1. `--check` only reports. Called by scripts/setup.sh
# (which goes on with a warning) and .ci/run (which stops). AGENT_HOST_SKIP_SYSTEM_DEPS=1
# skips it.
set -euo pipefail
check_only=${1:-}
[ "${AGENT_HOST_SKIP_SYSTEM_DEPS:-}" = 1 ] && exit 0

missing=()
[ -x "${AGENT_HOST_CHROMIUM:-/usr/bin/chromium}" ] || missing+=(chromium)
if ! command -v "${AGENT_HOST_INITDB:-initdb}" >/dev/null 2>&1 &&
   ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  missing+=(postgresql)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

how="apt-get install -y ${missing[*]}"
if [ "$check_only" = --check ]; then
  echo "Missing system packages: ${missing[*]} (install them: $how)" >&2
  exit 1
fi
if [ -n "${SUDO:-}" ]; then
  as_root=("$SUDO")
elif [ "$(id -u)" = 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "Missing system packages: ${missing[*]}. Not root and no passwordless sudo:" \
       "install them yourself ($how as root)." >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "Missing system packages: ${missing[*]}, and this is not a Debian-like system:" \
       "install them with its package manager." >&2
  exit 1
fi
echo "Installing missing system packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# A clean machine may have no package lists yet: fetch them once if the install fails.
"${as_root[@]}" apt-get install -y "${missing[@]}" ||
  { "${as_root[@]}" apt-get update && "${as_root[@]}" apt-get install -y "${missing[@]}"; } || {
  echo "Error: could not install ${missing[*]} ($how failed)" >&2; exit 1; }
