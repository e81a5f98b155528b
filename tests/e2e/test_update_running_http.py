"""An automatic update of an agent running an invocation, over REST, as Golem performs
it (issue 11, item 6): the request is recorded, the invocation interrupted and the agent
restarted at once; the invocation goes on on the new version. Guest: the hand-written
`ticker` (version 0, the first upload, as Golem numbers them) and `ticker-v3` (its tick
returns n + 1000)."""

from __future__ import annotations

from pathlib import Path

from tests.fixtures.build import build_fixture
from tests.running_update import (
    result_of,
    start_tick,
    start_tick_then_upload,
    ticker_server,
    upload,
)
from tests.server_util import add_component, wait_until


def test_rest_automatic_update_restarts_the_running_invocation_on_the_new_version(
    tmp_path: Path,
) -> None:
    with ticker_server(tmp_path) as (store, client, api):
        # No earlier tick: its recorded result (n) would not replay on ticker-v3
        # (n + 1000), and the update would fail (the next test).
        # Seconds of work on version 0 (its tick returns n): the agent is created on
        # the latest version, so version 1 is uploaded only once it runs.
        result_url = start_tick_then_upload(api, client, "t1", 150)
        body = {"mode": "automatic", "targetRevision": 1}
        asked = client.post(api.path("t1", "/update"), json=body)
        assert asked.status_code == 200 and asked.json() == {}, asked.text

        # 1150: the invocation finished on version 1 (ticker-v3), not on version 0.
        assert result_of(client, result_url) == 1150
        meta = api.worker("t1")
        assert meta["componentVersion"] == 1, meta
        assert [(u["type"], u["targetRevision"]) for u in meta["updates"]] == [
            ("SuccessfulUpdate", 1)
        ], meta["updates"]
        kinds = [e["type"] for e in api.oplog("t1")]
        # The request entered the oplog inside the running invocation, not after it.
        last_start = len(kinds) - 1 - kinds[::-1].index("invocation-started")
        assert last_start < kinds.index("pending-update") < kinds.index("successful-update")
        assert kinds.index("successful-update") < len(kinds) - 1 - kinds[::-1].index(
            "invocation-finished"
        ), kinds
        assert api.invoke_and_await("t1", "version").json()["result"] == 3
        assert api.invoke_and_await("t1", "tick", [2, 0]).json()["result"] == 1002


def test_rest_automatic_update_of_a_running_agent_whose_replay_diverges_fails(
    tmp_path: Path,
) -> None:
    """The new version does not reproduce the record (an earlier tick returned n on
    version 0, ticker-v3 returns n + 1000): the update is recorded as failed and the
    interrupted invocation goes on on the old version, as Golem restarts it on the old
    one."""
    with ticker_server(tmp_path) as (store, client, api):
        assert api.invoke_and_await("t1", "tick", [1, 0]).json()["result"] == 1
        upload(client, "ticker", "ticker-v3")
        result_url = start_tick(api, "t1", 30)
        body = {"mode": "automatic", "targetRevision": 1}
        asked = client.post(api.path("t1", "/update"), json=body)
        assert asked.status_code == 200 and asked.json() == {}, asked.text
        assert result_of(client, result_url) == 30

        def failed() -> list[dict[str, object]] | None:
            found = api.worker("t1")["updates"]
            return found if found and found[-1]["type"] == "FailedUpdate" else None

        (record,) = wait_until(failed, what="the failed update")
        assert record["targetRevision"] == 1 and "automatic update failed" in str(
            record["details"]
        ), record
        assert api.worker("t1")["componentVersion"] == 0


def test_rest_the_same_update_already_pending_is_refused(tmp_path: Path) -> None:
    """Golem's 400 "The same update is already in progress": a manual update waiting in
    the queue of a running agent, asked again."""
    with ticker_server(tmp_path) as (store, client, api):
        add_component(store, build_fixture("ticker-v2"), "ticker")
        # t1 is created on the latest, version 1; the update goes back to version 0
        # (one to version 1 would be "Worker is already at the target version").
        start_tick(api, "t1", 30)
        manual = {"mode": "manual", "targetRevision": 0}
        first = client.post(api.path("t1", "/update"), json=manual)
        assert first.status_code == 200 and first.json() == {}, first.text
        again = client.post(api.path("t1", "/update"), json=manual)
        assert again.status_code == 400, again.text
        assert "The same update is already in progress" in again.text
        meta = api.worker("t1")
        assert [u["type"] for u in meta["updates"]] == ["PendingUpdate"], meta["updates"]
