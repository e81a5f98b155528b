"""Bad input everywhere: schemathesis against a real ``agent-host serve``.

Every operation of the server's own ``/openapi.json`` gets up to ``MAX_EXAMPLES``
generated requests, schema-valid and schema-violating alike, against a server with two
registered components and agents in several states (idle, suspended on a promise, with
a pending promise, suspended on observe-and-await). Most generated requests are aimed at
what exists (a real component id, a known agent name, a known invocation id, a small
oplog index, a real export name), so they reach the host instead of stopping at a 404.

Checks: no response is a 5xx; the server is still healthy afterwards and stops cleanly,
with no traceback in its log; and the store is intact (SQLite's integrity check, or
PostgreSQL's schema check under the store switch; every agent's oplog decodes with
indexes 1..n, promise rows match their creation entries, no invocation started or
finished twice).

Nothing is excluded. Two query values are clamped (``timeout`` of invoke-and-await and
``wait`` of an invocation lookup, both up to 3600 s in the schema) to 0.2 s, so that a
request held on a promise nobody completes cannot stall the run; everything else is sent
as generated. AGENT_HOST_TEST_SEED=<n> replays another seed.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err

from host.store import SqliteStore
from tests.crash_harness import structural_problems
from tests.fixtures.build import build_fixture
from tests.server_util import CLEAN_EXIT, Api, Server, add_component, store_view

pytestmark = pytest.mark.slow  # schemathesis over every operation

SEED = int(os.environ.get("AGENT_HOST_TEST_SEED", "20261125"))
MAX_EXAMPLES = 30
CLAMPED = ("timeout", "wait")
EXPORTS = ("create", "await", "poll", "complete", "create-and-await", "observe-and-await", "sleep")

# Component uploads are raw bytes: send generated bodies as they are.
schemathesis.serializer.alias("application/wasm", "application/octet-stream")


@dataclass
class Known:
    """What exists on the server, for aiming generated requests at it."""

    components: dict[str, str]
    # (component id, agent name) -> invocation ids of that agent
    targets: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    sent: int = 0
    reseeded: int = 0
    statuses: Counter[int] = field(default_factory=Counter)


# The seeded agents: name -> (component, how to bring it to its state).
SEEDS = {
    "alice": "p",  # idle, with a pending promise
    "bob": "p",  # suspended on a promise of his own
    "carol": "p",  # idle, one finished invocation
    "dave": "d",  # random and clock recorded, then suspended on a promise
}


def _seed_agents(server: Server, known: Known) -> None:
    """(Re)create every seeded agent that does not exist (the fuzzer deletes agents too)."""
    for name, component in SEEDS.items():
        cid = known.components[component]
        api = Api(server.client(), cid)
        invocations = known.targets.setdefault((cid, name), [])
        if api.http.get(api.path(name)).status_code == 200:
            continue
        known.reseeded += 1
        invocations.clear()
        if name == "dave":
            invocations.append(api.invoke(name, "observe-and-await").json()["invocationId"])
            api.wait_status(name, "Suspended")
            continue
        made = api.invoke_and_await(name, "create")
        invocations.append(made.json().get("invocationId", ""))
        idx = made.json()["result"]
        if name == "bob":
            invocations.append(api.invoke(name, "await", [idx]).json()["invocationId"])
            api.wait_status(name, "Suspended")
        elif name == "carol":
            invocations.append(api.invoke(name, "poll", [idx]).json()["invocationId"])


def _pick(data: st.DataObject, choices: list[Any]) -> Any:
    """One of ``choices``, which grow during the run: drawn as a number, so that hypothesis
    sees the same draws when it replays an example."""
    return choices[data.draw(st.integers(0, 2**16)) % len(choices)]


def _aim(case: Any, data: st.DataObject, known: Known) -> tuple[str, str] | None:
    """Point most generated requests at things that exist, and bound held requests."""
    often = st.integers(0, 9).map(lambda n: n < 8)
    target: tuple[str, str] | None = None
    path = case.path_parameters
    if path and "component_id" in path and data.draw(often):
        target = _pick(data, sorted(known.targets))
        path["component_id"] = target[0]
        if "worker_name" in path:
            path["worker_name"] = target[1]
        invocations = [i for i in known.targets[target] if i]
        if "invocation_id" in path and invocations and data.draw(often):
            path["invocation_id"] = _pick(data, invocations)
    query = case.query
    if query:
        if "function" in query and data.draw(often):
            query["function"] = data.draw(st.sampled_from(EXPORTS))
        if "component" in query and data.draw(often):
            query["component"] = data.draw(st.sampled_from(sorted(known.components.values())))
        for key in CLAMPED:
            value = query.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool) and value > 0.2:
                query[key] = 0.2
    body = case.body
    if isinstance(body, dict):
        if "oplogIdx" in body and data.draw(often):
            body["oplogIdx"] = data.draw(st.integers(1, 8))
        if "params" in body and data.draw(st.booleans()):
            body["params"] = data.draw(
                st.sampled_from([[], [2], [3], [4], [1000], [3, [104, 105]], [1, 2, "x", [1]]])
            )
    return target


def _fuzz_operation(operation: Any, server: Server, known: Known) -> None:
    strategy = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )

    @hypothesis.seed(SEED)
    @hypothesis.settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )
    @given(case=strategy, data=st.data())
    def run(case: Any, data: st.DataObject) -> None:
        target = _aim(case, data, known)
        response = case.call(base_url=server.url, timeout=30)
        known.sent += 1
        known.statuses[response.status_code] += 1
        if target is not None and response.status_code < 300:
            try:
                answer = response.json()
            except ValueError:
                answer = None
            if isinstance(answer, dict) and isinstance(answer.get("invocationId"), str):
                known.targets[target].append(answer["invocationId"])
        case.validate_response(response, checks=[not_a_server_error])

    run()


@pytest.fixture
def server(tmp_path: Path):
    store = tmp_path / "store"
    ids = {
        "p": add_component(store, build_fixture("promises-1.3.0"), "p"),
        "d": add_component(store, build_fixture("durable-1.3.0"), "d"),
    }
    srv = Server(store, await_timeout=1.0, poll_interval=0.1).start()
    srv.ids = ids  # type: ignore[attr-defined]
    try:
        yield srv
    finally:
        srv.kill()


def test_fuzzed_requests_never_fail_the_server_nor_the_store(server: Server) -> None:
    began = time.monotonic()
    known = Known(server.ids)  # type: ignore[attr-defined]
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    operations = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()  # the server's schema has an operation schemathesis cannot read
        operations.append(result.ok())
    assert len(operations) >= 15, [op.label for op in operations]
    failures = []
    # Deleting agents last keeps the seeded ones around for the others (they are
    # re-created before each operation anyway).
    for operation in sorted(operations, key=lambda op: op.method.upper() == "DELETE"):
        _seed_agents(server, known)
        try:
            _fuzz_operation(operation, server, known)
        except Exception as exc:  # every operation runs; all failures are reported
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures) + "\n--- server ---\n" + server.output()[-4000:]
    _seed_agents(server, known)  # the deleted ones again, for the store check below
    # Aimed requests reached the host: many were accepted, not all refused at the door.
    assert sum(n for status, n in known.statuses.items() if status < 300) >= 50, known.statuses

    # Still alive and answering, then a clean stop with nothing logged as a crash.
    health = server.client().get("/healthz")
    assert health.status_code == 200
    assert server.proc is not None and server.proc.poll() is None
    assert server.stop() in CLEAN_EXIT
    assert "Traceback" not in server.output(), server.output()[-4000:]

    # The store: its own check (SQLite's integrity check; on PostgreSQL, which checks
    # its own pages, the schema's), then every agent's oplog.
    view = store_view(server.store)
    try:
        if isinstance(view, SqliteStore):
            assert view._conn().execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        else:
            view.verify()  # raises StoreError naming what is wrong
        agents = view.list_agents()
        problems = structural_problems(view)
        assert not problems, problems
    finally:
        view.close()
    print(
        f"\nschemathesis: {known.sent} requests over {len(operations)} operations "
        f"(<= {MAX_EXAMPLES} examples each, seed {SEED}) in {time.monotonic() - began:.1f} s; "
        f"seeded agents re-created {known.reseeded} times; "
        f"statuses {dict(sorted(known.statuses.items()))}; {len(agents)} agents' oplogs "
        "re-read intact"
    )
