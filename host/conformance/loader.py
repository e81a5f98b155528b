"""Loading case files and validating them into the values of :mod:`.cases`.

``conformance/specification.md`` is the written format; this module is its enforcement.
Every error is a :class:`CaseError` naming the file and the JSON path of the wrong field.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from host.conformance import netsteps, refs
from host.conformance.build import is_exported, is_py_guest, is_wat_guest
from host.conformance.cases import (
    CAPABILITIES,
    DEFAULT_TIMEOUT,
    END_EXPECTS,
    MAX_TIMEOUT,
    OPLOG_KINDS,
    PROMISE_LISTING,
    STATUSES,
    UPDATE_MODES,
    WAIT_EXPECTS,
    AgentSpec,
    AwaitResult,
    Case,
    Complete,
    CompleteAtSuspension,
    Expect,
    ExpectOplog,
    Http,
    Invoke,
    Restart,
    Revert,
    Route,
    Sleep,
    Step,
    Suite,
    Update,
    WaitStatus,
)
from host.conformance.errors import CaseError
from host.conformance.jsonobj import Obj as _Obj

_CASE_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def load_cases(suite: Suite) -> list[Case]:
    """Every case of the suite, validated; the first malformed file raises CaseError."""
    rules = suite.rules()
    files = sorted(suite.cases_dir.glob("*.json"))
    return [load_case(suite, f, rules) for f in files]


def load_case(suite: Suite, file: Path, rules: dict[str, str] | None = None) -> Case:
    shown = _shown(file)
    try:
        data = json.loads(file.read_text("utf-8"))
    except json.JSONDecodeError as exc:
        raise CaseError("$", f"not JSON: {exc}", shown) from None
    except OSError as exc:
        raise CaseError("$", f"cannot read: {exc.strerror}", shown) from None
    try:
        return _case(suite, file, data, rules if rules is not None else suite.rules())
    except CaseError as exc:
        raise exc.in_file(shown) from None


def _shown(file: Path) -> str:
    try:
        return str(file.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(file)


# -- validation ------------------------------------------------------------------------------
def _case(suite: Suite, file: Path, data: Any, rules: dict[str, str]) -> Case:
    case_id = file.stem
    if not _CASE_ID.match(case_id):
        raise CaseError(
            "$", f"the file name {file.name!r} must be <id>.json with id {_CASE_ID.pattern}"
        )
    obj = _Obj(data, "$")
    rule = obj.string("rule")
    if rules and rule not in rules:
        raise CaseError("$.rule", f"unknown rule {rule!r}; the rules are listed in rules.json")
    description = obj.string("description")
    guest = obj.string("guest")
    available = suite.generations(guest)
    if not available:
        raise CaseError("$.guest", f"no guest {guest!r} under {suite.guests_dir}")
    generations = obj.get("generations", available)
    if not isinstance(generations, list) or not generations:
        raise CaseError("$.generations", "must be a non-empty list of generations")
    for i, gen in enumerate(generations):
        if gen not in available:
            raise CaseError(
                f"$.generations[{i}]",
                f"guest {guest!r} has no generation {gen!r}; it has {available}",
            )
    if len(set(generations)) != len(generations):
        raise CaseError("$.generations", "lists a generation twice")
    requires = obj.get("requires", [])
    if not isinstance(requires, list):
        raise CaseError("$.requires", "must be a list of capabilities")
    for i, cap in enumerate(requires):
        if cap not in CAPABILITIES:
            raise CaseError(f"$.requires[{i}]", f"unknown capability; known: {list(CAPABILITIES)}")
    agents = _agents(obj.get("agents", {}))
    raw_steps = obj.req("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise CaseError("$.steps", "must be a non-empty list of steps")
    obj.done()
    builder = _Steps(suite, guest, tuple(generations), dict(agents))
    steps = tuple(builder.step(i, s) for i, s in enumerate(raw_steps))
    extra = {PROMISE_LISTING} if builder.lists_pending else set()
    return Case(
        case_id,
        file,
        rule,
        description,
        guest,
        tuple(generations),
        frozenset(requires) | extra,
        steps,
        agents,
    )


def _agents(raw: Any) -> tuple[tuple[str, AgentSpec], ...]:
    """The case's ``agents``: short names of agents of an agent component, each named by
    type and constructor parameters."""
    top = _Obj(raw, "$.agents")
    found: list[tuple[str, AgentSpec]] = []
    for name in list(top.data):
        path = top.at(name)
        if not refs.AGENT_NAME.match(name):
            raise CaseError(path, f"an agent name must match {refs.AGENT_NAME.pattern}")
        a = _Obj(top.get(name), path)
        type_name = a.string("type")
        if "(" in type_name or ")" in type_name or type_name != type_name.strip():
            raise CaseError(a.at("type"), "must be an agent type name (no parentheses, spaces)")
        params = a.get("params", [])
        if not isinstance(params, list):
            raise CaseError(a.at("params"), "must be a list of JSON constructor parameters")
        facts = refs.Facts()
        refs.check(params, a.at("params"), None, False, facts)
        if facts.kinds - {"$unique"}:
            raise CaseError(a.at("params"), 'only {"$unique": ...} references are allowed here')
        id_params = a.get("id_params")
        if id_params is not None and not isinstance(id_params, str):
            raise CaseError(a.at("id_params"), "must be the agent id's parameter text")
        phantom = a.get("phantom", True)
        if not isinstance(phantom, bool):
            raise CaseError(a.at("phantom"), "must be true or false")
        a.done()
        found.append((name, AgentSpec(type_name, tuple(params), id_params, phantom)))
    return tuple(found)


class _Steps:
    """Validates steps in order, remembering what later steps may refer to."""

    def __init__(
        self,
        suite: Suite,
        guest: str,
        generations: tuple[str, ...],
        agents: dict[str, AgentSpec],
    ) -> None:
        self.agents = agents
        self.suite = suite
        self.guest = guest
        self.generations = generations
        self.steps: list[Step] = []
        self.lists_pending = False

    # -- helpers ------------------------------------------------------------------------
    def _value(self, value: Any, path: str, index: int, matchers: bool) -> None:
        facts = refs.Facts()
        refs.check(value, path, index, matchers, facts)
        for ref in sorted(facts.steps):
            self._producer(ref, path)
        self.lists_pending |= facts.pending

    def _producer(self, ref: int, path: str) -> None:
        step = self.steps[ref]
        produces = (
            isinstance(step, Invoke | AwaitResult) and step.expect.kind in ("result", "done")
        ) or isinstance(step, Http | Route)
        if not produces:
            raise CaseError(
                path,
                f"step {ref} ({step.op}) produces no value: only invoke/await_result steps "
                'that expect "done" or a result, and http and route steps, do',
            )

    def _agent(self, obj: _Obj) -> str:
        name = obj.req("agent")
        if not isinstance(name, str) or not refs.AGENT_NAME.match(name):
            raise CaseError(
                obj.at("agent"), f"must be an agent name matching {refs.AGENT_NAME.pattern}"
            )
        return name

    def _timeout(self, obj: _Obj, minimum: float = 0.001) -> float:
        return obj.number("timeout", DEFAULT_TIMEOUT, minimum, MAX_TIMEOUT)

    def _data(self, obj: _Obj, index: int) -> Any:
        data = obj.get("data", {"bytes": []})
        d = _Obj(data, obj.at("data"))
        forms = [k for k in ("bytes", "text", "json") if d.has(k)]
        if len(forms) != 1:
            raise CaseError(d.path, 'must have exactly one of "bytes", "text", "json"')
        value = d.get(forms[0])
        if forms[0] == "text" and not isinstance(value, str):
            raise CaseError(d.at("text"), "must be a string")
        if forms[0] == "bytes":
            if isinstance(value, list):
                for i, b in enumerate(value):
                    if not refs.is_int(b, 0, 255) and not isinstance(b, dict):
                        raise CaseError(f"{d.at('bytes')}[{i}]", "must be a byte (0..255)")
            elif not isinstance(value, dict):
                raise CaseError(d.at("bytes"), "must be a list of bytes or a reference")
        d.done()
        self._value(data, d.path, index, matchers=False)
        return data

    def _invoke_expect(self, obj: _Obj, waiting: bool) -> Expect:
        raw = obj.get("expect", "done")
        allowed = END_EXPECTS + (WAIT_EXPECTS if waiting else ())
        if isinstance(raw, str):
            if raw not in allowed:
                raise CaseError(
                    obj.at("expect"),
                    f'must be one of {list(allowed)}, {{"result": ...}} or {{"error": "..."}}',
                )
            return Expect(raw)
        e = _Obj(raw, obj.at("expect"))
        if e.has("result") and not e.has("error"):
            value = e.get("result")
            e.done()
            return Expect("result", value)
        if e.has("error") and not e.has("result"):
            message = e.get("error")
            if not isinstance(message, str):
                raise CaseError(e.at("error"), "must be a string (a substring of the message)")
            e.done()
            return Expect("error", message)
        raise CaseError(e.path, 'must have exactly one of "result" or "error"')

    def _pattern(self, value: Any, path: str, wildcard: bool) -> str:
        if not isinstance(value, str):
            raise CaseError(path, "must be an entry pattern string")
        if wildcard and value == "...":
            return value
        kind, colon, function = value.partition(":")
        if kind not in OPLOG_KINDS:
            raise CaseError(path, f"unknown entry kind {kind!r}; known: {list(OPLOG_KINDS)}")
        if colon and not function:
            raise CaseError(path, "a pattern 'kind:function' needs a function substring")
        return value

    def _patterns(self, obj: _Obj, key: str, wildcard: bool) -> tuple[str, ...] | None:
        if not obj.has(key):
            return None
        value = obj.get(key)
        if not isinstance(value, list):
            raise CaseError(obj.at(key), "must be a list of entry patterns")
        return tuple(self._pattern(v, f"{obj.at(key)}[{i}]", wildcard) for i, v in enumerate(value))

    # -- steps ------------------------------------------------------------------------------
    def step(self, index: int, raw: Any) -> Step:
        obj = _Obj(raw, f"$.steps[{index}]")
        op = obj.req("op")
        obj.get("note")
        builder = {
            "invoke": self._invoke,
            "await_result": self._await_result,
            "complete": self._complete,
            "restart": self._restart,
            "wait_status": self._wait_status,
            "expect_oplog": self._expect_oplog,
            "sleep": self._sleep,
            "http": self._http,
            "route": self._route,
            "webhook": self._webhook,
            "update": self._update,
            "revert": self._revert,
            "complete_at_suspension": self._complete_at_suspension,
        }.get(op)
        if builder is None:
            raise CaseError(obj.at("op"), f"unknown op {op!r}; see specification.md")
        step = builder(index, obj)
        obj.done()
        self.steps.append(step)
        return step

    def _invoke(self, index: int, obj: _Obj) -> Step:
        agent = self._agent(obj)
        function = obj.string("function")
        for gen in self.generations:
            if agent in self.agents:  # a method of an agent type: the host checks the name
                if not is_py_guest(self.suite.guest_source(self.guest, gen)):
                    raise CaseError(
                        obj.at("agent"),
                        f"{agent} is an agent of an agent component, but guest "
                        f"{self.guest}@{gen} is a WAT guest",
                    )
                continue
            exported = self.suite.exports(self.guest, gen)
            if not is_exported(function, exported):
                raise CaseError(
                    obj.at("function"),
                    f"guest {self.guest}@{gen} exports no function {function!r} "
                    f"(it exports {sorted(exported)}); restrict the case's generations",
                )
        if obj.has("args") and obj.has("wave"):
            raise CaseError(obj.at("wave"), 'give either "args" (JSON) or "wave", not both')
        args = obj.get("args", None if obj.has("wave") else [])
        if args is not None:
            if not isinstance(args, list):
                raise CaseError(obj.at("args"), "must be a list of JSON arguments")
            self._value(args, obj.at("args"), index, matchers=False)
        wave = obj.string("wave", required=False)
        key = obj.string("idempotency_key", required=False)
        expect = self._invoke_expect(obj, waiting=True)
        if expect.kind == "result":
            self._value(expect.value, obj.at("expect.result"), index, matchers=True)
        return Invoke(index, "invoke", agent, function, args, wave, key, expect, self._timeout(obj))

    def _await_result(self, index: int, obj: _Obj) -> Step:
        ref = obj.req("step")
        if not refs.is_int(ref, 0, index - 1):
            raise CaseError(obj.at("step"), "must be the index of an earlier invoke step")
        target = self.steps[ref]
        if not isinstance(target, Invoke):
            raise CaseError(obj.at("step"), f"step {ref} is a {target.op} step, not an invoke")
        for between in self.steps[ref + 1 :]:
            if isinstance(between, Restart):
                raise CaseError(
                    obj.at("step"),
                    f"an invocation does not outlive a restart (step {between.index}); check "
                    "its effect with wait_status, expect_oplog or another invoke instead",
                )
        expect = self._invoke_expect(obj, waiting=False)
        if expect.kind == "result":
            self._value(expect.value, obj.at("expect.result"), index, matchers=True)
        return AwaitResult(index, "await_result", target.agent, ref, expect, self._timeout(obj))

    def _complete(self, index: int, obj: _Obj) -> Step:
        agent = self._agent(obj)
        p = _Obj(obj.req("promise"), obj.at("promise"))
        forms = [k for k in ("from_step", "pending", "oplog_idx") if p.has(k)]
        if len(forms) != 1:
            raise CaseError(p.path, 'must have exactly one of "from_step", "pending", "oplog_idx"')
        idx: Any
        if forms[0] == "from_step":
            ref = p.get("from_step")
            if not refs.is_int(ref, 0, index - 1):
                raise CaseError(p.at("from_step"), "must be the index of an earlier step")
            self._producer(ref, p.at("from_step"))
            idx = {"$step": ref}
        elif forms[0] == "pending":
            owner = p.get("pending")
            nth = p.get("nth")
            idx = {"$pending": owner} if nth is None else {"$pending": owner, "nth": nth}
            self._value(idx, p.path, index, matchers=False)
        else:
            idx = p.get("oplog_idx")
            if not isinstance(idx, dict) and not refs.is_int(idx, 0):
                raise CaseError(p.at("oplog_idx"), "must be an integer >= 0 or a reference")
            self._value(idx, p.at("oplog_idx"), index, matchers=False)
        p.done()
        data = self._data(obj, index)
        expect = obj.get("expect", True)
        if not (isinstance(expect, bool) or expect == "not-found"):
            raise CaseError(obj.at("expect"), 'must be true, false or "not-found"')
        return Complete(index, "complete", agent, idx, data, expect)

    def _restart(self, index: int, obj: _Obj) -> Step:
        kill = obj.get("kill", False)
        if not isinstance(kill, bool):
            raise CaseError(obj.at("kill"), "must be true or false")
        return Restart(index, "restart", None, kill)

    def _wait_status(self, index: int, obj: _Obj) -> Step:
        agent = self._agent(obj)
        status = obj.req("status")
        if status not in STATUSES:
            raise CaseError(obj.at("status"), f"must be one of {list(STATUSES)}")
        timeout = self._timeout(obj, minimum=0.0)
        error = obj.get("error", [])
        if isinstance(error, str | dict):
            error = [error]
        if not isinstance(error, list):
            raise CaseError(obj.at("error"), "must be a substring or a list of substrings")
        for i, part in enumerate(error):
            if not isinstance(part, str | dict):
                raise CaseError(f"{obj.at('error')}[{i}]", "must be a string or a reference")
        self._value(error, obj.at("error"), index, matchers=False)
        pending = obj.get("pending_invocations")
        if pending is not None and not refs.is_int(pending, 0):
            raise CaseError(obj.at("pending_invocations"), "must be an integer >= 0")
        retries = obj.get("retry_count")
        if retries is not None and not refs.is_int(retries, 0):
            raise CaseError(obj.at("retry_count"), "must be an integer >= 0")
        return WaitStatus(
            index, "wait_status", agent, status, timeout, tuple(error), pending, retries
        )

    def _expect_oplog(self, index: int, obj: _Obj) -> Step:
        agent = self._agent(obj)
        ignore = self._patterns(obj, "ignore", wildcard=False) or ()
        shape = self._patterns(obj, "shape", wildcard=True)
        contains = self._patterns(obj, "contains", wildcard=False)
        count: list[tuple[str, int]] = []
        if obj.has("count"):
            c = _Obj(obj.get("count"), obj.at("count"))
            for key in list(c.data):
                self._pattern(key, c.at(key), wildcard=False)
                n = c.get(key)
                if not refs.is_int(n, 0):
                    raise CaseError(c.at(key), "must be a count (an integer >= 0)")
                count.append((key, n))
        at: list[tuple[Any, str]] = []
        if obj.has("at"):
            raw = obj.get("at")
            if not isinstance(raw, list):
                raise CaseError(obj.at("at"), "must be a list of {index, kind}")
            for i, item in enumerate(raw):
                a = _Obj(item, f"{obj.at('at')}[{i}]")
                where = a.req("index")
                if not isinstance(where, dict) and not refs.is_int(where, 1):
                    raise CaseError(a.at("index"), "must be an oplog index (>= 1) or a reference")
                self._value(where, a.at("index"), index, matchers=False)
                kind = self._pattern(a.req("kind"), a.at("kind"), wildcard=False)
                a.done()
                at.append((where, kind))
        if shape is None and contains is None and not count and not at:
            raise CaseError(obj.path, 'needs at least one of "shape", "contains", "count", "at"')
        return ExpectOplog(
            index, "expect_oplog", agent, ignore, shape, contains, tuple(count), tuple(at)
        )

    def _sleep(self, index: int, obj: _Obj) -> Step:
        return Sleep(index, "sleep", None, obj.number("seconds", 0.0, 0.0, 60.0))

    def _http(self, index: int, obj: _Obj) -> Step:
        return netsteps.request_step(self, index, obj, Http)

    def _route(self, index: int, obj: _Obj) -> Step:
        return netsteps.request_step(self, index, obj, Route)

    def _webhook(self, index: int, obj: _Obj) -> Step:
        return netsteps.webhook_step(self, index, obj)

    def _update(self, index: int, obj: _Obj) -> Step:
        agent = self._agent(obj)
        guest = obj.string("guest")
        for gen in self.generations:
            if not is_wat_guest(self.suite.guest_source(guest, gen)):
                raise CaseError(obj.at("guest"), f"no guest {guest!r} at generation {gen}")
        mode = obj.get("mode", "automatic")
        if mode not in UPDATE_MODES:
            raise CaseError(obj.at("mode"), f"must be one of {list(UPDATE_MODES)}")
        return Update(index, "update", agent, guest, mode)

    def _revert(self, index: int, obj: _Obj) -> Step:
        agent = self._agent(obj)
        last, to = obj.get("last_invocations"), obj.get("to_index")
        if (last is None) == (to is None):
            raise CaseError(obj.at("last_invocations"), "give last_invocations or to_index")
        for key, value in (("last_invocations", last), ("to_index", to)):
            if value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or value < 1
            ):
                raise CaseError(obj.at(key), "must be a positive integer")
        return Revert(index, "revert", agent, last, to)

    def _complete_at_suspension(self, index: int, obj: _Obj) -> Step:
        agent = self._agent(obj)
        return CompleteAtSuspension(index, "complete_at_suspension", agent, self._data(obj, index))
