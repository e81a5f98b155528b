"""host.runtime.leancall: replayed host calls answered in the trampoline itself.

The recorded response a replayed call writes back must be exactly what the general path
(``from_json`` -> ``to_wasmtime`` -> fastvalues' lowering) writes, for random types and
values, the first time (prepared) and every later time (from the per-function cache); and
real replays of WAT agents must take the lean path and still return what they returned
live, with divergence still detected (tests/host/test_durability.py keeps its own checks).
"""

from __future__ import annotations

import ctypes
import gc
import sqlite3
import time
import weakref
from pathlib import Path
from typing import cast

import pytest
from hypothesis import HealthCheck, assume, given, settings
from wasmtime import _ffi as ffi

from host.ids import AgentId, PromiseId
from host.oplog import LAZY, HostCall
from host.oplog_codec import decode_rows, encode_row
from host.replay import HostFunc, Kind, has_resource
from host.runtime import fastvalues
from host.runtime.leancall import Answers, Stats, _Import, _response_key
from host.runtime.typeconv import ConversionError, from_wasmtime, to_wasmtime
from host.service import HostService
from host.values import Case, ResultT, from_json, to_json
from host.values.types import F64, U8, U32, FuncSig, ListT, Prim, WitType
from tests.fixtures.build import build_fixture
from tests.wit_strategies import same, typed_values

pytestmark = pytest.mark.skipif(
    not fastvalues.ENABLED, reason="the lean trampoline runs only with the fast value path"
)

_Val = ffi.wasmtime_component_val_t


def _written(answers: Answers, response: object, ty: WitType) -> object:
    """What ``answers`` writes for ``response``, read back as a value of ``ty``."""
    slot = (_Val * 1)()
    answers.write(response, ctypes.addressof(slot))
    try:
        return from_wasmtime(fastvalues.lift_from(slot[0], ty), ty)
    finally:
        ffi.wasmtime_component_val_delete(ctypes.byref(slot[0]))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(typed_values)
def test_answers_write_what_the_general_path_lowers(case: tuple[WitType, object]) -> None:
    ty, value = case
    assume(not has_resource(ty))  # such results are never answered in the trampoline
    response = to_json(value, ty, compact_bytes=True)  # type: ignore[arg-type]
    answers = Answers(ty)
    try:
        general = to_wasmtime(from_json(response, ty, compact_bytes=True), ty)
    except ConversionError:
        # A value wasmtime-py cannot pass: the answer refuses it too (the trampoline
        # then leaves the call to the general path, which reports it).
        slot = (_Val * 1)()
        with pytest.raises(ConversionError):
            answers.write(response, ctypes.addressof(slot))
        return
    expected = from_wasmtime(general, ty)
    for _ in range(3):  # prepared once, then from the cache where the response is cached
        assert same(_written(answers, response, ty), expected)


def test_response_keys_tell_json_values_apart() -> None:
    keys = [
        _response_key(v)
        for v in (None, True, 1, 0, False, "1", "true", {"ok": None}, {"err": None}, {"ok": 1})
    ]
    assert None not in keys and len(set(keys)) == len(keys)
    # Not cached: floats (0.0 == -0.0), bytes, lists, records of several fields.
    assert _response_key(0.0) is None and _response_key({"some": -0.0}) is None
    assert _response_key({"$bytes": b"x"}) is None and _response_key([1]) is None
    assert _response_key({"seconds": 1, "nanoseconds": 2}) is None


def test_pointer_free_answers_are_cached_as_bytes_and_others_lowered_each_time() -> None:
    ok = Answers(ResultT(None, U32))
    assert _written(ok, {"ok": None}, ok.ty) == Case("ok", None)
    assert _written(ok, {"err": 7}, ok.ty) == Case("err", 7)
    words, _ = ok.cache[_response_key({"ok": None})]
    assert words is not None and len(words) * 8 == ctypes.sizeof(_Val)  # its 32 bytes
    words, form = ok.cache[_response_key({"err": 7})]
    assert words is None  # its payload is a pointer: written fresh every time
    # -0.0 and 0.0 are not confused (floats are not cached at all).
    f = Answers(F64)
    assert str(_written(f, -0.0, F64)) == "-0.0" and str(_written(f, 0.0, F64)) == "0.0"
    assert not f.cache
    s = Answers(Prim("string"))
    assert _written(s, "hi", s.ty) == "hi" and _written(s, "hi", s.ty) == "hi"


def test_a_damaged_response_is_not_answered_in_place() -> None:
    slot = (_Val * 1)()
    with pytest.raises(ValueError):
        Answers(U32).write("not a number", ctypes.addressof(slot))
    assert slot[0].kind == 0  # nothing was written


@pytest.fixture
def host(tmp_path: Path):
    h = HostService(tmp_path / "store")
    yield h
    h.close()


def test_replayed_stdout_writes_are_answered_in_the_trampoline(host: HostService) -> None:
    host.add_component(build_fixture("ticker"), name="t")
    agent, _ = host.create_agent("t", "ticker")
    assert host.invoke(agent, "tick(50, 0)").result == "50"
    host.executor.forget_instance(agent)  # the next call replays on a fresh instance
    before = Stats.answered
    assert host.invoke(agent, "tick(2, 0)").result == "2"
    assert Stats.answered - before == 50
    writes = [e for e in host.store.read_oplog(agent) if isinstance(e, HostCall)]
    assert len(writes) == 52  # the replay recorded nothing again


def test_replayed_clock_and_random_are_answered_and_identical(host: HostService) -> None:
    host.add_component(build_fixture("durable-1.3.0"), name="durable")
    agent, _ = host.create_agent("durable", "alice")
    inv = host.invoke(agent, "observe-and-await()")
    calls = [e for e in host.store.read_oplog(agent) if isinstance(e, HostCall)]
    random = next(c for c in calls if c.function.endswith("get-random-u64"))
    clock = next(c for c in calls if c.function.endswith("wall-clock@0.2.3.now"))
    (idx,) = host.store.get_agent(agent).waiting_promises
    time.sleep(0.01)
    before = Stats.answered
    assert host.complete_promise(PromiseId(agent, idx), b"ok") is True
    assert Stats.answered - before >= 2  # the random number and the clock reading
    done = host.store.get_invocation(inv.invocation_id)
    t = clock.response["seconds"] * 10**9 + clock.response["nanoseconds"]
    assert done.result == f"({random.response}, {t}, [111, 107])"


@pytest.mark.sqlite_only
def test_a_renamed_recorded_call_is_still_a_divergence(host: HostService) -> None:
    host.add_component(build_fixture("ticker"), name="t")
    agent, _ = host.create_agent("t", "ticker")
    assert host.invoke(agent, "tick(3, 0)").result == "3"
    # The second write's entry names another function: replay must stop there.
    _rename_entry(host, agent, 4)
    host.executor.forget_instance(agent)
    host.invoke(agent, "tick(1, 0)")
    record = host.store.get_agent(agent)
    assert record.status == "failed"
    assert "diverged" in (record.last_error or "") and "oplog index 4" in (record.last_error or "")


def _rename_entry(host: HostService, agent: AgentId, index: int) -> None:
    """Make the recorded write at ``index`` name ``output-stream.write`` instead."""
    head = next(h for i, h, _ in host.store.read_oplog_raw(agent) if i == index)
    assert "output-stream.blocking-write-and-flush" in head
    new = head.replace("output-stream.blocking-write-and-flush", "output-stream.write")
    with sqlite3.connect(host.store.path) as db:  # type: ignore[attr-defined]
        changed = db.execute("UPDATE oplog SET entry = ? WHERE entry = ?", (new, head)).rowcount
    assert changed == 1


def _host_calls(rows: list[tuple[str, bytes | None]]) -> list[HostCall]:
    """decode_rows of rows that all hold host calls, typed as such."""
    entries = decode_rows(rows)
    assert all(isinstance(e, HostCall) for e in entries)
    return cast(list[HostCall], entries)


def test_lazy_entries_are_answered_from_their_shape_and_filled_ones_from_their_fields() -> None:
    sig = FuncSig("f", (), ResultT(None, U32))
    imp = _Import(sig, HostFunc(lambda s: None, Kind.READ), None, lambda *a: None, lambda *a: None)
    rows = [encode_row(HostCall("f", [], {"ok": None}, i)) for i in range(3)]
    lazy = _host_calls(rows)[2]
    assert LAZY in vars(lazy)
    ready = imp.ready_for(lazy)
    assert ready is not None and ready[0] is not None  # the 32 bytes of ok
    assert LAZY in vars(lazy)  # answered without decoding it
    assert imp.ready_for(_host_calls(rows)[2]) is ready  # kept per shape
    # A reader filled the entry (and, against the rules, changed it): its fields answer.
    filled = _host_calls(rows)[2]
    filled.response.clear()
    filled.response["err"] = 7
    slot = (_Val * 1)()
    changed = imp.ready_for(filled)
    assert changed is not None and imp.answers is not None
    imp.answers.put(changed, ctypes.addressof(slot))
    try:
        result = ResultT(None, U32)
        assert from_wasmtime(fastvalues.lift_from(slot[0], result), result) == Case("err", 7)
    finally:
        ffi.wasmtime_component_val_delete(ctypes.byref(slot[0]))
    # Another function's entry, lazy or not, is not answered (the general path diverges).
    other = [encode_row(HostCall("g", [], {"ok": None}, i)) for i in range(3)]
    assert LAZY in vars(_host_calls(other)[2])
    assert imp.ready_for(_host_calls(other)[2]) is None
    assert imp.ready_for(HostCall("g", [], {"ok": None}, 1)) is None
    # A response holding the row's bytes is not in the shape: decoded, then answered.
    sig_bytes = FuncSig("b", (), ListT(U8))
    imp_bytes = _Import(
        sig_bytes, HostFunc(lambda s: None, Kind.READ), None, lambda *a: None, lambda *a: None
    )
    raw_rows = [encode_row(HostCall("b", [], {"$bytes": bytes([i]) * 2}, i)) for i in range(3)]
    with_bytes = _host_calls(raw_rows)[2]
    assert LAZY in vars(with_bytes)
    ready = imp_bytes.ready_for(with_bytes)
    assert ready is not None and LAZY not in vars(with_bytes)
    assert imp.ready_for(_host_calls(raw_rows)[2]) is None  # not f's


@pytest.mark.sqlite_only
def test_a_renamed_call_read_by_its_shape_is_still_a_divergence(host: HostService) -> None:
    host.add_component(build_fixture("ticker"), name="t")
    agent, _ = host.create_agent("t", "ticker")
    assert host.invoke(agent, "tick(3, 0)").result == "3"
    _rename_entry(host, agent, 4)
    for _ in range(2):  # the renamed row's shape is known now: it is read lazily
        entries = host.store.read_oplog(agent)
    assert isinstance(entries[3], HostCall) and LAZY in vars(entries[3])
    host.executor.forget_instance(agent)
    before = Stats.answered
    host.invoke(agent, "tick(1, 0)")
    assert Stats.answered - before == 1  # the first write only
    record = host.store.get_agent(agent)
    assert record.status == "failed"
    assert "diverged" in (record.last_error or "") and "oplog index 4" in (record.last_error or "")


def test_a_replay_answers_without_decoding_the_entries(host: HostService) -> None:
    host.add_component(build_fixture("ticker"), name="t")
    agent, _ = host.create_agent("t", "ticker")
    assert host.invoke(agent, "tick(40, 0)").result == "40"
    host.executor.forget_instance(agent)
    assert host.invoke(agent, "tick(0, 0)").result == "0"
    session = host.executor._live[agent].session
    writes = [e for e in session.entries if isinstance(e, HostCall)]
    assert len(writes) == 40
    assert sum(LAZY in vars(e) for e in writes) >= 36  # all but a shape's first sightings


def test_a_forgotten_instance_frees_its_oplog_without_the_cyclic_gc(host: HostService) -> None:
    host.add_component(build_fixture("ticker"), name="t")
    agent, _ = host.create_agent("t", "ticker")
    assert host.invoke(agent, "tick(5, 0)").result == "5"
    session = host.executor._live[agent].session
    kept = weakref.ref(session.entries[-1])
    del session
    gc.disable()  # what frees the entries must be the forget itself, not a collection
    try:
        host.executor.forget_instance(agent)
        assert kept() is None
    finally:
        gc.enable()
    assert host.invoke(agent, "tick(1, 0)").result == "1"  # replays from the store
