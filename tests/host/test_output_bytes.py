"""Guest bytes are stored as bytes (issue "Nothing lost, nobody let in, part 2", F15, and
issue 13 item 2): a ``list<u8>`` in a recorded host call (stdout writes, random bytes,
promise payloads, HTTP body chunks) is ``{"$bytes": <bytes>}`` in memory and goes to the
oplog row's BLOB column, not into its JSON (as base64, 4/3 per byte, or as an array of
numbers, 3 to 4); oplogs written the old ways still replay."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from host import oplog
from host.oplog_codec import decode_row
from host.service import HostService
from host.store import DB_FILENAME, open_store
from host.values import U8, ListT, OptionT, ResultT, Some, from_json, to_json
from host.values.types import Case
from tests.fixtures.build import build_fixture

MIB = 1 << 20


def _rows(data_dir: Path) -> list[tuple[int, str, bytes | None]]:
    """Every oplog row (index, head, data) the data directory's store holds."""
    store = open_store(data_dir)
    try:
        return [row for a in store.list_agents() for row in store.read_oplog_raw(a.agent)]
    finally:
        store.close()


def test_list_u8_in_oplog_json_is_bytes_and_older_forms_still_read() -> None:
    ty = ResultT(ok=ListT(U8), err=None)
    value = Case("ok", b"\x00\xffhi")
    compact = to_json(value, ty, compact_bytes=True)
    assert compact == {"ok": {"$bytes": b"\x00\xffhi"}}
    assert from_json(compact, ty, compact_bytes=True) == value
    # The text form before BLOB rows (and in golden oplogs): base64.
    assert from_json({"ok": {"$bytes": "AP9oaQ=="}}, ty, compact_bytes=True) == value
    # The old form (and the REST API's form) is still the array of numbers.
    assert to_json(value, ty) == {"ok": [0, 255, 104, 105]}
    assert from_json({"ok": [0, 255, 104, 105]}, ty, compact_bytes=True) == value
    nested = OptionT(ListT(U8))
    assert from_json(to_json(Some(b"x"), nested, compact_bytes=True), nested, compact_bytes=True)
    with pytest.raises(ValueError):
        from_json({"$bytes": "not base64!"}, ListT(U8), compact_bytes=True)
    with pytest.raises(ValueError):  # the REST API's JSON does not take the oplog's form
        from_json({"$bytes": "AA=="}, ListT(U8))


def test_a_mib_of_stdout_takes_about_a_mib_of_oplog_and_replays(data_dir: Path) -> None:
    host = HostService(data_dir)
    seen: list[bytes] = []
    try:
        host.add_component(build_fixture("output"), name="output")
        agent, _ = host.create_agent("output", "flood")
        inv = host.invoke(agent, f"flood({MIB}, 65536)")
        assert (inv.state, inv.result) == ("done", str(MIB))
    finally:
        host.close()
    rows = _rows(data_dir)
    stored = sum(len(head) + len(data or b"") for _, head, data in rows)
    # The bytes themselves plus small heads; base64 was 4/3 per byte, arrays about 4.
    assert stored < 1.05 * MIB, f"{stored} bytes of oplog for {MIB} bytes of stdout"
    assert max(len(head) for _, head, _ in rows) < 1000  # no payload inside the JSON
    writes = [
        e
        for _, head, data in rows
        if isinstance(e := decode_row(head, data), oplog.HostCall) and "write" in e.function
    ]
    assert len(writes) == 16
    assert all(e.request[1] == {"$bytes": b"x" * 65536} for e in writes)
    # A fresh host replays the flood from the oplog (nothing is written again), then runs on.
    host = HostService(data_dir, output=lambda agent, stream, data: seen.append(data))
    try:
        again = host.invoke(agent, "flood(3, 3)")
        assert (again.state, again.result) == ("done", "3")
        assert seen == [b"xxx"]
    finally:
        host.close()


# sqlite_only: it rewrites the SQLite rows into the form agent-host wrote before BLOB rows.
@pytest.mark.sqlite_only
def test_an_oplog_written_with_number_arrays_still_replays(data_dir: Path) -> None:
    host = HostService(data_dir)
    try:
        host.add_component(build_fixture("output"), name="output")
        agent, _ = host.create_agent("output", "old")
        first = host.invoke(agent, "random(16)")
        assert first.state == "done"
    finally:
        host.close()
    # Rewrite every $bytes value the way agent-host wrote it before: arrays of numbers.
    db = sqlite3.connect(data_dir / DB_FILENAME)
    rewritten = 0
    try:
        for idx, head, blob in db.execute("SELECT idx, entry, data FROM oplog").fetchall():
            if blob is None:
                continue
            data = oplog.to_dict(decode_row(head, blob))  # the text form, base64

            def old(value: object) -> object:
                if isinstance(value, dict):
                    if set(value) == {"$bytes"}:
                        import base64

                        return list(base64.b64decode(str(value["$bytes"])))
                    return {k: old(v) for k, v in value.items()}
                if isinstance(value, list):
                    return [old(v) for v in value]
                return value

            text = json.dumps(old(data), separators=(",", ":"), sort_keys=True)
            db.execute("UPDATE oplog SET entry = ?, data = NULL WHERE idx = ?", (text, idx))
            rewritten += 1
        db.commit()
    finally:
        db.close()
    assert rewritten == 1  # get-random-bytes' response
    host = HostService(data_dir)
    try:
        # Replaying random(16) answers get-random-bytes from the old entry: the same bytes,
        # so the recorded result matches (a divergence would fail the agent).
        second = host.invoke(agent, "random(4)")
        assert second.state == "done", second
        assert host.store.get_agent(agent).status == "idle"
        assert host.check().problems == ()
    finally:
        host.close()


def test_each_entry_is_encoded_once_on_the_live_path(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The size check before recording (Session.check_size) and the store's append share
    # one encoding: count the codec's JSON encodings against the rows written.
    from host import oplog_codec

    host = HostService(data_dir)
    try:
        host.add_component(build_fixture("output"), name="output")
        agent, _ = host.create_agent("output", "once")
        before = host.store.oplog_length(agent)
        encoder = oplog_codec._ENCODER
        real = encoder.encode
        count = 0

        def counting(value: object) -> str:
            nonlocal count
            count += 1
            return real(value)

        monkeypatch.setattr(encoder, "encode", counting)
        inv = host.invoke(agent, "flood(200000, 65536)")  # four writes of 64 KiB and less
        assert inv.state == "done"
        written = host.store.oplog_length(agent) - before
        assert written >= 6 and count == written
    finally:
        host.close()
