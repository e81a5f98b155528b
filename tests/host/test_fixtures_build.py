"""The WAT fixtures build, and each imports/exports exactly what its generation should."""

from __future__ import annotations

import pytest
import wasmtime
from wasmtime.component import Component, ComponentInstanceType, FuncType

from tests.fixtures.build import FixtureBuildError, build_fixture, fixture_names
from tests.fixtures.management_guests import SHAPES as MANAGEMENT_SHAPES

_OLD_HOST = {"create-promise", "await-promise", "complete-promise", "delete-promise"}
_NEW_HOST = {
    "create-promise",
    "get-promise",
    "complete-promise",
    "[method]get-promise-result.subscribe",
    "[method]get-promise-result.get",
}
_POLL_BLOCK = {"[method]pollable.block"}

_OLD_EXPORTS = {"create", "await", "complete", "await-for", "complete-for", "create-and-await"}
_DURABLE_EXPORTS = {"create", "complete", "observe-and-await", "sleep", "race"}

# fixture -> ({imported instance: functions it must provide}, exported functions).
# Instances mapped to an empty set are imported for their types only.
EXPECTED: dict[str, tuple[dict[str, set[str]], set[str]]] = {
    "promises-0.2.0": ({"golem:api/host@0.2.0": _OLD_HOST}, _OLD_EXPORTS | {"delete"}),
    "promises-1.1.0": ({"golem:api/host@1.1.0": _OLD_HOST}, _OLD_EXPORTS | {"delete"}),
    "promises-1.1.6": (
        {
            "golem:rpc/types@0.2.0": set(),
            "golem:api/host@1.1.6": _OLD_HOST | {"poll-promise"},
        },
        _OLD_EXPORTS | {"delete", "poll"},
    ),
    "promises-1.1.7": (
        {
            "wasi:io/poll@0.2.3": _POLL_BLOCK,
            "golem:rpc/types@0.2.2": set(),
            "golem:api/host@1.1.7": _NEW_HOST,
        },
        _OLD_EXPORTS | {"poll"},
    ),
    "promises-1.3.0": (
        {
            "wasi:io/poll@0.2.3": _POLL_BLOCK,
            "golem:rpc/types@0.2.2": set(),
            "golem:api/host@1.3.0": _NEW_HOST,
        },
        _OLD_EXPORTS | {"poll"},
    ),
}
for _durable in ("durable-1.3.0", "durable-diverged-1.3.0"):
    EXPECTED[_durable] = (
        {
            "wasi:io/poll@0.2.3": _POLL_BLOCK | {"poll"},
            "wasi:clocks/monotonic-clock@0.2.3": {"subscribe-duration"},
            "wasi:clocks/wall-clock@0.2.3": {"now"},
            "wasi:random/random@0.2.3": {"get-random-u64"},
            "golem:rpc/types@0.2.2": set(),
            "golem:api/host@1.3.0": _NEW_HOST,
        },
        _DURABLE_EXPORTS,
    )
EXPECTED["secrets-1.1.6"] = (
    {
        "golem:rpc/types@0.2.0": set(),
        "golem:api/host@1.1.6": {"create-promise", "delete-promise"},
        "agent-host:promises/secrets@0.1.0": {"promise-secret"},
    },
    {"create", "secret", "delete"},
)
# The management guest (tests/fixtures/management_guests.py): the agent-management
# functions each generation declares in Golem's WIT, and wasi:cli's environment.
for _gen, _shape in MANAGEMENT_SHAPES.items():
    _n = _shape.noun
    _managing = {"fork-to", "revert-last", "resolve-component", "resolve-id", "resolve-id-strict"}
    _managing |= {"fork-to-unpersisted", "revert-last-unpersisted"}
    _managing |= (
        {"fork-self", "fork-phantom", "fork-self-unpersisted"}
        if _shape.phantom_fork
        else {"fork-as", "fork-as-unpersisted"}
    )
    _type_pkgs: dict[str, set[str]] = {"golem:rpc/types@0.2.0": set()} if _gen == "1.1.6" else {}
    if _n == "agent":
        _type_pkgs = {"golem:rpc/types@0.2.2": set()}
    if _gen == "1.5.0":
        _type_pkgs = {"golem:core/types@1.5.0": set()}
    EXPECTED[f"management-{_gen}"] = (
        {
            **_type_pkgs,
            "wasi:cli/environment@0.2.3": {"get-environment"},
            f"golem:api/host@{_gen}": {
                "get-self-metadata",
                f"get-{_n}-metadata",
                f"[constructor]get-{_n}s",
                f"[method]get-{_n}s.get-next",
                f"update-{_n}",
                "generate-idempotency-key",
            }
            | (
                {
                    f"fork-{_n}",
                    f"revert-{_n}",
                    "resolve-component-id",
                    f"resolve-{_n}-id",
                    f"resolve-{_n}-id-strict",
                    "fork",
                    "set-oplog-persistence-level",
                }
                if _shape.manages
                else set()
            ),
        },
        {
            "self-metadata",
            "metadata-of",
            "find",
            "find-names",
            "update",
            "idem-key",
            "last-key",
            "add",
            "env",
        }
        | (_managing if _shape.manages else set()),
    )
EXPECTED["clock-0.2.3"] = (
    {
        "wasi:io/poll@0.2.3": _POLL_BLOCK,
        "wasi:clocks/monotonic-clock@0.2.3": {"now", "subscribe-duration", "subscribe-instant"},
    },
    {"now", "sleep", "wait-instant"},
)
EXPECTED["output"] = (
    {
        "wasi:io/error@0.2.3": set(),
        "wasi:io/streams@0.2.3": {"[method]output-stream.blocking-write-and-flush"},
        "wasi:cli/stdout@0.2.3": {"get-stdout"},
        "wasi:cli/stderr@0.2.3": {"get-stderr"},
        "wasi:random/random@0.2.3": {"get-random-bytes"},
    },
    {"flood", "flood-err", "random"},
)
for _snap in ("snapshots-1", "snapshots-2"):
    EXPECTED[_snap] = (
        {"golem:api/host@1.5.0": set()},
        {"add", "total", "golem:api/save-snapshot@1.5.0", "golem:api/load-snapshot@1.5.0"},
    )
EXPECTED["oplog-reader-1.5.0"] = (
    {
        "golem:core/types@1.5.0": set(),
        "golem:api/host@1.5.0": {"get-oplog-index", "get-self-metadata"},
        "wasi:clocks/wall-clock@0.2.3": set(),
        "wasi:clocks/monotonic-clock@0.2.3": set(),
        "golem:api/context@1.5.0": set(),
        "golem:api/retry@1.5.0": set(),
        "golem:api/oplog@1.5.0": {
            "[constructor]get-oplog",
            "[method]get-oplog.get-next",
            "[constructor]search-oplog",
            "[method]search-oplog.get-next",
        },
        "wasi:logging/logging": {"log"},
    },
    {"read-pages", "search-pages", "seen", "marks", "log"},
)
EXPECTED["agent-1.5.0"] = (
    {
        "wasi:io/poll@0.2.3": _POLL_BLOCK,
        "wasi:random/random@0.2.9": {"get-random-u64"},
        "wasi:logging/logging": {"log"},
        "wasi:clocks/monotonic-clock@0.2.3": set(),
        "golem:core/types@1.5.0": {"parse-uuid", "uuid-to-string"},
        "golem:api/host@1.5.0": _NEW_HOST | {"get-oplog-index", "fork"},
        "golem:agent/common@1.5.0": set(),
        "golem:agent/host@1.5.0": {"get-all-agent-types"},
    },
    {
        "ok",
        "log",
        "random-u64",
        "oplog-index",
        "uuid-round-trip",
        "agent-types",
        "fork",
        "create",
        "await",
        "complete",
    },
)
EXPECTED["flaky"] = (
    {
        "wasi:io/error@0.2.3": set(),
        "wasi:io/streams@0.2.3": {"[method]output-stream.blocking-write-and-flush"},
        "wasi:cli/stderr@0.2.3": {"get-stderr"},
        "wasi:clocks/monotonic-clock@0.2.3": set(),
        "golem:api/host@1.3.0": {"set-retry-policy"},
    },
    {"boom", "shout-and-boom", "set-policy", "ok"},
)
EXPECTED["recovering"] = (
    {
        "wasi:clocks/monotonic-clock@0.2.3": set(),
        "golem:api/host@1.3.0": {
            "get-idempotence-mode",
            "get-oplog-persistence-level",
            "get-retry-policy",
            "set-idempotence-mode",
            "set-oplog-persistence-level",
            "set-retry-policy",
        },
    },
    {
        "set-policy",
        "max-attempts",
        "set-idempotence",
        "idempotence",
        "set-level",
        "level",
        "boom",
        "golem:api/save-snapshot@1.3.0",
        "golem:api/load-snapshot@1.3.0",
    },
)
EXPECTED["stdin"] = (
    {
        "wasi:io/error@0.2.3": set(),
        "wasi:io/streams@0.2.3": {"[method]input-stream.blocking-read"},
        "wasi:cli/stdin@0.2.3": {"get-stdin"},
    },
    {"read", "ok"},
)
# The exported-resource guest exports one interface (its functions in INSTANCE_EXPORTS).
EXPECTED["counters"] = ({}, {"agent-host:fixtures/api"})
EXPECTED["ticker"] = (
    {
        "wasi:io/error@0.2.3": set(),
        "wasi:io/streams@0.2.3": {"[method]output-stream.blocking-write-and-flush"},
        "wasi:cli/stdout@0.2.3": {"get-stdout"},
    },
    {"tick"},
)
# Version 2 of ticker (updates of a running agent): the same, plus `version`.
EXPECTED["ticker-v2"] = (EXPECTED["ticker"][0], {"tick", "version"})
# Version 3 of ticker (an update restarting a running tick): tick returns n + 1000.
EXPECTED["ticker-v3"] = (EXPECTED["ticker"][0], {"tick", "version"})
# exported interface -> {function: parameter names}
INSTANCE_EXPORTS = {
    "golem:api/save-snapshot@1.5.0": {"save": []},
    "golem:api/load-snapshot@1.5.0": {"load": ["snapshot"]},
    "golem:api/save-snapshot@1.3.0": {"save": []},
    "golem:api/load-snapshot@1.3.0": {"load": ["bytes"]},
    "agent-host:fixtures/api": {
        "[constructor]counter": ["name"],
        "[method]counter.inc-by": ["self", "n"],
        "[method]counter.get": ["self"],
        "[static]counter.live": [],
        "make": ["start"],
        "peek": ["c"],
        "dropped": [],
    },
}
# The misbehaving guest of the limit tests imports nothing.
EXPECTED["transactions-1.3.0"] = (
    {
        "wasi:random/random@0.2.3": {"get-random-u64"},
        "golem:api/host@1.3.0": {
            "get-oplog-index",
            "set-oplog-index",
            "oplog-commit",
            "mark-begin-operation",
            "mark-end-operation",
            "set-oplog-persistence-level",
        },
    },
    {"atomic-once", "jump-loop", "quiet-then-commit"},
)
EXPECTED["hostile"] = ({}, {"spin", "eat", "grow-table", "boom", "count", "ok"})
# Fork of the running agent (conformance guest `fork`) at each generation that has it;
# the type-only packages each generation's host interface uses come along.
EXPECTED["fork-1.1.7"] = ({"golem:api/host@1.1.7": {"fork"}}, {"add", "fork-as"})
for _gen, _types in (("1.3.0", "golem:rpc/types@0.2.2"), ("1.5.0", "golem:core/types@1.5.0")):
    EXPECTED[f"fork-{_gen}"] = (
        {_types: set(), "golem:api/host@" + _gen: {"fork"}},
        {"add", "fork-self", "phantom-high"},
    )
# 1.5.0's also forks under persist-nothing (fork-unpersisted).
EXPECTED["fork-1.5.0"][0]["golem:api/host@1.5.0"].add("set-oplog-persistence-level")
EXPECTED["fork-1.5.0"][1].add("fork-unpersisted")
# Updates (conformance guests `updater`, `updater-v2`): the same exports in both.
for _name in ("updater-1.5.0", "updater-v2-1.5.0"):
    EXPECTED[_name] = (
        {
            "golem:core/types@1.5.0": set(),
            "golem:api/host@1.5.0": {
                "get-self-metadata",
                "update-agent",
                "set-oplog-persistence-level",
            },
        },
        {
            "add",
            "total",
            "work",
            "version",
            "update-self",
            "update-self-unpersisted",
            "update-other",
            "update-other-unpersisted",
            "golem:api/save-snapshot@1.5.0",
            "golem:api/load-snapshot@1.5.0",
        },
    )

# An agent updating itself (self-updater, self-updater-v2): the same imports and exports.
for _name in ("self-updater", "self-updater-v2"):
    EXPECTED[_name] = (
        {
            "golem:core/types@1.5.0": set(),
            "golem:api/host@1.5.0": {"get-self-metadata", "update-agent"},
        },
        {"update-self-auto", "version"},
    )
# golem:durability and golem:api/context (durable-fn-1.5.0).
EXPECTED["durable-fn-1.5.0"] = (
    {
        "wasi:io/poll@0.2.3": {"[method]pollable.block"},
        "wasi:random/random@0.2.3": {"get-random-u64"},
        "golem:core/types@1.5.0": set(),
        "wasi:clocks/wall-clock@0.2.3": set(),
        "golem:api/oplog@1.5.0": set(),
        "golem:api/host@1.5.0": {
            "[method]get-promise-result.get",
            "[method]get-promise-result.subscribe",
            "create-promise",
            "get-promise",
            "set-idempotence-mode",
            "set-oplog-persistence-level",
        },
        "golem:api/context@1.5.0": {
            "[method]invocation-context.get-attribute",
            "[method]invocation-context.get-attribute-chain",
            "[method]invocation-context.parent",
            "[method]invocation-context.span-id",
            "[method]invocation-context.trace-context-headers",
            "[method]invocation-context.trace-id",
            "[method]span.finish",
            "[method]span.set-attribute",
            "allow-forwarding-trace-context-headers",
            "current-context",
            "start-span",
        },
        "golem:durability/durability@1.5.0": {
            "[constructor]lazy-initialized-pollable",
            "[method]lazy-initialized-pollable.set",
            "[method]lazy-initialized-pollable.subscribe",
            "begin-durable-function",
            "current-durable-execution-state",
            "end-durable-function",
            "observe-function-call",
            "persist-durable-function-invocation",
            "read-persisted-durable-function-invocation",
        },
    },
    {
        "begin-and-trap",
        "durable",
        "durable-forced",
        "forward",
        "lazy",
        "misread",
        "read-now",
        "set-idempotence",
        "set-level",
        "spans",
        "state",
    },
)

# Parameter names of every export, as the tests that call them rely on.
PARAMS = {
    "read-pages": ["name", "start"],
    "search-pages": ["name", "text"],
    "seen": [],
    "marks": ["n"],
    "self-metadata": [],
    "metadata-of": ["name"],
    "find": ["name-like", "status"],
    "find-names": ["name-like", "status"],
    "update": ["name", "target-version"],
    "idem-key": [],
    "last-key": [],
    "env": [],
    "fork-to": ["source", "target", "cut-off"],
    "revert-last": ["name", "count"],
    "fork-to-unpersisted": ["source", "target", "cut-off"],
    "revert-last-unpersisted": ["name", "count"],
    "resolve-component": ["reference"],
    "resolve-id": ["reference", "name"],
    "resolve-id-strict": ["reference", "name"],
    "atomic-once": [],
    "add": ["n"],
    "total": [],
    "jump-loop": ["limit"],
    "quiet-then-commit": [],
    "create": [],
    "await": ["idx"],
    "complete": ["idx", "data"],
    "await-for": ["high", "low", "name", "idx"],
    "complete-for": ["high", "low", "name", "idx", "data"],
    "poll": ["idx"],
    "delete": ["idx"],
    "secret": ["idx"],
    "create-and-await": [],
    "observe-and-await": [],
    "sleep": ["ns"],
    "now": [],
    "wait-instant": ["when"],
    "race": ["idx", "ns"],
    "spin": [],
    "eat": ["pages"],
    "grow-table": ["n"],
    "boom": [],
    "shout-and-boom": [],
    "set-policy": ["max-attempts", "min-delay", "max-delay", "multiplier"],
    "count": ["n"],
    "ok": [],
    "max-attempts": [],
    "read": ["n"],
    "set-idempotence": ["idempotent"],
    "idempotence": [],
    "set-level": ["level"],
    "level": [],
    "flood": ["total", "chunk"],
    "flood-err": ["total", "chunk"],
    "random": ["n"],
    "log": ["message"],
    "random-u64": [],
    "oplog-index": [],
    "uuid-round-trip": ["text"],
    "agent-types": [],
    "fork": [],
    "tick": ["n", "spin"],
    "fork-as": ["new-name"],
    "fork-phantom": [],
    "fork-self": [],
    "fork-as-unpersisted": ["new-name"],
    "fork-self-unpersisted": [],
    "phantom-high": [],
    "version": [],
    "update-self": ["target", "snapshot"],
    "update-self-auto": ["target"],
    "update-self-unpersisted": ["target", "snapshot"],
    "update-other": ["high", "low", "name", "target", "snapshot"],
    "update-other-unpersisted": ["high", "low", "name", "target", "snapshot"],
    "work": ["n"],
    "fork-unpersisted": [],
    "durable": ["input", "ftype", "forced", "trap-if-live", "wait"],
    "begin-and-trap": ["ftype"],
    "durable-forced": [],
    "misread": [],
    "read-now": [],
    "state": [],
    "lazy": [],
    "spans": ["wait"],
    "forward": ["allow"],
}


@pytest.fixture(scope="module")
def engine() -> wasmtime.Engine:
    return wasmtime.Engine()


def test_every_fixture_is_expected() -> None:
    assert fixture_names() == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_builds_with_expected_imports_and_exports(
    name: str, engine: wasmtime.Engine
) -> None:
    path = build_fixture(name)
    assert path.is_file()
    assert build_fixture(name) == path  # cached: same inputs, same file
    component = Component.from_file(engine, str(path))
    expected_imports, expected_exports = EXPECTED[name]

    imports = component.type.imports(engine)
    assert set(imports) == set(expected_imports)
    for instance_name, functions in expected_imports.items():
        instance = imports[instance_name].ty
        assert isinstance(instance, ComponentInstanceType), instance_name
        items = instance.exports(engine)
        provided = {k for k, v in items.items() if isinstance(v.ty, FuncType)}
        assert provided == functions, instance_name

    exports = component.type.exports(engine)
    assert set(exports) == expected_exports
    for export_name, item in exports.items():
        if isinstance(item.ty, ComponentInstanceType):
            funcs = {
                k: [p for p, _ in v.ty.params]
                for k, v in item.ty.exports(engine).items()
                if isinstance(v.ty, FuncType)
            }
            assert funcs == INSTANCE_EXPORTS[export_name], export_name
            continue
        assert isinstance(item.ty, FuncType), export_name
        assert [p for p, _ in item.ty.params] == PARAMS[export_name], export_name


def test_unknown_fixture_is_a_clear_error() -> None:
    with pytest.raises(FixtureBuildError, match="unknown fixture 'nope'"):
        build_fixture("nope")
