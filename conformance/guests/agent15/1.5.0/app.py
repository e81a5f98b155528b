"""A Golem 1.5 agent component written directly against the generated bindings.

Agent types (hand-built agent-type values, no SDK):

* ``CounterAgent(name: string)``, durable, mount ``/counters/{name}``: ``increment(by: u32)
  -> u64`` (the running total), ``wait_for() -> string`` (creates a promise, awaits it and
  returns its payload as text), ``fail(message: string)`` (answers a custom agent-error),
  ``whoami() -> string`` (the constructor's name and GOLEM_AGENT_ID, GOLEM_AGENT_TYPE).
* ``ScratchAgent()``, ephemeral: ``bump() -> u64`` counts the calls this instance has seen.
"""

import os

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import common as c
from wit_world.imports import golem_api_host as host
from wit_world.imports import types as t


def _ty(node: t.WitTypeNode) -> t.WitType:
    return t.WitType([t.NamedWitTypeNode(None, None, node)])


STRING = _ty(t.WitTypeNode_PrimStringType())
U32 = _ty(t.WitTypeNode_PrimU32Type())
U64 = _ty(t.WitTypeNode_PrimU64Type())


def _schema(*elems: tuple[str, t.WitType]) -> t.DataSchema:
    return t.DataSchema_Tuple([(n, t.ElementSchema_ComponentModel(ty)) for n, ty in elems])


def _method(name: str, inputs: list, outputs: list) -> c.AgentMethod:
    return c.AgentMethod(name, f"{name} method", [], None, _schema(*inputs), _schema(*outputs))


def _agent_type(name, ctor, methods, mode, mount) -> c.AgentType:
    return c.AgentType(
        name,
        f"{name} test agent",
        "python",
        c.AgentConstructor(None, "constructor", None, _schema(*ctor)),
        methods,
        [],
        mode,
        mount,
        c.Snapshotting_Disabled(),
        [],
    )


COUNTER = _agent_type(
    "CounterAgent",
    [("name", STRING)],
    [
        _method("increment", [("by", U32)], [("total", U64)]),
        _method("wait_for", [], [("payload", STRING)]),
        _method("fail", [("message", STRING)], []),
        _method("whoami", [], [("who", STRING)]),
    ],
    c.AgentMode.DURABLE,
    c.HttpMountDetails(
        [c.PathSegment_Literal("counters"), c.PathSegment_PathVariable(c.PathVariable("name"))],
        None,
        False,
        c.CorsOptions([]),
        [],
    ),
)
SCRATCH = _agent_type(
    "ScratchAgent", [], [_method("bump", [], [("calls", U64)])], c.AgentMode.EPHEMERAL, None
)
TYPES = {a.type_name: a for a in (COUNTER, SCRATCH)}


def _value(node: t.WitNode) -> t.ElementValue:
    return t.ElementValue_ComponentModel(t.WitValue([node]))


def _out(*nodes: t.WitNode) -> t.DataValue:
    return t.DataValue_Tuple([_value(n) for n in nodes])


def _inputs(input: t.DataValue) -> list:
    assert isinstance(input, t.DataValue_Tuple), "tuple data-values only"
    out = []
    for element in input.value:
        assert isinstance(element, t.ElementValue_ComponentModel)
        out.append(element.value.nodes[0].value)
    return out


class _State:
    type_name: str | None = None
    name: str = ""
    total = 0
    calls = 0


STATE = _State()


class Guest(exports.Guest):
    def initialize(self, agent_type: str, input: t.DataValue, principal: c.Principal) -> None:
        if STATE.type_name is not None:
            raise Err(c.AgentError_InvalidType("already initialized"))
        if agent_type not in TYPES:
            raise Err(c.AgentError_InvalidType(f"no agent type {agent_type}"))
        if not isinstance(principal, c.Principal_Anonymous):
            raise Err(c.AgentError_InvalidInput("expected an anonymous principal"))
        args = _inputs(input)
        STATE.type_name = agent_type
        STATE.name = args[0] if args else ""

    def invoke(self, method_name: str, input: t.DataValue, principal: c.Principal) -> t.DataValue:
        if STATE.type_name is None:
            raise Err(c.AgentError_InvalidType("not initialized"))
        args = _inputs(input)
        if STATE.type_name == "ScratchAgent" and method_name == "bump":
            STATE.calls += 1
            return _out(t.WitNode_PrimU64(STATE.calls))
        if STATE.type_name != "CounterAgent":
            raise Err(c.AgentError_InvalidMethod(method_name))
        if method_name == "increment":
            STATE.total += args[0]
            return _out(t.WitNode_PrimU64(STATE.total))
        if method_name == "wait_for":
            promise = host.create_promise()
            result = host.get_promise(promise)
            pollable = result.subscribe()
            pollable.block()
            data = result.get()
            pollable.__exit__(None, None, None)
            result.__exit__(None, None, None)
            return _out(t.WitNode_PrimString((data or b"").decode()))
        if method_name == "fail":
            value = t.ValueAndType(t.WitValue([t.WitNode_PrimString(args[0])]), STRING)
            raise Err(c.AgentError_CustomError(value))
        if method_name == "whoami":
            env = f"{os.environ.get('GOLEM_AGENT_ID')} {os.environ.get('GOLEM_AGENT_TYPE')}"
            return _out(t.WitNode_PrimString(f"{STATE.name} {env}"))
        raise Err(c.AgentError_InvalidMethod(f"CounterAgent has no method {method_name}"))

    def get_definition(self) -> c.AgentType:
        return TYPES[STATE.type_name or "CounterAgent"]

    def discover_agent_types(self) -> list[c.AgentType]:
        return [COUNTER, SCRATCH]
