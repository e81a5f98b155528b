#!/usr/bin/env python3
"""What a worker's metadata costs to read from a long oplog, printed, never asserted.

An agent of the ``ticker`` fixture records ``--entries`` stdout writes (each an oplog
entry), on a fresh SQLite store. Printed, best of ``--rounds``:

- ``updates`` (the update records of GET .../workers/{name}): the service reads only the
  update entries (Store.read_oplog_kinds);
- beside it, the baseline measured in the same run: ``exportedResourceInstances`` of
  the same GET, which reads and decodes the whole oplog, as ``updates`` first did.

    PYTHONPATH=. .venv/bin/python scripts/bench_worker_metadata.py [--entries 10000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from host.service import HostService
from tests.fixtures.build import build_fixture


def _best(rounds: int, call: Callable[[], Any]) -> float:
    best = float("inf")
    for _ in range(rounds):
        began = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - began)
    return best * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        host = HostService(Path(tmp))
        try:
            host.add_component(build_fixture("ticker"), "ticker")
            agent, _ = host.create_agent("ticker", "t")
            left = args.entries
            while left > 0:  # one invocation records n writes (+ start and finish)
                n = min(left, 2000)
                host.invoke(agent, f"tick({n}, 0)")
                left -= n
            length = host.store.oplog_length(agent)
            updates = _best(args.rounds, lambda: host.update_records(agent))
            whole = _best(args.rounds, lambda: host.owned_resources(agent))
        finally:
            host.close()
    print(f"oplog entries: {length}")
    print(f"updates (update entries only):               {updates:8.1f} ms")
    print(f"baseline, exportedResourceInstances (whole): {whole:8.1f} ms")


if __name__ == "__main__":
    main()
