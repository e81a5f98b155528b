"""golem:api/context@1.5.0 with the durable-fn-1.5.0 WAT guest: spans recorded as Golem
records them (StartSpan, SetSpanAttribute, FinishSpan), the invocation context (trace id,
span ids, parents, attributes inherited or not, attribute chains, the traceparent
header), and span ids that replay takes from the oplog, so they survive a suspension and
a restart."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from host.ids import AgentId, PromiseId
from host.oplog import FinishSpan, InvocationStarted, SetSpanAttribute, StartSpan
from host.service import HostService
from host.values import parse_value
from host.values.types import ListT, Prim
from tests.fixtures.build import build_fixture

STRINGS = ListT(Prim("string"))


def _service(data_dir: Path, **kwargs: Any) -> HostService:
    service = HostService(data_dir, **kwargs)
    service.add_component(build_fixture("durable-fn-1.5.0"), name="dfn")
    return service


def _agent(host: HostService) -> AgentId:
    agent, _ = host.create_agent("dfn", "ctx")
    return agent


def _strings(text: str | None) -> list[str]:
    assert text is not None
    value = parse_value(text, STRINGS)
    assert isinstance(value, list)
    return [str(v) for v in value]


def _check(values: list[str], invocation_id: str, log: Sequence[object]) -> None:
    trace_id, root, inner, outer, k, only, *chain, parent_header, after = values
    # The trace id is the invocation id's digits, the root span a function of it.
    assert trace_id == invocation_id.replace("-", "")
    assert root == hashlib.sha256(f"span:{invocation_id}".encode()).hexdigest()[:16]
    starts = [e for e in log if isinstance(e, StartSpan)]
    assert [(s.span_id, s.parent, s.attributes) for s in starts] == [
        (outer, root, (("name", "outer"),)),
        (inner, outer, (("name", "inner"),)),
    ]
    assert (k, only, chain) == ("v2", "inner", ["v2", "v1"])
    assert parent_header == f"00-{trace_id}-{inner}-00"
    attrs = [(e.span_id, e.key, e.value) for e in log if isinstance(e, SetSpanAttribute)]
    assert attrs == [(outer, "k", "v1"), (inner, "k", "v2"), (inner, "only", "inner")]
    # finish(inner), then drop(inner) records nothing more, drop(outer) finishes it.
    assert [e.span_id for e in log if isinstance(e, FinishSpan)] == [inner, outer]
    assert after == root  # both finished: back to the invocation's span


def test_spans_and_the_invocation_context(tmp_path: Path) -> None:
    host = _service(tmp_path / "store")
    agent = _agent(host)
    inv = host.invoke(agent, "spans(false)")
    assert inv.state == "done", host.store.get_agent(agent).last_error
    _check(_strings(inv.result), inv.invocation_id, list(host.store.read_oplog(agent)))
    # Another invocation has a trace of its own.
    other = host.invoke(agent, "spans(false)")
    assert _strings(other.result)[0] == other.invocation_id.replace("-", "")
    host.close()


def test_span_ids_survive_a_suspension_and_a_restart(tmp_path: Path) -> None:
    host = _service(tmp_path / "store")
    agent = _agent(host)
    inv = host.invoke(agent, "spans(true)")
    assert inv.state == "started"
    (idx,) = host.store.get_agent(agent).waiting_promises
    host.close()
    again = _service(tmp_path / "store")
    assert again.complete_promise(PromiseId(agent, idx), b"") is True
    done = again.store.get_invocation(inv.invocation_id)
    assert done.state == "done", again.store.get_agent(agent).last_error
    # The ids the guest saw before the suspension (now replayed from the StartSpan
    # entries) are those of the oplog; the spans finished after it were recorded live.
    log = list(again.store.read_oplog(agent))
    _check(_strings(done.result), inv.invocation_id, log)
    assert sum(isinstance(e, StartSpan) for e in log) == 2
    again.close()
    # A third host replays the whole invocation: its recorded result must match.
    third = _service(tmp_path / "store")
    assert third.invoke(agent, "forward(false)").result == "true"
    assert third.invoke(agent, "forward(true)").result == "false"
    assert third.store.get_agent(agent).status == "idle"
    third.close()


def test_a_rest_traceparent_is_the_invocations_trace(tmp_path: Path) -> None:
    # FastAPI's TestClient over the real app: the W3C traceparent of the invoke request
    # gives the invocation its trace id, and the caller's span is the root span's parent;
    # it is kept with the invocation, so a replay (a new service) sees the same.
    from fastapi.testclient import TestClient

    from host.runtime.scheduler import PoolScheduler
    from host.server import create_app

    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    header = f"00-{trace}-00f067aa0ba902b7-01"
    service = _service(tmp_path / "store", scheduler=PoolScheduler(workers=1))
    cid = service.store.get_component("dfn").id
    url = f"/v1/components/{cid}/workers/rest/invoke-and-await"
    with TestClient(create_app(service)) as client:
        answer = client.post(
            url, params={"function": "spans"}, json={"params": [False]},
            headers={"traceparent": header},
        )  # fmt: skip
        assert answer.status_code == 200, answer.text
        values = answer.json()["result"]
        assert values[0] == trace
        assert values[-2] == f"00-{trace}-{values[2]}-00"  # the inner span's traceparent
        # An invalid one is ignored (W3C trace context): the trace id is derived again.
        bad = client.post(
            url, params={"function": "spans"}, json={"params": [False]},
            headers={"traceparent": "00-zz-00f067aa0ba902b7-01"},
        )  # fmt: skip
        assert bad.status_code == 200 and bad.json()["result"][0] != trace
    agent = AgentId(uuid.UUID(cid), "rest")
    started = [e for e in service.store.read_oplog(agent) if isinstance(e, InvocationStarted)]
    assert [s.traceparent for s in started] == [header, None]
    service.close()
    again = _service(tmp_path / "store")  # replays both: recorded results must match
    assert again.invoke(agent, "forward(true)").result == "true"
    assert again.store.get_agent(agent).status == "idle"
    again.close()


def test_a_rest_tracestate_is_kept_beside_the_traceparent(tmp_path: Path) -> None:
    # Golem keeps the request's W3C tracestate (every header, in order, one list) beside
    # its traceparent: trace-context-headers answers it after the traceparent, the
    # invocation keeps it, and a replay sees the same. A tracestate that is not a W3C
    # list, or one without a valid traceparent, is ignored (never a 400 or a 500).
    from fastapi.testclient import TestClient

    from host.runtime.scheduler import PoolScheduler
    from host.server import create_app

    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    parent = f"00-{trace}-00f067aa0ba902b7-00"
    service = _service(tmp_path / "store", scheduler=PoolScheduler(workers=1))
    cid = service.store.get_component("dfn").id
    url = f"/v1/components/{cid}/workers/state/invoke-and-await"

    def spans(headers: list[tuple[str, str]]) -> list[str]:
        answer = client.post(
            url, params={"function": "spans"}, json={"params": [False]}, headers=headers
        )
        assert answer.status_code == 200, answer.text
        return [str(v) for v in answer.json()["result"]]

    with TestClient(create_app(service)) as client:
        two = [("traceparent", parent), ("tracestate", "abc=123, defgh=010203"),
               ("tracestate", "ijklmn=op")]  # fmt: skip
        values = spans(two)
        assert values[0] == trace
        assert values[-3:-1] == [f"00-{trace}-{values[2]}-00", "abc=123,defgh=010203,ijklmn=op"]
        # Not a list of key=value members: dropped, the traceparent still counts.
        values = spans([("traceparent", parent), ("tracestate", "no equals sign")])
        assert values[0] == trace and values[-2] == f"00-{trace}-{values[2]}-00"
        # No valid traceparent: its tracestate means nothing.
        values = spans([("traceparent", "00-zz-00f067aa0ba902b7-01"), ("tracestate", "a=b")])
        assert values[0] != trace and values[-2].startswith(f"00-{values[0]}-")
    agent = AgentId(uuid.UUID(cid), "state")
    started = [e for e in service.store.read_oplog(agent) if isinstance(e, InvocationStarted)]
    assert [s.tracestate for s in started] == ["abc=123,defgh=010203,ijklmn=op", None, None]
    records = service.store.list_invocations(agent)
    assert [r.tracestate for r in records] == ["abc=123,defgh=010203,ijklmn=op", None, None]
    service.close()
    again = _service(tmp_path / "store")  # replays all three: recorded results must match
    assert again.invoke(agent, "forward(true)").result == "true"
    assert again.store.get_agent(agent).status == "idle"
    again.close()
