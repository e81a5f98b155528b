"""How oplog entries are stored: a compact JSON head plus an optional BLOB of bytes.

Every entry type gets a codec derived once from its dataclass fields (names, and which
fields are tuples), so an entry type added to :mod:`host.oplog` needs no code here.

Stored form (a row of the store's ``oplog`` table): ``head`` is a JSON array, the
entry's type name then its field values in declaration order::

    ["host-call","wasi:random/random@0.2.3.get-random-bytes",[16],{"$bytes":{"$blob":[0,16]}},1733...]

and ``data`` is ``None`` or the concatenated bytes of every ``bytes`` value in the
entry (guest stdout, random bytes, promise payloads, HTTP bodies), each replaced in the
head by ``{"$blob": [offset, length]}``. A payload thus costs its own size, not 1.33x
(base64) or 3-4x (a JSON array of numbers). Fields are positional, so a field added
to an existing entry type goes at the end with a default (rows written before have one
value fewer and get the default); reordering or removing fields would misread old rows
(``tests/unit/test_oplog_codec.py`` pins today's field order).

The text form (:func:`to_text` / :func:`from_text`, ``oplog.encode`` / ``oplog.decode``)
is a JSON object with named fields and bytes as ``{"$bytes": "<base64>"}``: what the
store held before migration 9 (SQLite) / 3 (PostgreSQL), what golden oplogs in tests
and the REST API's oplog pages show. :func:`decode_row` reads both, so a row that a
migration has not rewritten still decodes.

The live path encodes each entry once: the size check before recording it
(:func:`entry_size`) keeps the row on the entry until the store takes it
(:func:`take_row`).
"""

from __future__ import annotations

import base64
import gc
import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import fields
from typing import Any, get_origin, get_type_hints

from host import oplog
from host.errors import StoreError
from host.oplog import Entry
from host.oplog_rowshape import Shapes

Row = tuple[str, bytes | None]

# The entry types a resume reads even before the latest snapshot: the agent's creation,
# the promises it created (get-promise on replay checks them), deleted regions and the
# snapshots themselves. Stores keep each row's type in a ``kind`` column with a partial
# index on these (migration 9 / 3): changing the set needs a new migration.
RESUME_KINDS = ("agent-created", "promise-created", "jump", "snapshot", "successful-update")

BLOB_KEY = "$blob"
BYTES_KEY = "$bytes"
_MEMO = "_stored_row"  # the entry's encoded row, between its size check and its commit


def _tuplify(value: Any) -> Any:
    # A list comprehension, and recursion only into lists: a generator per level was most
    # of decoding an AgentCreated (its env pairs), read for every agent of a listing.
    if type(value) is list:
        return tuple([_tuplify(v) if type(v) is list else v for v in value])
    return value


# Entry fields added after entries of their type were stored (each its type's last field).
OMITTED_WHEN_DEFAULT = frozenset(
    {"config", "host_state", "retry_state", "traceparent", "tracestate"}
)


class _Codec:
    """One entry type's field layout, read once from its dataclass."""

    def __init__(self, name: str, cls: type[Any]) -> None:
        self.name = name
        self.cls = cls
        self.names = tuple(f.name for f in fields(cls))
        hints = get_type_hints(cls)
        # Tuple fields come back from JSON as lists; JSON-valued fields (Any) stay as read.
        self.tuples = tuple(
            i
            for i, n in enumerate(self.names)
            if hints[n] is tuple or get_origin(hints[n]) is tuple
        )
        self.bytes_fields = frozenset(n for n in self.names if hints[n] in (bytes, bytes | None))
        names = self.names
        self.values: Callable[[Any], list[Any]] = lambda e: [getattr(e, n) for n in names]
        # Fields added after entries of the type were stored: the text form leaves them
        # out while they hold their default, so an older entry's text stays what it was.
        # Trailing ones only (from_dict takes the defaults after the first one missing),
        # last first: to_text leaves one out only while every one after it is left out.
        defaults = {f.name: f.default for f in fields(cls)}
        trailing: list[tuple[str, Any]] = []
        for n in reversed(names):
            if n not in OMITTED_WHEN_DEFAULT:
                break
            trailing.append((n, defaults[n]))
        self.omitted = tuple(trailing)
        # Instances are built without __init__ (whose frozen setattr per field is most of a
        # decode) unless the type needs its own initialisation.
        self.direct = not hasattr(cls, "__post_init__") and "__slots__" not in vars(cls)

    def fits(self, row: list[Any]) -> bool:
        """Whether a stored row (type name, then values) builds this entry type directly:
        every field present, nothing to convert (others go through :meth:`make`'s checks)."""
        return self.direct and not self.tuples and len(row) == len(self.names) + 1

    def make(self, values: list[Any]) -> Entry:
        for i in self.tuples:
            if i < len(values):
                values[i] = _tuplify(values[i])
        if self.direct and len(values) == len(self.names):
            entry: Entry = object.__new__(self.cls)
            entry.__dict__.update(zip(self.names, values, strict=False))  # lengths checked
            return entry
        made: Entry = self.cls(*values)  # older rows: the defaults of newer fields
        return made


_BY_NAME: dict[str, _Codec] = {}
_BY_CLASS: dict[type[Any], _Codec] = {}


def _codec_of(cls: type[Any]) -> _Codec:
    codec = _BY_CLASS.get(cls)
    if codec is None:
        _BY_NAME.clear()
        for name, entry_type in oplog._TYPES.items():
            _BY_NAME[name] = _BY_CLASS[entry_type] = _Codec(name, entry_type)
        codec = _BY_CLASS[cls]
    return codec


def _codec_named(name: str) -> _Codec:
    if name not in _BY_NAME:
        _codec_of(oplog._TYPES[name])
    return _BY_NAME[name]


# -- the stored row ----------------------------------------------------------------------
_local = threading.local()


def _stash(obj: object) -> object:
    """json's hook for what it cannot write: bytes go to the blob, a reference stays."""
    if isinstance(obj, bytes | bytearray | memoryview):
        blobs: list[bytes] = _local.blobs
        offset = _local.size
        data = bytes(obj)
        blobs.append(data)
        _local.size = offset + len(data)
        return {BLOB_KEY: [offset, len(data)]}
    raise TypeError(f"an oplog entry cannot hold a {type(obj).__name__}")


_ENCODER = json.JSONEncoder(separators=(",", ":"), default=_stash, check_circular=False)


def encode_row(entry: Entry) -> Row:
    """The stored row of ``entry``: (JSON head, blob or None)."""
    memo: Row | None = entry.__dict__.get(_MEMO)
    if memo is not None:
        return memo
    codec = _codec_of(type(entry))
    _local.blobs, _local.size = [], 0
    head = _ENCODER.encode([codec.name, *codec.values(entry)])
    blobs: list[bytes] = _local.blobs
    _local.blobs = []
    if not blobs:
        return head, None
    return head, blobs[0] if len(blobs) == 1 else b"".join(blobs)


def entry_size(entry: Entry) -> int:
    """The stored size of ``entry`` in bytes (head plus blob). Keeps the row on the entry
    for the store (:func:`take_row`): the live path encodes an entry once."""
    row = encode_row(entry)
    entry.__dict__[_MEMO] = row
    return len(row[0]) + (0 if row[1] is None else len(row[1]))


def take_row(entry: Entry) -> Row:
    """The stored row of ``entry``, the one :func:`entry_size` kept if it did (and no
    longer kept: a committed entry holds only its fields)."""
    memo: Row | None = entry.__dict__.pop(_MEMO, None)
    return memo if memo is not None else encode_row(entry)


def kind_of(entry: Entry) -> str:
    """The entry's type name, as the store's ``kind`` column holds it."""
    return _codec_of(type(entry)).name


def _unstash(obj: dict[str, Any]) -> Any:
    """json's hook for every object of a row with a blob: a reference becomes its bytes."""
    ref = obj.get(BLOB_KEY)
    if ref is not None and len(obj) == 1:
        data: bytes = _local.blob
        offset, size = ref
        if not 0 <= offset <= offset + size <= len(data):
            raise ValueError(f"blob reference {ref} outside its {len(data)} bytes")
        return data[offset : offset + size]
    return obj


# Made once: json.loads(..., object_hook=...) would build a new decoder for every row.
_DECODER = json.JSONDecoder(object_hook=_unstash)
# The C scanners themselves: json.loads adds a type check, a whitespace regex on both ends
# and a Python frame or two per row, half the time of decoding a small head. A head that
# does not scan to its end (trailing data, damage) takes json.loads' path for its error.
_SCAN = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
_SCAN_BLOBS = _DECODER.scan_once  # type: ignore[attr-defined]


def _direct(name: str, count: int) -> tuple[type[Any], tuple[str, ...]] | None:
    """(class, field names) of an entry type whose row of ``count`` values builds it
    directly (see :meth:`_Codec.fits`), for :mod:`host.oplog_rowshape`."""
    if name not in oplog._TYPES:
        return None
    codec = _codec_named(name)
    if not codec.direct or codec.tuples or count != len(codec.names):
        return None
    return codec.cls, codec.names


# Rows of a shape already seen (the head but its timestamp) skip the JSON scan.
_SHAPES = Shapes(_SCAN, _direct)


def decode_row(head: str, blob: bytes | None = None) -> Entry:
    """The entry a stored row holds (either form); a damaged row is a StoreError."""
    if head[:1] == "[":
        shaped: Entry | None = _SHAPES.decode(head, blob)
        if shaped is not None:
            return shaped
        values: Any = None
        end = -1
        try:
            if blob is None:
                values, end = _SCAN(head, 0)
            else:
                _local.blob = bytes(blob)
                try:
                    values, end = _SCAN_BLOBS(head, 0)
                finally:
                    _local.blob = b""
        except (StopIteration, ValueError, KeyError, TypeError, IndexError):
            values = None  # the full path below reports it
        if end == len(head) and type(values) is list and values and type(values[0]) is str:
            codec = _BY_NAME.get(values[0])
            if codec is not None and codec.fits(values):
                return codec.make(values[1:])
    return _decode_row(head, blob)


def decode_rows(rows: Iterable[tuple[str, bytes | None]]) -> list[Entry]:
    """The entries of many stored rows, in order (an oplog read): rows of a known shape in
    one loop, HostCall rows of one lazily (host.oplog.LazyFields), any other by decode_row.

    The cyclic garbage collector is paused meanwhile: every entry is a few new container
    objects that all stay alive, and the collections their allocation triggers only walk
    them again and again (~40% of reading 20,000 entries, measured with
    scripts/bench_replay.py). Reference counting still frees what a row leaves behind."""
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        return _SHAPES.decode_all(rows, decode_row)
    finally:
        if paused:
            gc.enable()


def _decode_row(head: str, blob: bytes | None) -> Entry:
    try:
        if head[:1] == "{":
            return from_text(head)
        if blob is None:
            values = json.loads(head)
        else:
            _local.blob = bytes(blob)
            try:
                values = _DECODER.decode(head)
            finally:
                _local.blob = b""
        if not isinstance(values, list) or not values:
            raise ValueError("not an oplog entry")
        return _codec_named(values[0]).make(values[1:])
    except StoreError:
        raise
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise StoreError(f"undecodable oplog entry {head[:200]!r}: {exc}") from None


# -- the text form -----------------------------------------------------------------------
def _b64(obj: object) -> object:
    if isinstance(obj, bytes | bytearray | memoryview):
        return base64.b64encode(obj).decode("ascii")
    raise TypeError(f"an oplog entry cannot hold a {type(obj).__name__}")


def _unb64(obj: dict[str, Any]) -> Any:
    text = obj.get(BYTES_KEY)
    if isinstance(text, str) and len(obj) == 1:
        try:
            return {BYTES_KEY: base64.b64decode(text, validate=True)}
        except ValueError:
            return obj  # not ours to judge here: replay reports it with its path
    return obj


def to_text(entry: Entry) -> str:
    """The text form: a JSON object, ``type`` plus named fields, bytes as base64."""
    codec = _codec_of(type(entry))
    data = dict(zip(codec.names, codec.values(entry), strict=True))
    for name, default in codec.omitted:
        value = data[name]
        if not (value is default or (type(value) is type(default) and value == default)):
            break  # a field before one that is kept stays too
        del data[name]
    return json.dumps(
        {"type": codec.name, **data}, separators=(",", ":"), sort_keys=True, default=_b64
    )


def to_dict(entry: Entry) -> dict[str, Any]:
    """The text form as a JSON-ready dict (bytes as base64), for the REST API and CLI."""
    data: dict[str, Any] = json.loads(to_text(entry))
    return data


def from_dict(data: dict[str, Any]) -> Entry:
    """The entry whose text form parsed to ``data`` (with ``{"$bytes": "<base64>"}``
    already turned into bytes by :func:`from_text`, or not: both read)."""
    codec = _codec_named(data["type"])
    values = []
    for name in codec.names:
        if name not in data:
            break  # an older entry: the defaults of the fields that follow
        value = data[name]
        if name in codec.bytes_fields and isinstance(value, str):
            value = base64.b64decode(value, validate=True)
        elif isinstance(value, dict | list):
            value = _walk_unb64(value)
        values.append(value)
    return codec.make(values)


def _walk_unb64(value: Any) -> Any:
    if isinstance(value, list):
        return [_walk_unb64(v) for v in value]
    if isinstance(value, dict):
        return _unb64({k: _walk_unb64(v) for k, v in value.items()})
    return value


def from_text(text: str) -> Entry:
    """Parse the text form; a damaged entry is a StoreError."""
    try:
        return from_dict(json.loads(text, object_hook=_unb64))
    except (ValueError, KeyError, TypeError) as exc:
        raise StoreError(f"undecodable oplog entry {text[:200]!r}: {exc}") from None
