#!/usr/bin/env python3
"""Figures for large promise payloads (issue 13: 1 MiB end to end in <= 100 ms), printed,
never asserted; the fast value path beside wasmtime-py's stock one in the same run.

1. Conversion, in this process (CPU time of the one thread doing it, so other load on the
   machine does not count): a 1 MiB ``list<u8>`` lowered (host -> guest value) and
   lifted (guest -> host value) by ``host.runtime.fastvalues`` and by wasmtime-py's own
   ``ValType.convert_to_c``/``convert_from_c``; then whole calls of a WAT echo component
   (``echo``: the bytes in and out as an export's parameter and result; ``via``: the
   guest hands them to a host import that returns them).
2. End to end over REST: a real ``agent-host serve`` on a free loopback port per path (the
   stock one started with ``AGENT_HOST_FASTPATH=0``), a WAT guest (the promises fixture
   plus ``create-and-await-size``: create a promise, await it, return the payload's
   length). Per round a fresh agent is suspended on its promise under a held
   ``invoke-and-await``; the time runs from sending the 1 MiB completion (raw
   ``application/octet-stream``, or Golem's JSON array, encoded before the clock starts)
   until the held response with the guest's answer arrives, so it covers storing the
   payload, resuming the agent and handing it the bytes. Beside it, the CPU time the
   server process spent in the round (all its threads, from /proc): about what the round
   would take on an idle machine, less the waits for fsync.

    .venv/bin/python scripts/bench_payload.py [--size 1048576] [--rounds 5]
        [--stock-rounds 2] [--threads 2] [--repeat 5] [--compare REV]

``--compare REV`` first runs the REST part against revision REV (a temporary worktree;
its servers run that revision's code) in the same run. The breakdown of one completion's
time is scripts/trace_payload.py's.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import version
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
import wasmtime  # noqa: E402
from wasmtime import _ffi as ffi  # noqa: E402
from wasmtime import component as wc  # noqa: E402

from host.conformance.build import wasm_tools  # noqa: E402
from host.runtime import fastvalues, malloc  # noqa: E402
from host.runtime.typeconv import func_sig  # noqa: E402
from host.values import U8, ListT  # noqa: E402
from scripts.benchlib import run_baseline  # noqa: E402
from tests.fixtures.payload_guest import payload_size_guest  # noqa: E402
from tests.server_util import Api, Server, add_component  # noqa: E402

GOAL_S = 0.100
BYTES = ListT(U8)

ECHO_WIT = """package bench:echo;
world echo {
  import host-bytes: func(b: list<u8>) -> list<u8>;
  export echo: func(b: list<u8>) -> list<u8>;
  export via: func(b: list<u8>) -> list<u8>;
}
"""
ECHO_WAT = """(module
  (import "$root" "host-bytes" (func $host (param i32 i32 i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (func (export "cabi_realloc") (param i32 i32) (param $align i32) (param $size i32)
    (result i32) (local $ret i32)
    (local.set $ret (i32.and (i32.add (global.get $heap)
      (i32.sub (local.get $align) (i32.const 1))) (i32.sub (i32.const 0) (local.get $align))))
    (global.set $heap (i32.add (local.get $ret) (local.get $size)))
    (block $fits
      (br_if $fits (i32.le_u (global.get $heap) (i32.shl (memory.size) (i32.const 16))))
      (drop (memory.grow (i32.add (i32.const 1) (i32.shr_u
        (i32.sub (global.get $heap) (i32.shl (memory.size) (i32.const 16)))
        (i32.const 16))))))
    (local.get $ret))
  (func (export "echo") (param i32 i32) (result i32)
    (i32.store offset=16 (i32.const 0) (local.get 0))
    (i32.store offset=20 (i32.const 0) (local.get 1))
    (i32.const 16))
  (func (export "via") (param i32 i32) (result i32)
    (call $host (local.get 0) (local.get 1) (i32.const 256))
    (i32.const 256)))
"""


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


def _best(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.thread_time()
        fn()
        times.append(time.thread_time() - t0)
    return min(times)


# --- 1. conversion in process --------------------------------------------------------------


def _echo_component(tmp: Path) -> tuple[wasmtime.Engine, wc.Component]:
    (tmp / "echo.wit").write_text(ECHO_WIT)
    (tmp / "echo.wat").write_text(ECHO_WAT)
    tool = wasm_tools()
    subprocess.run(
        [tool, "component", "embed", "echo.wit", "echo.wat", "--world", "echo", "-o", "c.wasm"],
        cwd=tmp,
        check=True,
    )
    subprocess.run([tool, "component", "new", "c.wasm", "-o", "echo.wasm"], cwd=tmp, check=True)
    engine = wasmtime.Engine()
    return engine, wc.Component(engine, (tmp / "echo.wasm").read_bytes())


def conversions(tmp: Path, size: int, repeat: int) -> None:
    engine, component = _echo_component(tmp)
    data = os.urandom(size)
    print(
        f"\n-- conversion of a {size}-byte list<u8>, in process (CPU time of this thread, "
        f"where wasm runs too; best of {repeat}) --"
    )

    def instance(fast: bool) -> tuple[wasmtime.Store, wc.Instance, dict[str, Any]]:
        imported = component.type.imports(engine)["host-bytes"].ty
        assert isinstance(imported, wc.FuncType)
        linker = wc.Linker(engine)
        with linker.root() as root:
            fastvalues.add_func(
                root, "host-bytes", lambda _s, b: b, func_sig("h", imported), fast=fast
            )
        store = wasmtime.Store(engine)
        inst = linker.instantiate(store, component)
        funcs = {}
        for name in ("echo", "via"):
            func = inst.get_func(store, name)
            assert func is not None
            funcs[name] = func
        return store, inst, funcs

    store, _, funcs = instance(True)
    stock_type = funcs["echo"].type(store).params[0][1]  # wasmtime-py's ListType

    def fast_lower() -> None:
        val = ffi.wasmtime_component_val_t()
        fastvalues.lower_into(store, data, BYTES, val)
        ffi.wasmtime_component_val_delete(ctypes.byref(val))

    def stock_lower() -> None:
        val = ffi.wasmtime_component_val_t()
        stock_type.convert_to_c(store, data, ctypes.pointer(val))
        ffi.wasmtime_component_val_delete(ctypes.byref(val))

    def lowered() -> Any:
        val = ffi.wasmtime_component_val_t()
        fastvalues.lower_into(store, data, BYTES, val)
        return val

    def fast_lift() -> None:
        val = lowered()
        t0 = time.thread_time()
        assert fastvalues.lift_from(val, BYTES) == data
        timed.append(time.thread_time() - t0)
        ffi.wasmtime_component_val_delete(ctypes.byref(val))

    def stock_lift() -> None:
        val = lowered()
        t0 = time.thread_time()
        assert stock_type.convert_from_c(val) == data  # frees the list itself
        timed.append(time.thread_time() - t0)

    rows = [("lower (host -> guest value)", _best(fast_lower, repeat), _best(stock_lower, 1))]
    timed: list[float] = []
    for _ in range(repeat):
        fast_lift()
    fast_lift_s, timed = min(timed), []
    stock_lift()
    rows.append(("lift (guest value -> host)", fast_lift_s, min(timed)))
    for fn in ("echo", "via"):
        per_path = []
        for fast in (True, False):
            store, _, funcs = instance(fast)
            func, sig = funcs[fn], func_sig(fn, funcs[fn].type(store))

            def call(
                func: Any = func, sig: Any = sig, fast: bool = fast, store: Any = store
            ) -> None:
                assert fastvalues.call(func, store, sig, data, fast=fast) == data
                func.post_return(store)

            per_path.append(_best(call, repeat if fast else 1))
        label = "echo call (param in, result out)" if fn == "echo" else "via call (+ host import)"
        rows.append((label, per_path[0], per_path[1]))
    print(f"{'':36}{'fast path':>12}{'stock path':>14}{'speed-up':>10}")
    for label, fast_s, stock_s in rows:
        print(f"{label:36}{_ms(fast_s):>12}{_ms(stock_s):>14}{stock_s / fast_s:9.1f}x")


# --- 2. end to end over REST ---------------------------------------------------------------


def _bench_guest(tmp: Path) -> Path:
    return payload_size_guest(tmp)


def _suspended(api: Api, name: str) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        response = api.http.get(api.path(name))
        if response.status_code == 200:
            meta = response.json()
            if meta["status"] == "Suspended" and meta["waitingOn"]:
                return int(meta["waitingOn"][0]["oplogIdx"])
            if meta["status"] == "Failed":
                raise RuntimeError(f"{name} failed: {meta['lastError']}")
        time.sleep(0.002)
    raise RuntimeError(f"{name} did not suspend")


def _cpu_s(pid: int) -> float:
    """CPU time the process's threads have run so far (schedstat: nanoseconds on a core)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass  # a thread that ended meanwhile
    return total / 1e9


def end_to_end(
    server: Server, cid: str, size: int, rounds: int, form: str, tag: str
) -> tuple[list[float], list[float]]:
    """Per round: the wall time, and the CPU time the server spent meanwhile (what the round
    would take on an idle machine, about, less the client's side and the waits in fsync)."""
    control = Api(server.client(timeout=300), cid)
    waiter = Api(server.client(timeout=300), cid)
    pool = ThreadPoolExecutor(max_workers=1)
    payload = os.urandom(size)
    times, cpu = [], []
    pid = server.proc.pid
    for i in range(rounds):
        name = f"{tag}-{form}-{i}"
        held = pool.submit(waiter.invoke_and_await, name, "create-and-await-size")
        idx = _suspended(control, name)
        path = control.path(name, "/complete")
        # Encoded before the clock starts: the client's own JSON encoding is not the host's.
        json_body = json.dumps({"oplogIdx": idx, "data": list(payload)}).encode()
        c0, t0 = _cpu_s(pid), time.perf_counter()
        if form == "octet-stream":
            answer = control.http.post(
                path,
                content=payload,
                params={"oplogIdx": idx},
                headers={"content-type": "application/octet-stream"},
            )
        else:
            answer = control.http.post(
                path, content=json_body, headers={"content-type": "application/json"}
            )
        response = held.result(timeout=600)
        times.append(time.perf_counter() - t0)
        cpu.append(_cpu_s(pid) - c0)
        if answer.text != "true" or response.status_code != 200:
            raise RuntimeError(f"{name}: complete {answer.text}, held {response.text}")
        if response.json()["result"] != size:
            raise RuntimeError(f"{name}: the guest saw {response.json()['result']} bytes")
    pool.shutdown()
    return times, cpu


def rest(tmp: Path, size: int, rounds: int, stock_rounds: int, threads: int) -> float | None:
    wasm = _bench_guest(tmp)
    results: dict[tuple[str, str], tuple[list[float], list[float]]] = {}
    for path_name, env, n in (("fast", "1", rounds), ("stock", "0", stock_rounds)):
        if n == 0:
            continue
        store = tmp / f"store-{path_name}"
        cid = add_component(store, wasm, "payload")
        os.environ["AGENT_HOST_FASTPATH"] = env  # the server inherits it
        try:
            server = Server(store, threads=threads, await_timeout=600, log=tmp / f"{path_name}.log")
            server.start()
        finally:
            os.environ.pop("AGENT_HOST_FASTPATH", None)
        try:
            end_to_end(server, cid, 1024, 2, "octet-stream", f"warm-{path_name}")
            for form in ("octet-stream", "json"):
                results[(path_name, form)] = end_to_end(server, cid, size, n, form, path_name)
        finally:
            server.stop(timeout=60)
    print(f"\n-- {size}-byte completion over REST -> the guest has the bytes --")
    print(f"{'':28}{'median':>12}{'min':>12}{'max':>12}{'server CPU':>12}  rounds")
    for (path_name, form), (times, cpu) in results.items():
        label = f"{path_name} path, {form}"
        print(
            f"{label:28}{_ms(statistics.median(times)):>12}{_ms(min(times)):>12}"
            f"{_ms(max(times)):>12}{_ms(statistics.median(cpu)):>12}  {len(times)}"
        )
    print("(server CPU: the median CPU time the server process spent during a round)")
    fast = results.get(("fast", "octet-stream"))
    return None if fast is None else statistics.median(fast[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1 << 20, help="payload bytes")
    parser.add_argument("--rounds", type=int, default=5, help="REST rounds, fast path")
    parser.add_argument("--stock-rounds", type=int, default=2, help="REST rounds, stock path")
    parser.add_argument(
        "--repeat", type=int, default=5, help="in-process repetitions (0: skip that part)"
    )
    parser.add_argument("--threads", type=int, default=2, help="the servers' --threads")
    parser.add_argument(
        "--compare", metavar="REV", help="first measure revision REV (a temporary worktree)"
    )
    parser.add_argument("--label", default="working tree", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.compare:
        run_baseline(__file__, args.compare)
    baseline = args.label != "working tree"
    tuned = malloc.tune()  # as agent-host serve does; AGENT_HOST_MALLOC_TUNE=0 to compare
    print(
        f"== {args.label} ==\n$ {' '.join([Path(sys.executable).name, *sys.argv])}\n"
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}, "
        f"Python {platform.python_version()}, wasmtime {version('wasmtime')} "
        f"(fast path {'enabled' if fastvalues.ENABLED else 'DISABLED'}), "
        f"httpx {httpx.__version__}, malloc thresholds {'raised' if tuned else 'glibc defaults'}"
    )
    tmp = Path(tempfile.mkdtemp(prefix="bench-payload-"))
    try:
        if args.repeat and not baseline:  # in process: it would measure this tree's code
            conversions(tmp, args.size, args.repeat)
        median = rest(tmp, args.size, args.rounds, args.stock_rounds, args.threads)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if median is not None:
        verdict = "MET" if median <= GOAL_S else "NOT met"
        print(
            f"\ngoal: a {args.size}-byte completion reaches the guest in <= {GOAL_S * 1000:.0f} ms "
            f"end to end: {verdict} (fast path, octet-stream, median {median * 1000:.1f} ms)"
        )


if __name__ == "__main__":
    main()
