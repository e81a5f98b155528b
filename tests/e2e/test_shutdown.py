"""SIGTERM stops a spinning guest within seconds and leaves it resumable (issue 10, F16).

Before the fix, shutdown waited for the guest's deadline (300 s by default) because the
pool's threads were joined while wasm kept running. Now shutdown advances the engine's
epoch past every deadline: the guest is interrupted, its invocation is not failed (no
``invocation-failed`` entry), the agent stays ``running`` in the store, and the next
start replays and continues it.
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.fixtures.build import build_fixture
from tests.server_util import CLEAN_EXIT, Api, Server, add_component, cli, wait_until


def test_sigterm_interrupts_a_spinning_guest_and_leaves_it_resumable(tmp_path: Path) -> None:
    store = tmp_path / "store"
    cid = add_component(store, build_fixture("hostile"), "hostile")
    server = Server(store).start()
    api = Api(server.client(), cid)
    queued = api.invoke("spinner", "spin")
    assert queued.status_code == 202, queued.text
    api.wait_status("spinner", "Running", timeout=30)
    time.sleep(0.5)  # the guest is inside its loop now

    started = time.monotonic()
    rc = server.stop(timeout=60)
    stopped_in = time.monotonic() - started
    assert rc in CLEAN_EXIT, server.output()
    assert stopped_in < 20, f"shutdown took {stopped_in:.1f} s"  # the deadline is 300 s
    assert "Traceback" not in server.output(), server.output()

    shown = cli(store, "--json", "agent", "show", "hostile", "spinner")
    assert shown.returncode == 0, shown.stderr
    assert '"status": "running"' in shown.stdout  # not failed: it resumes on the next start
    log = cli(store, "--json", "oplog", "hostile", "spinner")
    assert "invocation-failed" not in log.stdout and "invocation-started" in log.stdout

    # The next start replays and continues it; with a short deadline it then fails on
    # its own terms, which shows the invocation really ran again.
    assert cli(store, "limits", "set", "hostile", "spinner", "--deadline", "2").returncode == 0
    server.start()
    try:
        api = Api(server.client(), cid)
        meta = wait_until(
            lambda: (m := api.worker("spinner"))["status"] == "Failed" and m, timeout=60
        )
        assert "time limit of 2 s" in str(meta["lastError"])
    finally:
        server.stop()
    print(f"\nSIGTERM with a spinning guest: the server exited in {stopped_in:.2f} s")
