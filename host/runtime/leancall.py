"""Host imports through one lean ctypes trampoline, with replayed calls answered in place.

A replayed host call used to cost ~95 us, ~65 us of it wasmtime-py's per-call machinery
and our own generic path: a ``StoreContext`` and a ``ResourceAny``/``ResourceHost`` object
pair per borrowed handle (each freed through FFI by ``__del__``), every argument lifted and
converted to the value layer although replay never looks at it, then the recorded JSON
response decoded (``from_json``), converted back (``to_wasmtime``) and lowered. A probe of
the C trampoline alone (``scripts/bench_trampoline.py``) costs ~3 us per call.

:func:`add_func` registers a host import with its own trampoline
(``wasmtime_component_linker_instance_add_func``, the C callback type
``wasmtime_component_func_callback_t``) that:

- releases borrowed and owned handles of plain ``resource`` parameters straight through the
  C API (``resource_any_to_host``, ``resource_host_rep``, ``resource_host_delete``: what
  ``ResourceAny.to_host`` and the objects' finalizers do) and finds the host object by its
  rep, as :func:`host.runtime.linking._lift` does;
- while the agent replays, answers a call whose recorded entry is at the cursor without
  lifting other arguments: it makes exactly the checks :func:`host.replay.host_call` makes
  for such a call (the entry is a ``HostCall`` of this function, not deleted, not under
  persist-nothing, within the deadline), moves the cursor, and writes the recorded response
  into the result slot from a per-function cache keyed by the response's JSON (small
  scalar-shaped responses only; a pointer-free value such as ``result<_, E>``'s ``ok`` is
  copied as its 32 bytes);
- answers an entry read lazily (``host.oplog.LazyFields``, a HostCall row of a known
  shape) from the answer kept for its row shape, without decoding it: the shape fixes the
  function and the response (one holding the row's bytes is decoded first);
- does everything else (live calls, kinds that run on replay, journaled and routed
  functions whose chosen kind needs it, any check that fails) the way
  :mod:`host.runtime.fastvalues` and :mod:`host.runtime.linking` always did, with the
  arguments lifted, so a divergence or a bad argument reports exactly as before.

It relies on the wasmtime (PyPI) release :data:`host.runtime.fastvalues.WRITTEN_FOR`, like
fastvalues (the linker uses it only when fastvalues is enabled).
"""

from __future__ import annotations

import ctypes
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import wasmtime
from wasmtime import _ffi as ffi
from wasmtime import component as wc
from wasmtime._slab import Slab
from wasmtime.component._enter import catch_exceptions

from host.oplog import HostCall
from host.replay import PERSIST_NOTHING, HostFunc, Kind, has_resource
from host.runtime import fastvalues
from host.runtime.session import _current
from host.runtime.typeconv import to_wasmtime
from host.values import from_json
from host.values.types import FuncSig, ResourceT, WitType

_Val = ffi.wasmtime_component_val_t
_VAL_SIZE = ctypes.sizeof(_Val)
_PAYLOAD_AT = _Val.of.offset  # the union after the one-byte kind
_VP = ctypes.c_void_p
_ValPtr = ctypes.POINTER(_Val)
_CtxPtr = ctypes.POINTER(ffi.wasmtime_context_t)


# The same library loaded as a PyDLL: its functions keep the GIL. For the three short C
# calls below (no Python callback, nothing blocking) releasing and re-taking the GIL
# around each one cost more than the call itself.
_KEEP_GIL = ctypes.PyDLL(ffi.dll._name)


def _c_function(name: str, restype: Any, *argtypes: Any) -> Any:
    """A new ctypes prototype of a C API function taking plain addresses (wasmtime-py's
    own prototypes build a pointer object per argument), called with the GIL held."""
    function = _KEEP_GIL[name]
    function.restype = restype
    function.argtypes = argtypes
    return function


# Every aligned 64-bit word of the address space, read by index (address >> 3): one
# indexing instead of a ``c_void_p.from_address(...)`` object per read (0.1 us, not 0.5).
# Only ever indexed with addresses wasmtime hands the callback (its value array).
_WORDS: Any = (ctypes.c_uint64 * (sys.maxsize // 8)).from_address(0)  # (slices take tuples)
assert _VAL_SIZE % 8 == 0 and _PAYLOAD_AT % 8 == 0  # an argument's payload is a word
_VAL_WORDS = _VAL_SIZE // 8
# The same words as a memoryview: an answer's C value, kept as a memoryview of its words,
# is written as one buffer-to-buffer slice store (a memcpy, ~0.32 us) instead of a store
# of a tuple of ints (each converted, ~0.41 us). Only ever indexed with the result slot
# wasmtime hands the callback.
_WORDS_VIEW: Any = memoryview(_WORDS).cast("B").cast("Q")


_to_host = _c_function("wasmtime_component_resource_any_to_host", _VP, _VP, _VP, _VP)
_host_rep = _c_function("wasmtime_component_resource_host_rep", ctypes.c_uint32, _VP)
_host_delete = _c_function("wasmtime_component_resource_host_delete", None, _VP)
# wasmtime_component_func_callback_t with every pointer as an address: ctypes hands the
# callback ints instead of a pointer object per parameter. The same C signature.
_Callback = ctypes.CFUNCTYPE(
    ctypes.c_size_t, _VP, _VP, _VP, _VP, ctypes.c_size_t, _VP, ctypes.c_size_t
)

# Kinds whose C value holds no pointer: such an answer is copied as its bytes.
_SCALARS = frozenset(
    int(getattr(ffi, f"WASMTIME_COMPONENT_{k}").value)
    for k in ("BOOL", "S8", "U8", "S16", "U16", "S32", "U32", "S64", "U64", "F32", "F64", "CHAR")
)
_RESULT = int(ffi.WASMTIME_COMPONENT_RESULT.value)
_OPTION = int(ffi.WASMTIME_COMPONENT_OPTION.value)

ANSWER_CACHE_SIZE = 256  # distinct recorded responses (and row shapes) kept per function
# An answer ready to write: the words of a pointer-free C value (a memoryview of format
# "Q", copied as they are) or None, and wasmtime-py's form of the value (lowered afresh
# when there are no words).
Ready = tuple[memoryview | None, Any]
_NOTHING: Ready = (None, None)  # the answer of a call with no result
_monotonic_ns = time.monotonic_ns

# Lifted-argument runner: linking's record-or-replay path on the value layer's arguments.
Run = Callable[[Any, Any, list[Any]], Any]
# One argument of a type that is not a plain resource: (session, store, raw, type) -> value.
LiftArg = Callable[[Any, Any, Any, WitType], Any]


# (answered in the trampoline, gone the general way): a list item is the cheapest counter
# to bump from the callback (a class attribute cost 0.2 us a call).
_COUNTS = [0, 0]


class _Counted(type):
    @property
    def answered(cls) -> int:
        """Replayed calls answered in the trampoline itself."""
        return _COUNTS[0]

    @property
    def general(cls) -> int:
        """Calls that went the general way."""
        return _COUNTS[1]


class Stats(metaclass=_Counted):
    """How many host calls each path took (tests check the fast one was taken):
    ``Stats.answered``, ``Stats.general``."""


def _response_key(value: Any) -> Any:
    """A hashable key naming the JSON ``value`` exactly, or None for one not worth caching
    (floats: ``0.0 == -0.0``; bytes, lists, records: large or one-off)."""
    t = type(value)
    if value is None or t is bool or t is int or t is str:
        return (t, value)
    if t is dict and len(value) == 1:
        ((name, inner),) = value.items()
        inner_key = _response_key(inner)
        return None if inner_key is None else (dict, name, inner_key)
    return None


class Answers:
    """Recorded responses of one result type, ready to write into a result slot: the
    32 bytes of a pointer-free C value, or wasmtime-py's form for the lowerer."""

    def __init__(self, ty: WitType) -> None:
        self.ty = ty
        self.lower = fastvalues._lowerer(ty)
        self.cache: dict[Any, Ready] = {}

    def prepare(self, response: Any) -> Ready:
        """(the C value's words or None, wasmtime-py form) of a recorded response: what
        ``to_wasmtime(from_json(response, ty, compact_bytes=True), ty)`` lowers to."""
        form = to_wasmtime(from_json(response, self.ty, compact_bytes=True), self.ty)
        probe = _Val()
        self.lower(None, form, probe)
        if probe.kind in _SCALARS or (
            (probe.kind == _RESULT and not probe.of.result.val)
            or (probe.kind == _OPTION and not probe.of.option)
        ):
            value = ctypes.string_at(ctypes.addressof(probe), _VAL_SIZE)
            return memoryview(value).cast("Q"), form
        ffi.wasmtime_component_val_delete(ctypes.byref(probe))
        return None, form

    def ready(self, response: Any) -> Ready:
        """What :meth:`put` writes for the recorded ``response`` (raises when it does not
        convert), from the cache where the response is cached."""
        key: Any = None
        if type(response) is dict and len(response) == 1:  # {"ok": null}: the usual answer
            for name, inner in response.items():
                if inner is None:
                    key = (dict, name, (type(None), None))
        if key is None:
            key = _response_key(response)
        ready = None if key is None else self.cache.get(key)
        if ready is None:
            ready = self.prepare(response)
            if key is not None and len(self.cache) < ANSWER_CACHE_SIZE:
                self.cache[key] = ready
        return ready

    def put(self, ready: Ready, results: int) -> None:
        """Write an answer :meth:`ready` made into the C value at address ``results``."""
        words, form = ready
        if words is not None:
            at = results >> 3
            _WORDS_VIEW[at : at + _VAL_WORDS] = words
        else:
            self.lower(None, form, _Val.from_address(results))

    def write(self, response: Any, results: int) -> None:
        """Write the recorded ``response`` into the C value at address ``results`` (raises,
        writing nothing, when it does not convert)."""
        self.put(self.ready(response), results)


class _Import:
    """One registered host import and what its trampoline needs, computed once."""

    def __init__(
        self,
        sig: FuncSig,
        spec: HostFunc,
        choose: Callable[[Sequence[Any]], HostFunc] | None,
        run: Run,
        lift_arg: LiftArg,
    ) -> None:
        self.name = sig.name
        self.spec = spec
        self.choose = choose
        self.run = run
        types = sig.param_types
        self.nargs = len(types)
        self.nresults = 0 if sig.result is None else 1
        # Positions of plain resource parameters (released through the C API); the others
        # are lifted by fastvalues, then by lift_arg (linking's _lift).
        self.plain = tuple(i for i, t in enumerate(types) if isinstance(t, ResourceT))
        self.first_only = self.plain == (0,)
        self.others = tuple(
            (i, fastvalues._lifter(t), t)
            for i, t in enumerate(types)
            if not isinstance(t, ResourceT)
        )
        self.lift_arg = lift_arg
        self.lower = None if sig.result is None else fastvalues._lowerer(sig.result)
        self.answers = None if sig.result is None else Answers(sig.result)
        # Answerable in the trampoline: the result holds no resource (no host object to
        # rebuild), and every parameter is a plain resource or holds none; the kind is
        # checked per call (a routed function chooses it from its first argument).
        self.answerable = not has_resource(sig.result) and all(
            isinstance(t, ResourceT) or not has_resource(t) for t in types
        )
        if choose is not None and self.plain[:1] != (0,):
            self.answerable = False  # the chooser reads the first argument, a resource
        self.spec_answerable = _answerable(spec)
        self.last_chosen: tuple[HostFunc | None, bool] = (None, False)
        # A chooser marked ``by_type`` picks by the argument's type alone (stream_router's):
        # its answer for the type of the last call is kept, not asked again per call.
        self.by_type = bool(getattr(choose, "by_type", False))
        self.last_type: tuple[type | None, bool] = (None, False)
        # Answers by the row shape of a lazily decoded entry (host.oplog_rowshape).
        self.by_shape: dict[Any, Ready] = {}

    def objects(self, session: Any, ctx: int, args: int) -> list[Any]:
        """The host objects of the plain resource arguments (in :attr:`plain` order), their
        handles released: what ``ResourceAny.to_host`` and linking's ``_lift`` do."""
        found = []
        for i in self.plain:
            handle = _VP.from_address(args + i * _VAL_SIZE + _PAYLOAD_AT).value
            out = _VP()
            err = _to_host(ctx, handle, ctypes.byref(out))
            if err:
                raise _error(err)
            rep = _host_rep(out.value)
            _host_delete(out.value)
            found.append(session.resources.get(rep))
        return found

    def chooses_answerable(self, first: Any) -> bool:
        """Whether the kind the routed chooser picks for ``first`` is answered from the
        record (the answer for a ``by_type`` chooser is kept for the argument's type)."""
        kind, answerable = self.last_type
        if kind is type(first) and self.by_type:
            return answerable
        chosen = self.choose((first,))  # type: ignore[misc]  # only called when routed
        last, answerable = self.last_chosen  # the same HostFunc, call after call
        if chosen is not last:
            answerable = _answerable(chosen)
            self.last_chosen = (chosen, answerable)
        if self.by_type:
            self.last_type = (type(first), answerable)
        return answerable

    def ready_for(self, entry: HostCall) -> Ready | None:
        """The answer to this call from ``entry`` (a HostCall at the cursor), or None when
        it is not this function's or its response does not convert (the general path
        then reports the divergence or the damage)."""
        lazy = entry._lazy
        if lazy is not None:
            # Not decoded yet (host.oplog.LazyFields): its shape fixes the function and,
            # unless the response holds bytes of the row, the response; answered from
            # the shape's own copy of them without decoding the entry.
            ready = self.by_shape.get(lazy[0])
            if ready is None:
                ready = self._shape_answer(lazy[0])
            if ready is not None or lazy[0].static.get("function") != self.name:
                return ready
            # A response with the row's bytes in it (random bytes): from the fields.
        if entry.function != self.name:
            return None
        if self.answers is None:
            return _NOTHING
        try:
            return self.answers.ready(entry.response)
        except Exception:
            return None

    def _shape_answer(self, shape: Any) -> Ready | None:
        """The answer to a call whose entry is a lazy row of ``shape`` (kept per shape),
        or None when the shape alone does not give it: another function's, a response
        with the row's bytes in it (decoded with the entry), one that does not convert."""
        static = shape.static
        if static.get("function") != self.name:
            return None
        if self.answers is None:
            ready: Ready = _NOTHING
        elif "response" not in static:
            return None
        else:
            try:
                ready = self.answers.ready(static["response"])
            except Exception:
                return None
        if len(self.by_shape) >= ANSWER_CACHE_SIZE:
            self.by_shape.clear()
        self.by_shape[shape] = ready
        return ready

    def general(
        self, store: Any, session: Any, args: Any, results: Any, objects: list[Any]
    ) -> None:
        """linking's dispatch on lifted arguments, the result lowered into ``results``."""
        lifted: list[Any] = [None] * self.nargs
        for i, obj in zip(self.plain, objects, strict=True):
            lifted[i] = obj
        raw = [(i, lift(args[i]), ty) for i, lift, ty in self.others]
        try:
            for i, value, ty in raw:
                lifted[i] = self.lift_arg(session, store, value, ty)
        except Exception as exc:
            session.raised = exc
            raise wasmtime.WasmtimeError(f"host call {self.name} raised {exc!r}") from None
        result = self.run(session, store, lifted)
        if self.lower is not None:
            self.lower(store, result, results[0])  # Rust takes the result from here


def _answerable(spec: HostFunc) -> bool:
    """Whether a call of ``spec``'s kind is answered from its recorded response alone on
    replay (host_call's READ and EFFECT path, with no replay, rebuild or resume hook: a
    resumed call's recorded response is not the value itself, host.replay.HostFunc)."""
    return (
        (spec.kind is Kind.READ or spec.kind is Kind.EFFECT)
        and not spec.remote_write
        and spec.replay is None
        and spec.rebuild is None
        and spec.resume is None
    )


_IMPORTS: Slab[_Import] = Slab()
_HANDLES = _IMPORTS.handles  # the same dict, one attribute lookup fewer per call
_NO_OBJECTS: list[Any] = []


def add_func(
    instance: wc.LinkerInstance,
    name: str,
    sig: FuncSig,
    spec: HostFunc,
    run: Run,
    lift_arg: LiftArg,
    choose: Callable[[Sequence[Any]], HostFunc] | None = None,
) -> None:
    """Define ``name`` in ``instance``: ``run(session, store, args)`` on lifted arguments
    (linking's record-or-replay path, which raises WasmtimeError naming the call), unless
    the call is a replayed one :meth:`_Import.answer` can answer. ``choose``: a routed
    function's chooser (called with its first argument)."""
    instance._assert_not_locked()
    idx = _IMPORTS.allocate(_Import(sig, spec, choose, run, lift_arg))
    fastvalues.define(instance, name, _trampoline, idx, _finalize)


def _error(address: int) -> wasmtime.WasmtimeError:
    """The WasmtimeError a C call returned (as an address), now owned by Python."""
    return wasmtime.WasmtimeError._from_ptr(
        ctypes.cast(address, ctypes.POINTER(ffi.wasmtime_error_t))
    )


def _failed(session: Any, imp: _Import, exc: Exception) -> int:
    """What linking's callback does with an exception: keep it in the session, trap."""
    if session is not None:
        session.raised = exc
    error = wasmtime.WasmtimeError(f"host call {imp.name} raised {exc!r}")
    return ctypes.cast(error._consume(), ctypes.c_void_p).value or 0


@_Callback
def _lean(idx, ctx, _ty, args, nargs, results, nresults):  # type: ignore[no-untyped-def]
    imp = _HANDLES[idx]
    session = getattr(_current, "session", None)
    if session is None or nargs != imp.nargs or nresults != imp.nresults:
        return catch_exceptions(_ctx(ctx), lambda store: _unexpected(imp, session))
    try:
        if imp.first_only:  # a method of a host resource: its handle, inline
            # The session's own out-parameter (one thread at a time) and lookup.
            scratch = session.lean_scratch
            if scratch is None:
                out = _VP()
                scratch = session.lean_scratch = (
                    out,
                    ctypes.addressof(out),
                    session.resources.find,
                )
            out, where, find = scratch
            err = _to_host(ctx, _WORDS[(args + _PAYLOAD_AT) >> 3], where)
            if err:
                raise _error(err)
            host = out.value
            rep = _host_rep(host)
            _host_delete(host)
            first = find(rep)
            if first is None:
                first = session.resources.get(rep)  # raises, naming the handle
            objects: list[Any] | None = None
        elif imp.plain:
            objects = imp.objects(session, ctx, args)
            first = objects[0]
        else:
            objects, first = _NO_OBJECTS, None
    except Exception as exc:
        return _failed(session, imp, exc)
    cursor = session.cursor
    entries = session.entries
    if imp.answerable and cursor < len(entries):
        # Answer from the entry at the cursor, making exactly host_call's checks for such a
        # call (inline: a method call per replayed call cost ~0.3 us of ~10).
        if imp.choose is None:
            answerable = imp.spec_answerable
        else:
            kind, answerable = imp.last_type  # a by_type chooser's answer for this type
            if kind is not type(first) or not imp.by_type:
                try:
                    answerable = imp.chooses_answerable(first)
                except Exception as exc:  # a chooser that raised: as the general path would
                    return _failed(session, imp, exc)
        entry = entries[cursor]
        if (
            answerable
            and session.persistence_level != PERSIST_NOTHING  # session.persist_nothing
            and not session.scratch
            and type(entry) is HostCall  # not a marker, a divergence, ...
        ):
            lazy = entry._lazy
            ready = None if lazy is None else imp.by_shape.get(lazy[0])
            if ready is None:
                ready = imp.ready_for(entry)
            deadline = session.deadline_ns
            if (
                ready is not None
                and not (session.deleted and session.is_deleted(cursor + 1))
                and (deadline is None or _monotonic_ns() <= deadline)
            ):
                answers = imp.answers
                if answers is not None:
                    words, form = ready
                    if words is not None:  # one slice store (a memmove call cost 1 us)
                        at = results >> 3
                        _WORDS_VIEW[at : at + _VAL_WORDS] = words
                    else:
                        answers.lower(None, form, _Val.from_address(results))
                session.cursor = cursor + 1
                _COUNTS[0] += 1
                return 0
    _COUNTS[1] += 1
    if objects is None:
        objects = [first]
    args_p, results_p = ctypes.cast(args, _ValPtr), ctypes.cast(results, _ValPtr)
    return catch_exceptions(
        _ctx(ctx), lambda store: imp.general(store, session, args_p, results_p, objects)
    )


_trampoline = ctypes.cast(_lean, ffi.wasmtime_component_func_callback_t)


def _ctx(address: int) -> Any:
    return ctypes.cast(address, _CtxPtr)


def _unexpected(imp: _Import, session: Any) -> None:
    if session is None:
        raise RuntimeError("a host function was called with no agent session active")
    raise wasmtime.WasmtimeError(f"host function {imp.name} called with an unexpected signature")


@ctypes.CFUNCTYPE(None, ctypes.c_void_p)
def _finalize(idx):  # type: ignore[no-untyped-def]
    if _IMPORTS:
        _IMPORTS.deallocate(idx or 0)
