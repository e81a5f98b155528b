"""Lazily decoded entries (host.oplog.LazyFields, host.oplog_rowshape.LazyShape): rows of a
repeated HostCall shape read in bulk (decode_rows) become entries that hold their row
until a field is read; every reader must see exactly what json's path decodes, and the
bulk loop must make the same decisions as decode_row for any row (odd tails, short or
missing blobs, memoryviews, other entry types)."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from host import oplog, oplog_codec
from host.errors import StoreError
from host.oplog import LAZY, HostCall
from host.oplog_codec import decode_row, decode_rows, encode_row, to_text
from host.oplog_rowshape import LazyShape, Shapes
from tests.unit.test_oplog_codec import any_entry, entries_of


def _by_json(head: str, blob: bytes | None) -> Any:
    """The row decoded with the shape path out of the way."""
    saved = oplog_codec._SHAPES
    oplog_codec._SHAPES = Shapes(oplog_codec._SCAN, lambda name, count: None)
    try:
        return decode_row(head, blob)
    finally:
        oplog_codec._SHAPES = saved


def _lazy(entry: Any) -> bool:
    return LAZY in entry.__dict__


def _call(i: int, payload: bytes = b"tick\n") -> HostCall:
    return HostCall(
        "wasi:io/streams.write", ["<OutputStream>", {"$bytes": payload}], {"ok": None}, i
    )


@settings(max_examples=150, deadline=None)
@given(entries=st.lists(st.one_of(entries_of(HostCall), any_entry), min_size=1, max_size=6))
def test_rows_read_in_bulk_are_what_json_reads(entries: list[Any]) -> None:
    # Each row three times (unseen, seen once, shape known), interleaved with the others.
    rows = [encode_row(e) for e in entries] * 3
    got = decode_rows(rows)
    expected = [_by_json(head, blob) for head, blob in rows]
    assert [type(g) for g in got] == [type(e) for e in expected]
    assert got == expected == entries * 3
    for g, e in zip(got, expected, strict=True):
        assert not _lazy(g)  # filled by the comparison above
        assert vars(g) == vars(e)


def test_a_lazy_entry_holds_its_row_until_a_field_is_read() -> None:
    rows = [encode_row(_call(i, bytes([65 + i]) * 3)) for i in range(4)]
    got = decode_rows(rows)
    # Unseen (json), seen again (its shape learned), then by the shape.
    assert [_lazy(e) for e in got] == [False, True, True, True]
    third = got[2]
    assert set(vars(third)) == {LAZY} and isinstance(vars(third)[LAZY][0], LazyShape)
    assert isinstance(third, HostCall) and oplog.kind(third) == "host-call"
    assert third.timestamp == 2  # any field fills them all
    assert not _lazy(third)
    assert vars(third) == vars(_call(2, b"CCC"))
    assert third.request == ["<OutputStream>", {"$bytes": b"CCC"}]
    # Fresh containers: one entry's values are not another's.
    third.request.append("changed")
    third.response["ok"] = 1
    fourth = got[3]
    assert isinstance(fourth, HostCall)
    assert fourth.request == ["<OutputStream>", {"$bytes": b"DDD"}]
    assert fourth.response == {"ok": None}


def test_every_reader_of_a_lazy_entry_sees_its_fields() -> None:
    rows = [encode_row(_call(i)) for i in range(3)]
    eager = _call(2)

    def fresh() -> Any:
        entry = decode_rows(rows)[2]
        assert _lazy(entry)
        return entry

    assert repr(fresh()) == repr(eager)
    assert fresh() == eager and eager == fresh()
    assert encode_row(fresh()) == encode_row(eager)
    assert to_text(fresh()) == to_text(eager)
    assert oplog.describe(fresh()) == oplog.describe(eager)
    assert dataclasses.replace(fresh(), timestamp=9) == dataclasses.replace(eager, timestamp=9)
    assert dataclasses.asdict(fresh()) == dataclasses.asdict(eager)
    for copied in (copy.copy(fresh()), copy.deepcopy(fresh()), pickle.loads(pickle.dumps(fresh()))):
        assert type(copied) is HostCall and copied == eager and not _lazy(copied)
    with pytest.raises(AttributeError):
        fresh().no_such_field  # noqa: B018
    lazy = fresh()
    assert not hasattr(lazy, "__no_such_dunder__") and _lazy(lazy)  # dunders do not fill
    with pytest.raises(dataclasses.FrozenInstanceError):
        fresh().timestamp = 3


@pytest.mark.parametrize(
    "tail", ["-1", "1.5", "1e3", "\u0661\u0662", "1_000", " 7", "true", '"7"', "007", "", "+7"]
)
def test_a_trailing_value_that_is_not_a_plain_integer_goes_json_s_way_in_bulk(tail: str) -> None:
    head, blob = encode_row(_call(5))
    shape = head.rpartition(",")[0]
    learned = [(head, blob), (shape + ",6]", blob)]
    odd = (shape + "," + tail + "]", blob)
    decode_rows(learned)  # the shape is known now
    try:
        expected: Any = _by_json(*odd)
    except StoreError:
        with pytest.raises(StoreError, match="undecodable oplog entry"):
            decode_rows([*learned, odd])
    else:
        assert decode_rows([*learned, odd])[2] == expected


def test_blobs_that_do_not_fit_the_shape_go_json_s_way_in_bulk() -> None:
    head, blob = encode_row(_call(1, b"abcdef"))
    assert blob is not None
    decode_rows([(head, blob), (head, blob)])  # the shape is known now
    with pytest.raises(StoreError, match="undecodable oplog entry"):
        decode_rows([(head, blob), (head, b"abc")])
    assert decode_rows([(head, None)]) == [_by_json(head, None)]
    # A memoryview (what a driver may return for a BLOB) decodes as its bytes.
    (viewed,) = decode_rows([(head, memoryview(blob))])  # type: ignore[list-item]
    assert isinstance(viewed, HostCall)
    assert viewed == _call(1, b"abcdef") and type(viewed.request[1]["$bytes"]) is bytes
    # A shape with no reference takes no blob.
    bare = encode_row(HostCall("f", [], {"ok": None}, 1))
    decode_rows([bare, bare])
    assert decode_rows([(bare[0], b"x")]) == [_by_json(bare[0], b"x")]


def test_a_response_with_the_row_s_bytes_is_not_in_the_shape() -> None:
    rows = [encode_row(HostCall("r", [16], {"$bytes": bytes([i]) * 4}, i)) for i in range(3)]
    got = decode_rows(rows)
    shape = vars(got[2])[LAZY][0]
    assert shape.static == {"function": "r", "request": [16]}
    third = got[2]
    assert isinstance(third, HostCall) and third.response == {"$bytes": b"\x02\x02\x02\x02"}
