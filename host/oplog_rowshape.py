"""Decoding stored oplog rows by shape: a row whose head differs from one already seen
only in its last value (the timestamp) is built by a function made for that shape.

An agent's oplog is mostly rows of a few shapes: the 20,000 stdout writes of a replay
benchmark are one head, ``["host-call","wasi:io/streams@0.2.3.[method]output-stream.
blocking-write-and-flush",["<OutputStream>",{"$bytes":{"$blob":[0,7]}}],{"ok":null},``
followed by a different timestamp each. Scanning each head with json's C scanner and its
Python ``object_hook`` (one call per JSON object, three per such row) was most of reading
an oplog (~10 us per row, scripts/bench_replay.py). A shape is scanned once; its builder
is generated Python code that makes fresh containers (nothing mutable is shared between
two entries), slices the row's blob at the recorded offsets and puts the timestamp last.

Only what is certain to decode the same goes this way: the head must end in ``,<digits>]``
(then those digits are the outer array's last value, they cannot sit inside a string),
the shape must have been read whole and valid once, the blob must cover every reference
and the entry type must be one its codec builds directly. Anything else returns None and
the caller takes json's path, which reports a damaged row.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_BLOB_KEY = "$blob"

# A builder: (blob, timestamp) -> entry, or None when the blob does not fit the shape.
Builder = Callable[[bytes | None, int], Any]

# The entry types whose rows repeat in shape: host calls (most of any oplog) and promise
# creations. Invocations, suspensions and the like carry ids of their own: for them the
# bookkeeping of a shape seen once cost ~2 us a row (measured on 40,000 invocation rows).
REPEATING = ('["host-call",', '["promise-created",')

SHAPES_KEPT = 4096  # distinct row shapes remembered (all forgotten at once when full)


class Shapes:
    """Builders by row shape (the head without its last value).

    ``scan`` is json's C scanner without hooks; ``direct(type name, value count)``
    returns ``(class, field names)`` when the codec builds such a row without its
    ``__init__`` (no tuple fields, no ``__post_init__``, every field present), else None.
    """

    def __init__(
        self,
        scan: Callable[[str, int], tuple[Any, int]],
        direct: Callable[[str, int], tuple[type[Any], tuple[str, ...]] | None],
    ) -> None:
        self.scan = scan
        self.direct = direct
        self.builders: dict[str, Any] = {}  # a Builder, None (json's path) or _ONCE

    def decode(self, head: str, blob: bytes | None) -> Any:
        """The entry of a row in the list form, or None (the caller decodes it)."""
        if not head.startswith(REPEATING):
            return None  # its own ids in every row: tracking its shape only costs
        shape, _, tail = head.rpartition(",")
        digits = tail[:-1]
        if tail[-1:] != "]" or not (digits.isdigit() and digits.isascii()) or not shape:
            return None
        builder = self.builders.get(shape, _UNSEEN)
        if builder is _ONCE:
            # Seen before: a shape that repeats. (A row with its own id, such as an
            # invocation's start, is seen once: making it a builder would cost more
            # than scanning it.)
            builder = self.builders[shape] = self._learn(head, int(digits))
        elif builder is _UNSEEN:
            if len(self.builders) >= SHAPES_KEPT:
                self.builders.clear()
            self.builders[shape] = _ONCE
            return None
        if builder is None:
            return None
        if blob is not None and type(blob) is not bytes:
            blob = bytes(blob)
        return builder(blob, int(digits))

    def _learn(self, head: str, timestamp: int) -> Builder | None:
        try:
            values, end = self.scan(head, 0)
        except (StopIteration, ValueError):
            return None
        if end != len(head) or type(values) is not list or len(values) < 2:
            return None
        last = values[-1]
        if type(last) is not int or last != timestamp or type(values[0]) is not str:
            return None
        found = self.direct(values[0], len(values) - 1)
        if found is None:
            return None
        cls, names = found
        return _generate(cls, names, values[1:-1])


_UNSEEN: Any = object()
_ONCE: Any = object()


class _Source:
    """The generated builder's source, its constants passed by name (never as text)."""

    def __init__(self) -> None:
        self.consts: dict[str, Any] = {}
        self.need = 0  # bytes the blob must hold
        self.refs = 0

    def const(self, value: Any) -> str:
        name = f"k{len(self.consts)}"
        self.consts[name] = value
        return name

    def expr(self, value: Any) -> str | None:
        """A Python expression building ``value`` anew, or None if it has no shape of ours."""
        t = type(value)
        if value is None or t is bool or t is int or t is float or t is str:
            return self.const(value)
        if t is list:
            parts = [self.expr(v) for v in value]
            if any(p is None for p in parts):
                return None
            return "[" + "".join(f"{p}," for p in parts) + "]"
        if t is dict:
            ref = value.get(_BLOB_KEY)
            if ref is not None and len(value) == 1:
                return self._slice(ref)
            items = []
            for k, v in value.items():
                p = self.expr(v)
                if p is None:
                    return None
                items.append(f"{self.const(k)}:{p}")
            return "{" + ",".join(items) + "}"
        return None

    def _slice(self, ref: Any) -> str | None:
        if type(ref) is not list or len(ref) != 2 or any(type(x) is not int for x in ref):
            return None
        offset, size = ref
        if offset < 0 or size < 0:
            return None
        self.need = max(self.need, offset + size)
        self.refs += 1
        return f"blob[{offset}:{offset + size}]"


def _generate(cls: type[Any], names: tuple[str, ...], middle: list[Any]) -> Builder | None:
    src = _Source()
    fields = [src.expr(v) for v in middle]
    if any(f is None for f in fields):
        return None
    cls_name, new = src.const(cls), src.const(object.__new__)
    items = [f"{src.const(n)}:{f}" for n, f in zip(names, fields, strict=False)]
    items.append(f"{src.const(names[-1])}:timestamp")
    # A row with references needs a blob holding them; one without takes no blob (else
    # json's path decides, as it always did).
    check = f"blob is None or len(blob) < {src.need}" if src.refs else "blob is not None"
    code = (
        "def build(blob, timestamp):\n"
        f"    if {check}:\n"
        "        return None\n"
        f"    entry = {new}({cls_name})\n"
        f"    entry.__dict__.update({{{','.join(items)}}})\n"
        "    return entry\n"
    )
    namespace: dict[str, Any] = dict(src.consts)
    exec(compile(code, f"<oplog row shape of {cls.__name__}>", "exec"), namespace)  # noqa: S102
    built: Builder = namespace["build"]
    return built
