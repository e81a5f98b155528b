"""Retry policy and failed agents through the front ends (issue 11, item 2): a guest
trap is retried with the agent's policy (set with set-retry-policy), the agent is
``Retrying`` in between with ``retryCount`` rising, then ``Failed``; its error, and that of
a later call to it (which fails at once), ends with the tail of what the guest wrote to
stderr. Through REST (a real server, restarted between two attempts) and the CLI (each
step a separate process, so the retries run in processes that did not run the failed
attempt: the tail comes from the log, host/runtime/run_failures.py).

The guest is the WAT fixture ``flaky`` (golem:api/host@1.3.0): ``shout-and-boom`` writes
``flaky: about to fail`` to stderr and traps; ``ok`` answers 7."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.fixtures.build import build_fixture
from tests.server_util import Api, Server, add_component, cli, wait_until

TAIL = "stderr:\nflaky: about to fail"
MS = 1_000_000


def test_rest_retrying_then_failed_with_the_stderr_tail(tmp_path: Path) -> None:
    store = tmp_path / "store"
    cid = add_component(store, build_fixture("flaky"), "flaky")
    server = Server(store).start()
    try:
        api = Api(server.client(), cid)
        # Two retries, 1.5 s apart: long enough to see Retrying and restart in between.
        policy = api.invoke_and_await("f", "set-policy", [2, 1500 * MS, 1500 * MS, 1.0])
        assert policy.status_code == 200, policy.text
        started = api.invoke("f", "shout-and-boom")
        assert started.status_code == 202, started.text
        retrying = api.wait_status("f", "Retrying")
        assert retrying["retryCount"] == 1, retrying
        assert retrying["lastError"].endswith(TAIL), retrying["lastError"]

        # The next attempts run in a new server process, which never saw the guest write.
        server.restart()
        api = Api(server.client(), cid)
        failed = api.wait_status("f", "Failed", timeout=30)
        assert failed["retryCount"] == 2, failed
        assert failed["lastError"].startswith("the guest trapped"), failed["lastError"]
        assert failed["lastError"].endswith(TAIL), failed["lastError"]
        assert failed["lastError"].count("flaky: about to fail") == 1

        # The invocation's own result, and a later call: it fails at once (422), the
        # error ending with the tail; nothing is queued.
        url = api.path("f", "/invocations/" + started.json()["invocationId"])
        result = api.http.get(url, params={"wait": 10})
        assert result.status_code == 422, result.text
        assert result.json()["error"]["message"].endswith(TAIL), result.text
        later = api.invoke_and_await("f", "ok")
        assert later.status_code == 422, later.text
        assert TAIL in later.json()["error"]["message"], later.text
        assert api.worker("f")["pendingInvocationCount"] == 0
        assert "Traceback" not in server.output()
    finally:
        server.stop()


def _show(store: Path) -> dict[str, Any]:
    shown = cli(store, "agent", "show", "flaky", "f", "--json")
    assert shown.returncode == 0, shown.stderr
    return dict(json.loads(shown.stdout))


def test_cli_retrying_then_failed_with_the_stderr_tail(tmp_path: Path) -> None:
    store = tmp_path / "store"
    add_component(store, build_fixture("flaky"), "flaky")
    # Two retries, 2 s apart: the first process has long exited when the retry is due (with
    # a shorter delay a slow process may find it due before it exits and run it itself).
    policy = "set-policy(2, 2000000000, 2000000000, 1.0)"
    assert cli(store, "invoke", "flaky", "f", policy).returncode == 0

    first = cli(store, "invoke", "flaky", "f", "shout-and-boom()")
    assert first.returncode == 0, first.stderr
    assert "retrying (retry 1)" in first.stdout and first.stdout.rstrip().endswith(TAIL)
    shown = _show(store)
    assert shown["status"] == "retrying" and shown["retry_count"] == 1, shown

    # `worker --once` (a process of its own each time) runs the due retries.
    def settled() -> dict[str, Any] | None:
        ran = cli(store, "worker", "--once")
        assert ran.returncode == 0 and "Traceback" not in ran.stderr, ran.stderr
        now = _show(store)
        return now if now["status"] == "failed" else None

    failed = wait_until(settled, timeout=90, interval=0.2, what="the agent to fail")
    assert failed["retry_count"] == 2, failed
    assert failed["last_error"].endswith(TAIL), failed["last_error"]

    later = cli(store, "invoke", "flaky", "f", "ok()")
    assert later.returncode == 3, (later.returncode, later.stdout)
    assert "Traceback" not in later.stderr
    assert "failed: the guest trapped" in later.stderr and "flaky: about to fail" in later.stderr
    assert _show(store)["invocations"] == []  # nothing was queued
