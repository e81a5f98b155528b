"""Guest output is capped and the deadline holds in host calls (issue "Nothing lost,
nobody let in, part 2", F15): a stdout flood used to write tens of MB into the oplog
before its deadline stopped it. Now an invocation may write at most ``max_output_bytes``
to stdout and stderr (the write past it fails the invocation, naming the limit), and a
host call past the invocation's wall-clock deadline fails it (the epoch deadline only
interrupts wasm code)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from host.limits import Limits
from host.oplog import AgentCreated, InvocationFailed
from host.runtime import wasi
from host.runtime.linking import _run
from host.runtime.session import LimitExceeded, Session
from host.service import HostService
from host.store import open_store
from host.store.sqlite import SqliteStore
from host.values import U8, ListT, ResourceT, ResultT
from host.values.types import FuncSig
from tests.fixtures.build import build_fixture

MIB = 1 << 20


def _oplog_bytes(data_dir: Path) -> int:
    store = open_store(data_dir)
    try:
        agents = [a.agent for a in store.list_agents()]
        return sum(len(head) for a in agents for _, head, _ in store.read_oplog_raw(a))
    finally:
        store.close()


def test_default_output_limit_is_16_mib() -> None:
    assert Limits().max_output_bytes == 16 * MIB


@pytest.mark.parametrize("export", ["flood", "flood-err"])
def test_output_past_max_output_bytes_fails_the_invocation(data_dir: Path, export: str) -> None:
    seen: list[bytes] = []
    host = HostService(data_dir, output=lambda agent, stream, data: seen.append(data))
    try:
        host.add_component(build_fixture("output"), name="output")
        agent, _ = host.create_agent("output", "flood")
        host.set_limits(str(agent), {"max_output_bytes": 200_000})
        within = host.invoke(agent, f"{export}(200000, 65536)")
        assert (within.state, within.result) == ("done", "200000")
        # The limit is per invocation: the next one may write as much again, and no more.
        started = time.monotonic()
        flood = host.invoke(agent, f"{export}({64 * MIB}, 65536)")
        assert time.monotonic() - started < 30
        assert flood.state == "failed"
        assert "max_output_bytes" in (flood.error or "") and "200000" in (flood.error or "")
        assert isinstance(host.store.read_oplog(agent)[-1], InvocationFailed)
        assert sum(map(len, seen)) == 200_000 + 3 * 65536  # the 4th chunk would go past
    finally:
        host.close()
    assert _oplog_bytes(data_dir) < 4 * 200_000  # not 64 MiB of numbers


def test_limits_set_max_output(cli: Callable[..., Any]) -> None:
    cid = cli("component", "add", str(build_fixture("output")), "--name", "output")
    assert cid.exit_code == 0, cid.stdout
    done = cli("limits", "set", "output", "--max-output", "1234")
    assert done.exit_code == 0 and "max_output_bytes=1234" in done.stdout, done.stdout
    shown = cli("limits", "show", "output")
    assert "max_output_bytes: 1234" in shown.stdout
    refused = cli("limits", "set", "output", "--max-output", "0")
    assert refused.exit_code != 0


WRITE = FuncSig(
    "wasi:io/streams@0.2.3.[method]output-stream.blocking-write-and-flush",
    (("self", ResourceT("output-stream")), ("contents", ListT(U8))),
    ResultT(ok=None, err=None),
)


def test_a_host_call_past_the_deadline_fails_even_though_no_wasm_runs(tmp_path: Path) -> None:
    """The guest's time can be spent in host calls (a slow output consumer, a flood of
    writes): the epoch never fires there, so the host call itself checks the deadline."""
    from host.ids import AgentId

    store = SqliteStore(tmp_path / "db.sqlite")
    try:
        agent = AgentId.from_halves(1, 2, "a")
        written: list[bytes] = []
        session = Session(
            agent,
            store,
            [AgentCreated("c", "h")],
            on_output=lambda stream, data: written.append(data),
        )
        session.limits = Limits(deadline_s=0.05)
        spec = wasi.FUNCS["wasi:io/streams.[method]output-stream.blocking-write-and-flush"]
        stdout = wasi.OutputStream("stdout")
        session.start_invocation_clock()
        _run(session, WRITE, spec, WRITE.param_types, [stdout, b"in time"])
        time.sleep(0.1)
        with pytest.raises(LimitExceeded, match=r"time limit of 0.05 s.*deadline_s"):
            _run(session, WRITE, spec, WRITE.param_types, [stdout, b"too late"])
        assert written == []  # output is delivered once its record is committed
        assert len(session.entries) == 2  # the late write was not recorded
        session.flush()
        assert written == [b"in time"]
    finally:
        store.close()
