"""Recovery time of an agent with many invocations, with and without snapshots.

Runs N invocations of the snapshots-1 fixture's ``add`` on a fresh store twice (once with
no snapshots, once with a snapshot every K invocations), then opens each store in a new
HostService (a restarted host: no kept instance) and times the first call, which replays
the oplog: from the start, or from the latest snapshot. Prints both figures.

    .venv/bin/python scripts/snapshot_recovery.py [N] [K]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from host.agents.agenttypes import Snapshotting  # noqa: E402
from host.service import HostService  # noqa: E402
from tests.fixtures.build import build_fixture  # noqa: E402


def recovery_seconds(data: Path, n: int, every: int | None) -> float:
    host = HostService(data)
    if every is not None:
        host.executor.default_snapshotting = Snapshotting("every-n-invocation", every)
    host.add_component(build_fixture("snapshots-1"), name="snap")
    agent, _ = host.create_agent("snap", "a1")
    for _ in range(n):
        host.invoke(agent, "add(1)")
    host.close()
    host = HostService(data)
    start = time.perf_counter()
    inv = host.invoke(agent, "total()")
    took = time.perf_counter() - start
    result = host.store.get_invocation(inv.invocation_id).result
    host.close()
    assert result == str(n), result
    return took


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    k = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    with tempfile.TemporaryDirectory() as tmp:
        plain = recovery_seconds(Path(tmp) / "plain", n, None)
        snap = recovery_seconds(Path(tmp) / "snap", n, k)
    print(f"{n} invocations, recovery without snapshots: {plain * 1000:.1f} ms")
    print(f"{n} invocations, recovery with a snapshot every {k}: {snap * 1000:.1f} ms")


if __name__ == "__main__":
    main()
