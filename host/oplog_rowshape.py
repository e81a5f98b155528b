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

Rows of a HostCall shape (an entry type with :class:`host.oplog.LazyFields`) are not even
built: :class:`LazyShape` makes an entry holding ``(shape, blob, tail)`` that gets its
fields on first access, and :meth:`Shapes.decode_all` does that for a whole oplog read in
one loop (~1.5 us a row, from ~3.4 us building every request, slice and timestamp; a
replay reads none of them, host/runtime/leancall.py answers from the shape).

Only what is certain to decode the same goes this way: the head must end in ``,<digits>]``
(then those digits are the outer array's last value, they cannot sit inside a string),
the shape must have been read whole and valid once, the blob must cover every reference
and the entry type must be one its codec builds directly. Anything else returns None and
the caller takes json's path, which reports a damaged row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from host.oplog import LAZY, LazyFields

_BLOB_KEY = "$blob"

# A builder: (blob, the head after its last comma) -> entry, or None when that tail is not
# a plain integer and "]" or the blob does not fit the shape.
Builder = Callable[[bytes | None, str], Any]

# The entry types whose rows repeat in shape: host calls (most of any oplog) and promise
# creations. Invocations, suspensions and the like carry ids of their own: for them the
# bookkeeping of a shape seen once cost ~2 us a row (measured on 40,000 invocation rows).
REPEATING = ('["host-call",', '["promise-created",')

SHAPES_KEPT = 4096  # distinct row shapes remembered (all forgotten at once when full)


class LazyShape:
    """A row shape of an entry type with :class:`~host.oplog.LazyFields`: its rows become
    entries holding ``(shape, blob, tail)`` until a field is read.

    ``need`` is the blob size the shape's references need (-1: the row has no blob);
    ``static`` maps the fields whose value the shape alone fixes (no blob reference) to
    that value as scanned, for readers that must not fill the entry (the lean
    trampoline: ``function`` and ``response``); it is never handed out, ``fill`` builds
    fresh values."""

    __slots__ = ("cls", "fields", "need", "static")

    def __init__(
        self,
        cls: type[Any],
        fields: Callable[[bytes | None, str], dict[str, Any]],
        need: int,
        static: dict[str, Any],
    ) -> None:
        self.cls = cls
        self.fields = fields
        self.need = need
        self.static = static

    def entry(self, blob: bytes | None, tail: str) -> Any:
        """The entry of a row of this shape, or None when its tail or blob do not fit."""
        if not plain_int_tail(tail):
            return None
        if blob is None:
            if self.need >= 0:
                return None
        elif self.need < 0:
            return None
        else:
            if type(blob) is not bytes:
                blob = bytes(blob)
            if len(blob) < self.need:
                return None
        entry = _new(self.cls)
        _set(entry, LAZY, (self, blob, tail))
        return entry

    def fill(self, entry: Any, lazy: tuple[Any, bytes | None, str]) -> None:
        """Give ``entry`` its fields (fresh values, as json's path decodes them)."""
        held = entry.__dict__
        if held.get(LAZY) is lazy:  # not filled meanwhile (another thread)
            held.update(self.fields(lazy[1], lazy[2]))
            held.pop(LAZY, None)  # after the fields: a concurrent reader finds one or other


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
        # A Builder or LazyShape, None (json's path) or _ONCE.
        self.builders: dict[str, Any] = {}

    def decode(self, head: str, blob: bytes | None) -> Any:
        """The entry of a row in the list form, or None (the caller decodes it)."""
        if not head.startswith(REPEATING):
            return None  # its own ids in every row: tracking its shape only costs
        shape, _, tail = head.rpartition(",")
        if not plain_int_tail(tail) or not shape:
            return None
        builder = self.builders.get(shape, _UNSEEN)
        if builder is _ONCE:
            # Seen before: a shape that repeats. (A row with its own id, such as an
            # invocation's start, is seen once: making it a builder would cost more
            # than scanning it.)
            builder = self.builders[shape] = self._learn(head, int(tail[:-1]))
        elif builder is _UNSEEN:
            if len(self.builders) >= SHAPES_KEPT:
                self.builders.clear()
            self.builders[shape] = _ONCE
            return None
        if builder is None:
            return None
        if type(builder) is LazyShape:
            return builder.entry(blob, tail)
        built: Any = builder(blob, tail)
        return built

    def decode_all(
        self, rows: Iterable[tuple[str, bytes | None]], slow: Callable[[str, Any], Any]
    ) -> list[Any]:
        """The entries of many rows, in order: a row whose shape has a builder is built in
        this loop (no call of :meth:`decode`), any other goes to ``slow(head, blob)`` (the
        codec's decode_row: :meth:`decode`, then json's path).

        The same decision as :meth:`decode`: a shape with a builder was learned from a
        row that started with one of :data:`REPEATING` (every row of that shape does:
        the shape runs up to its last comma); the trailing value and the blob are checked
        as :meth:`LazyShape.entry` and the builders check them, and a row that fails goes
        to ``slow``."""
        get = self.builders.get
        out: list[Any] = []
        append = out.append
        lazy_type, new, put, lazy_key, digits = LazyShape, _new, _set, LAZY, _DIGITS
        # The lazy shape of the row before, with its comma: consecutive rows mostly share
        # one (a run of stdout writes), and a row that starts with it needs no rpartition
        # and no dict lookup (the shape's copy and its hash were ~0.2 us of ~1.9 a row).
        # The same shape rpartition finds: the tail checked below is digits and "]", so
        # the comma before it is the row's last.
        prefix, cut = "\0", 1
        last: Any = None
        for head, blob in rows:
            if head.startswith(prefix):
                builder = last
                tail = head[cut:]
            else:
                shape, _, tail = head.rpartition(",")
                builder = get(shape)
                if type(builder) is lazy_type:
                    prefix, cut, last = shape + ",", len(shape) + 1, builder
            if type(builder) is lazy_type:
                # LazyShape.entry, inline (this loop is most of reading a long oplog): the
                # tail is plain_int_tail, the blob holds what the shape refers to (a
                # memoryview goes to ``slow``).
                need = builder.need
                if (
                    tail.lstrip(digits) == "]"
                    and tail != "]"
                    and (tail[0] != "0" or tail == "0]")  # json reads no leading zero
                    and ((type(blob) is bytes and len(blob) >= need) if need >= 0 else blob is None)
                ):
                    entry = new(builder.cls)
                    put(entry, lazy_key, (builder, blob, tail))
                    append(entry)
                    continue
            elif builder is not None and builder is not _ONCE:
                entry = builder(blob, tail)
                if entry is not None:
                    append(entry)
                    continue
            append(slow(head, blob))
        return out

    def _learn(self, head: str, timestamp: int) -> Builder | LazyShape | None:
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
_new = object.__new__
# Past a frozen dataclass's __setattr__, into the instance's inline values (no __dict__
# object made: one container fewer per entry for the allocator and the cyclic GC).
_set = object.__setattr__
_DIGITS = "0123456789"


def plain_int_tail(tail: str) -> bool:
    """Whether ``tail`` (a head after its last comma) is a JSON integer json reads as the
    array's last value, then "]": ascii digits (int() alone also takes " 7", "+7", "1_0"
    and other scripts' digits), no leading zero."""
    return tail.lstrip(_DIGITS) == "]" and tail != "]" and (tail[0] != "0" or tail == "0]")


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


def _generate(
    cls: type[Any], names: tuple[str, ...], middle: list[Any]
) -> Builder | LazyShape | None:
    """The builder of a shape whose values but the last are ``middle``: for a
    :class:`~host.oplog.LazyFields` type a :class:`LazyShape` (its ``fields`` generated),
    else a function building the entry."""
    src = _Source()
    static: dict[str, Any] = {}
    fields = []
    for name, value in zip(names, middle, strict=False):
        refs = src.refs
        expr = src.expr(value)
        if expr is None:
            return None
        fields.append(expr)
        if src.refs == refs:
            static[name] = value
    items = [f"{src.const(n)}:{f}" for n, f in zip(names, fields, strict=False)]
    items.append(f"{src.const(names[-1])}:int(tail[:-1])")
    need = src.need if src.refs else -1
    if issubclass(cls, LazyFields):
        code = f"def fields(blob, tail):\n    return {{{','.join(items)}}}\n"
        made = _compile(code, cls, src)
        return LazyShape(cls, made, need, static)
    # The tail must be plain_int_tail's. A row with references needs a blob holding them;
    # one without takes no blob (else json's path decides, as it always did).
    if src.refs:
        check = (
            "    if blob is None:\n"
            "        return None\n"
            "    if type(blob) is not bytes:\n"
            "        blob = bytes(blob)\n"
            f"    if len(blob) < {need}:\n"
            "        return None\n"
        )
    else:
        check = "    if blob is not None:\n        return None\n"
    cls_name, new = src.const(cls), src.const(object.__new__)
    code = (
        "def build(blob, tail):\n"
        "    if not plain_int_tail(tail):\n"
        "        return None\n"
        f"{check}"
        f"    entry = {new}({cls_name})\n"
        f"    entry.__dict__.update({{{','.join(items)}}})\n"
        "    return entry\n"
    )
    built: Builder = _compile(code, cls, src)
    return built


def _compile(code: str, cls: type[Any], src: _Source) -> Any:
    namespace: dict[str, Any] = dict(src.consts, plain_int_tail=plain_int_tail)
    exec(compile(code, f"<oplog row shape of {cls.__name__}>", "exec"), namespace)  # noqa: S102
    return namespace["fields" if "def fields" in code else "build"]
