"""Rows decoded by shape (host/oplog_rowshape.py) are exactly what json's path decodes:
for every entry type on random values, read twice and more (the second sighting of a
shape makes its builder); no container is shared between two entries; damaged rows and
rows that differ only in a trailing value that is not a plain integer still go json's way."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from host import oplog, oplog_codec
from host.errors import StoreError
from host.oplog_codec import decode_row, encode_row
from host.oplog_rowshape import LazyShape, Shapes
from tests.unit.test_oplog_codec import ALL_TYPES, entries_of


def _by_json(head: str, blob: bytes | None) -> Any:
    """The row decoded with the shape path out of the way."""
    saved = oplog_codec._SHAPES
    oplog_codec._SHAPES = Shapes(oplog_codec._SCAN, lambda name, count: None)
    try:
        return decode_row(head, blob)
    finally:
        oplog_codec._SHAPES = saved


@pytest.mark.parametrize("name,cls", ALL_TYPES, ids=[n for n, _ in ALL_TYPES])
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_a_row_decodes_the_same_by_its_shape_as_by_json(
    name: str, cls: type[Any], data: st.DataObject
) -> None:
    entry = data.draw(entries_of(cls))
    head, blob = encode_row(entry)
    expected = _by_json(head, blob)
    for _ in range(3):  # unseen, seen once (builder made), built
        got = decode_row(head, blob)
        assert got == expected == entry
        assert type(got) is type(entry)
        assert vars(got) == vars(expected)


def test_rows_of_one_shape_share_no_container_and_keep_their_own_bytes() -> None:
    rows = [
        encode_row(oplog.HostCall("f", ["<S>", {"$bytes": bytes([i]) * 3}], {"ok": None}, i))
        for i in range(4)
    ]
    assert len({head.rpartition(",")[0] for head, _ in rows}) == 1  # one shape
    got: list[Any] = [decode_row(head, blob) for head, blob in rows]
    assert [e.request[1]["$bytes"] for e in got] == [bytes([i]) * 3 for i in range(4)]
    assert [e.timestamp for e in got] == [0, 1, 2, 3]
    got[2].request.append("changed")
    got[2].response["ok"] = 1
    assert got[3].request == ["<S>", {"$bytes": b"\x03\x03\x03"}]
    assert got[3].response == {"ok": None}
    again: Any = decode_row(*rows[1])
    assert again.request == ["<S>", {"$bytes": b"\x01\x01\x01"}]


@pytest.mark.parametrize(
    "tail",
    ["-1", "1.5", "1e3", "\u0661\u0662", "1_000", " 7", "true", '"7"', "007", "07", "", "+7", "7 "],
)
def test_a_trailing_value_that_is_not_a_plain_integer_goes_json_s_way(tail: str) -> None:
    prefix = '["promise-created","golem:api/host@1.3.0.create-promise",'
    for ts in ("5", "6"):  # learn the shape
        assert decode_row(prefix + ts + "]").timestamp == int(ts)
    head = prefix + tail + "]"
    try:
        expected: Any = _by_json(head, None)
    except StoreError as exc:
        with pytest.raises(StoreError, match="undecodable oplog entry"):
            decode_row(head)
        assert "undecodable" in str(exc)
    else:
        assert decode_row(head) == expected


def test_a_blob_too_short_for_its_shape_goes_json_s_way() -> None:
    head, blob = encode_row(oplog.HostCall("f", [{"$bytes": b"abcdef"}], None, 1))
    assert blob == b"abcdef"
    decode_row(head, blob)
    decode_row(head, blob)  # the shape is known now
    with pytest.raises(StoreError, match="undecodable oplog entry"):
        decode_row(head, b"abc")
    # Without a blob json's path leaves the reference as it is (as it always did).
    assert decode_row(head, None) == _by_json(head, None)


def test_rows_seen_once_make_no_builder() -> None:
    shapes = Shapes(oplog_codec._SCAN, oplog_codec._direct)
    for n in range(50):  # rows with their own ids are not even tracked
        head, blob = encode_row(oplog.InvocationFinished(f"inv-{n}", "1", n))
        assert shapes.decode(head, blob) is None  # json's path decodes it
    assert not shapes.builders
    for n in range(50):
        head, blob = encode_row(oplog.HostCall(f"f{n}", [], None, n))
        assert shapes.decode(head, blob) is None
    assert len(shapes.builders) == 50
    assert all(not callable(b) for b in shapes.builders.values())
    head, blob = encode_row(oplog.HostCall("f0", [], None, 99))
    assert shapes.decode(head, blob) == oplog.HostCall("f0", [], None, 99)
    assert isinstance(shapes.builders[head.rpartition(",")[0]], LazyShape)


def test_a_run_of_one_shape_decodes_as_each_row_alone() -> None:
    """decode_all reuses the previous row's lazy shape for a row that starts with it: a
    row that starts so but has a further value, a tail that is not a plain integer, a
    missing blob or another shape altogether is still decoded as decode_row would."""
    call = oplog.HostCall("f", ["<S>", {"$bytes": b"xyz"}], {"ok": None}, 1)
    head, blob = encode_row(call)
    shape = head.rpartition(",")[0]
    decode_row(head, blob)
    decode_row(head, blob)  # the shape is known (lazy) now
    other, other_blob = encode_row(oplog.PromiseCreated("g", 3))
    rows: list[tuple[str, bytes | None]] = [
        (head, blob),
        (shape + ",2]", blob),
        (shape + ",7,8]", blob),  # a further value: rpartition's shape differs
        (shape + ",07]", blob),  # no leading zero in JSON
        (shape + ",-3]", blob),
        (shape + ",4]", None),  # its bytes missing
        (other, other_blob),
        (shape + ",5]", blob),
        (shape + ",6]", b"xyzw"),
    ]
    expected: list[Any] = []
    for row in rows:
        try:
            expected.append(_by_json(*row))
        except StoreError as exc:
            expected.append(type(exc))
    got: list[Any] = []
    for row in rows:
        try:
            got.append(oplog_codec.decode_rows([row])[0])
        except StoreError as exc:
            got.append(type(exc))
    assert got == expected
    clean = [r for r, e in zip(rows, expected, strict=True) if e is not StoreError]
    together: list[Any] = oplog_codec.decode_rows(clean)
    assert together == [e for e in expected if e is not StoreError]
    assert [type(e) for e in together] == [type(e) for e in expected if e is not StoreError]
    # What json's path gives (checked so the test cannot pass on two equal wrong answers).
    assert expected[2] is StoreError and expected[3] is StoreError
    assert [e.timestamp for e in together] == [1, 2, -3, 4, 3, 5, 6]
    assert together[3].request[1]["$bytes"] == {"$blob": [0, 3]}  # no blob: left as is
