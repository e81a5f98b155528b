"""The stored form of oplog entries (host/oplog_codec.py): every entry type round-trips
through its row (JSON head + BLOB) and its text form, bytes never enter the JSON, the
live path's size check and the store share one encoding, and rows are positional with
today's field order pinned."""

from __future__ import annotations

import json
import types
import typing
from dataclasses import fields
from pathlib import Path
from typing import Any, get_type_hints

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from host import oplog
from host.errors import StoreError
from host.oplog_codec import decode_row, encode_row, entry_size, from_text, take_row, to_text

GOLDEN = Path(__file__).parent / "golden"

# JSON values as host calls record them: no floats that JSON cannot hold exactly as
# written (NaN is never recorded: to_json writes it as a string), lists (never tuples),
# object keys that are WIT names, and list<u8> as {"$bytes": <bytes>}.
_json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
_bytes_value = st.builds(lambda b: {"$bytes": b}, st.binary(max_size=64))
json_values = st.recursive(
    _json_leaf | _bytes_value,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True), inner, max_size=4)
    ),
    max_leaves=12,
)


def strategy_for(hint: Any) -> st.SearchStrategy[Any]:
    """A strategy for a field of this type; a new entry type whose field has a type not
    handled here fails the test that covers every type, saying which."""
    if hint is Any:
        return json_values
    if hint is str:
        return st.text(max_size=30)
    if hint is int:
        return st.integers(min_value=0, max_value=2**63 - 1)
    if hint is bool:
        return st.booleans()
    if hint is bytes:
        return st.binary(max_size=128)
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return st.one_of(*(strategy_for(a) for a in args))
    if hint is type(None):
        return st.none()
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return st.lists(strategy_for(args[0]), max_size=4).map(tuple)
        return st.tuples(*(strategy_for(a) for a in args))
    raise AssertionError(f"no strategy for a field of type {hint!r}: add one here")


def entries_of(cls: type[Any]) -> st.SearchStrategy[Any]:
    hints = get_type_hints(cls)
    return st.builds(cls, **{f.name: strategy_for(hints[f.name]) for f in fields(cls)})


ALL_TYPES = sorted(oplog._TYPES.items())
any_entry = st.one_of(*(entries_of(cls) for _, cls in ALL_TYPES))


@pytest.mark.parametrize("name,cls", ALL_TYPES, ids=[n for n, _ in ALL_TYPES])
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_every_entry_type_round_trips_through_its_row_and_its_text(
    name: str, cls: type[Any], data: st.DataObject
) -> None:
    entry = data.draw(entries_of(cls))
    head, blob = encode_row(entry)
    back = decode_row(head, blob)
    assert back == entry and type(back) is cls
    assert json.loads(head)[0] == name
    assert from_text(to_text(entry)) == entry
    assert oplog.decode(oplog.encode(entry)) == entry


@settings(max_examples=200, deadline=None)
@given(entry=any_entry)
def test_bytes_go_to_the_blob_and_never_into_the_head(entry: Any) -> None:
    head, blob = encode_row(entry)
    found: list[bytes] = []

    def collect(value: Any) -> None:
        if isinstance(value, bytes):
            found.append(value)
        elif isinstance(value, dict):
            for v in value.values():
                collect(v)
        elif isinstance(value, list | tuple):
            for v in value:
                collect(v)

    for f in fields(entry):
        collect(getattr(entry, f.name))
    if found:
        assert blob == b"".join(found)
        assert head.count('"$blob"') == len(found)
    else:
        assert blob is None
    head.encode("ascii")  # the head is plain ASCII JSON whatever the strings hold


def test_the_size_check_and_the_store_share_one_encoding() -> None:
    entry = oplog.HostCall("f", [{"$bytes": b"\x00" * 1000}], None, 7)
    size = entry_size(entry)
    head, blob = take_row(entry)
    assert size == len(head) + 1000 and blob == b"\x00" * 1000
    kept = encode_row(entry)
    assert kept == (head, blob) and kept[0] is not head  # taken: no longer kept on the entry
    assert entry == oplog.HostCall("f", [{"$bytes": b"\x00" * 1000}], None, 7)


def test_rows_are_compact() -> None:
    entry = oplog.HostCall("golem:api/host@1.3.0.complete-promise", [{"oplog-idx": 5}], True, 1)
    assert encode_row(entry) == (
        '["host-call","golem:api/host@1.3.0.complete-promise",[{"oplog-idx":5}],true,1]',
        None,
    )


def test_a_row_with_fewer_values_gets_the_defaults_of_later_fields() -> None:
    # What a field added at the end of an entry type with a default reads as in old rows.
    entry = decode_row('["invocation-started","i","f",["1"]]')
    assert isinstance(entry, oplog.InvocationStarted)
    assert (entry.invocation_id, entry.function, entry.params) == ("i", "f", ("1",))
    assert entry.idempotency_key is None and entry.timestamp > 0


def test_todays_field_order_is_pinned() -> None:
    # Rows are positional: reordering or removing a field would misread every stored row.
    # New fields go last (with a default); new entry types need nothing here.
    pinned = json.loads((GOLDEN / "rows" / "entry-fields.json").read_text())
    for name, names in pinned.items():
        cls = oplog._TYPES[name]
        now = [f.name for f in fields(cls)]
        assert now[: len(names)] == names, f"{name}: fields {now}, rows hold {names}"


@pytest.mark.parametrize(
    "head,blob",
    [
        ("", None),
        ("[]", None),
        ('["no-such-entry",1]', None),
        ('["jump",1,2,3,4,5]', None),
        ('["host-call","f",{"$blob":[0,9]},null,1]', b"short"),
        ("{not json", None),
        ("[1", None),
    ],
)
def test_a_damaged_row_is_a_store_error(head: str, blob: bytes | None) -> None:
    with pytest.raises(StoreError, match="undecodable oplog entry"):
        decode_row(head, blob)
