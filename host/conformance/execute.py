"""Running one case instance's steps against an adapter.

Every step checks its expectation and raises :class:`StepFailed`, with what was seen, when
it does not hold; the message is prefixed with the step's index and op.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from host.conformance import refs
from host.conformance.adapters import (
    Adapter,
    AdapterError,
    AgentRef,
    HttpResponse,
    Invocation,
    NotFound,
    OplogEntry,
    Outcome,
)
from host.conformance.build import GuestBuildError, build_py, build_wat, is_py_guest
from host.conformance.cases import (
    AwaitResult,
    Complete,
    CompleteAtSuspension,
    Expect,
    ExpectOplog,
    Http,
    Instance,
    Invoke,
    Request,
    Restart,
    Revert,
    Route,
    Sleep,
    Step,
    Suite,
    Update,
    WaitStatus,
    Webhook,
)
from host.conformance.errors import SuiteError

POLL_S = 0.01


class StepFailed(Exception):
    """An expectation of a step did not hold."""


# -- components -------------------------------------------------------------------------------
class Components:
    """Guests built once and registered once per run (shared by every case that runs
    them), except for cases that update their component: those get one of their own."""

    def __init__(self, suite: Suite, adapter: Adapter, run_id: str) -> None:
        self.suite = suite
        self.adapter = adapter
        self.run_id = run_id
        self._lock = threading.Lock()
        self._ids: dict[str, str] = {}

    def wasm(self, guest: str, generation: str) -> Path:
        try:
            source = self.suite.guest_source(guest, generation)
            if is_py_guest(source):
                return build_py(source, f"conformance-{guest}-{generation}")
            return build_wat(
                source,
                self.suite.root / "build",
                f"{guest}-{generation}",
                self.suite.wit_dir,
            )
        except GuestBuildError as exc:
            raise SuiteError(str(exc)) from None

    def name(self, instance: Instance) -> str:
        name = f"conformance-{instance.case.guest}-{instance.generation}"
        if instance.case.private_component:
            name += f"-{instance.case.id}-{self.run_id}"
        return name

    def id(self, instance: Instance) -> str:
        name = self.name(instance)
        with self._lock:
            if name not in self._ids:
                wasm = self.wasm(instance.case.guest, instance.generation)
                self._ids[name] = self.adapter.register(wasm, name)
            return self._ids[name]


# -- one case instance --------------------------------------------------------------------------
def entry_matches(entry: OplogEntry, pattern: str) -> bool:
    kind, _, function = pattern.partition(":")
    return entry.kind == kind and (not function or function in (entry.function or ""))


def shape_matches(entries: list[OplogEntry], shape: tuple[str, ...]) -> bool:
    """Whether the entries are exactly the shape, where "..." matches any run of entries."""
    # reachable[j]: the first i entries can match the first j patterns
    reachable = [True] + [False] * len(shape)
    for j, pattern in enumerate(shape):
        if pattern == "...":
            reachable[j + 1] = reachable[j]
    for entry in entries:
        nxt = [False] * (len(shape) + 1)
        for j, pattern in enumerate(shape):
            if pattern == "...":
                nxt[j + 1] = nxt[j] or reachable[j + 1] or reachable[j]
            elif reachable[j] and entry_matches(entry, pattern):
                nxt[j + 1] = True
        reachable = nxt
    return reachable[-1]


def _kinds(entries: list[OplogEntry]) -> str:
    shown = [e.kind + (f"({e.function})" if e.function else "") for e in entries]
    return ", ".join(f"{i + 1}:{k}" for i, k in enumerate(shown))


class CaseRun:
    def __init__(
        self, instance: Instance, adapter: Adapter, components: Components, run_id: str
    ) -> None:
        self.instance = instance
        self.adapter = adapter
        self.components = components
        self.component_id = ""
        self.values: dict[int, Any] = {}
        self.handles: dict[int, Invocation] = {}
        slug = f"{instance.case.id}-{instance.generation}"[:90]
        self.prefix = f"{run_id}-{slug}-"
        # Agents of agent components are named TYPE(PARAMS)[phantom]: the phantom id,
        # unique to the instance, keeps runs and instances apart.
        self.phantom = str(uuid.uuid4())
        self.ctx = refs.Context(
            self.values, self.agent, lambda: self.component_id, self.pending, self.unique
        )

    def unique(self, name: str) -> str:
        """``{"$unique": name}``: a text unique to the run and the instance."""
        return f"{name}-{self.phantom.replace('-', '')[:12]}"

    def params(self, name: str) -> list[Any]:
        spec = self.instance.case.agent_spec(name)
        assert spec is not None
        resolved: list[Any] = refs.resolve(list(spec.params), self.ctx)
        return resolved

    def agent(self, name: str) -> str:
        spec = self.instance.case.agent_spec(name)
        if spec is not None:
            return spec.agent_id(self.phantom, self.params(name))
        return self.prefix + name

    def pending(self, name: str) -> list[int]:
        return self.adapter.pending_promises(self.component_id, self.agent(name))

    def run(self) -> None:
        self.component_id = self.components.id(self.instance)
        for step in self.instance.case.steps:
            try:
                self.step(step)
            except (StepFailed, refs.Unresolved, AdapterError, OSError) as exc:
                raise StepFailed(f"step {step.index} ({step.op}): {exc}") from None

    def step(self, step: Step) -> None:
        if isinstance(step, Invoke):
            self.invoke(step)
        elif isinstance(step, AwaitResult):
            outcome = self.handles[step.step].wait(step.timeout)
            self.check_end(step.index, step.expect, outcome, step.timeout)
        elif isinstance(step, Complete):
            self.complete(step)
        elif isinstance(step, Restart):
            self.adapter.restart(step.kill)
        elif isinstance(step, WaitStatus):
            self.wait_status(step)
        elif isinstance(step, ExpectOplog):
            self.expect_oplog(step)
        elif isinstance(step, Sleep):
            time.sleep(step.seconds)
        elif isinstance(step, Http | Route):
            self.request(step)
        elif isinstance(step, Webhook):
            self.webhook(step)
        elif isinstance(step, Update):
            wasm = self.components.wasm(step.guest, self.instance.generation)
            name = self.components.name(self.instance)
            assert step.agent is not None
            self.adapter.update(self.component_id, wasm, name, self.agent(step.agent), step.mode)
        elif isinstance(step, Revert):
            assert step.agent is not None
            self.adapter.revert(
                self.component_id, self.agent(step.agent), step.last_invocations, step.to_index
            )
        elif isinstance(step, CompleteAtSuspension):
            assert step.agent is not None
            data = self.data(step.data)
            self.adapter.complete_at_suspension(self.component_id, self.agent(step.agent), data)
        else:  # pragma: no cover - the loader builds only the steps above
            raise StepFailed(f"no runner for {step.op}")

    # -- invocations ----------------------------------------------------------------------
    def invoke(self, step: Invoke) -> None:
        assert step.agent is not None
        args = None if step.args is None else refs.resolve(step.args, self.ctx)
        spec = self.instance.case.agent_spec(step.agent)
        if spec is not None:
            handle = self.adapter.invoke_agent(
                self.component_id,
                AgentRef(
                    spec.type,
                    self.params(step.agent),
                    self.phantom if spec.phantom else None,
                    self.agent(step.agent),
                ),
                step.function,
                args,
                step.wave,
                step.idempotency_key,
            )
        else:
            handle = self.adapter.invoke(
                self.component_id,
                self.agent(step.agent),
                step.function,
                args,
                step.wave,
                step.idempotency_key,
            )
        self.handles[step.index] = handle
        kind = step.expect.kind
        if kind == "nowait":
            return
        if kind in ("result", "error", "done", "failed"):
            self.check_end(step.index, step.expect, handle.wait(step.timeout), step.timeout)
            return
        deadline = time.monotonic() + step.timeout
        seen = None
        while True:
            outcome = handle.outcome()
            if outcome.state != "pending":
                raise StepFailed(
                    f"expected the invocation to be {kind}, but it ended: " + self.describe(outcome)
                )
            seen = self.adapter.status(self.component_id, self.agent(step.agent))
            if seen is not None:
                if kind == "queued" and (
                    outcome.queued or (outcome.queued is None and seen.pending_invocations > 0)
                ):
                    return
                if kind in ("suspended", "running") and seen.status == kind:
                    return
                if seen.status == "failed":
                    raise StepFailed(f"expected {kind}, the agent failed: {seen.last_error}")
            if time.monotonic() >= deadline:
                raise StepFailed(f"expected {kind} within {step.timeout:g} s; the agent is {seen}")
            time.sleep(POLL_S)

    @staticmethod
    def describe(outcome: Outcome) -> str:
        if outcome.state == "done":
            return f"done with {refs.show(outcome.result)}"
        if outcome.state == "failed":
            return f"failed: {outcome.error}"
        return outcome.state + (f" ({outcome.error})" if outcome.error else "")

    def check_end(self, index: int, expect: Expect, outcome: Outcome, timeout: float) -> None:
        if outcome.state == "pending":
            raise StepFailed(f"the invocation did not end within {timeout:g} s")
        if outcome.state == "lost":
            raise StepFailed(f"the invocation's outcome was lost: {outcome.error}")
        if expect.kind in ("result", "done"):
            if outcome.state != "done":
                raise StepFailed(f"expected the invocation to finish, it {self.describe(outcome)}")
            if expect.kind == "result":
                wanted = refs.resolve(expect.value, self.ctx)
                if not refs.matches(outcome.result, wanted):
                    raise StepFailed(
                        f"expected result {refs.show(wanted)}, got {refs.show(outcome.result)}"
                    )
            self.values[index] = outcome.result
            return
        if outcome.state != "failed":
            raise StepFailed(f"expected the invocation to fail, it {self.describe(outcome)}")
        if expect.kind == "error" and expect.value.lower() not in (outcome.error or "").lower():
            raise StepFailed(
                f"expected an error containing {expect.value!r}, got {outcome.error!r}"
            )

    # -- promises -------------------------------------------------------------------------------
    def data(self, spec: Any) -> bytes:
        resolved = refs.resolve(spec, self.ctx)
        if "text" in resolved:
            return str(resolved["text"]).encode("utf-8")
        if "json" in resolved:
            return json.dumps(resolved["json"], separators=(",", ":")).encode("utf-8")
        values = resolved["bytes"]
        if not isinstance(values, list) or not all(
            isinstance(b, int) and 0 <= b <= 255 for b in values
        ):
            raise StepFailed(f"data {refs.show(values)} is not a list of bytes")
        return bytes(values)

    def complete(self, step: Complete) -> None:
        assert step.agent is not None
        idx = refs.resolve(step.oplog_idx, self.ctx)
        if not refs.is_int(idx):
            raise StepFailed(f"the promise's oplog index {refs.show(idx)} is not an integer")
        data = self.data(step.data)
        try:
            got: bool | str = self.adapter.complete(
                self.component_id, self.agent(step.agent), idx, data
            )
        except NotFound:
            got = "not-found"
        if got != step.expect or type(got) is not type(step.expect):
            raise StepFailed(
                f"completing promise {step.agent}/{idx}: expected {json.dumps(step.expect)}, "
                f"got {json.dumps(got)}"
            )

    # -- inspection --------------------------------------------------------------------------------
    def wait_status(self, step: WaitStatus) -> None:
        assert step.agent is not None
        wanted_errors = [str(refs.resolve(e, self.ctx)) for e in step.error]
        deadline = time.monotonic() + step.timeout
        while True:
            seen = self.adapter.status(self.component_id, self.agent(step.agent))
            problem = None
            if seen is None:
                problem = "the agent does not exist"
            elif seen.status != step.status:
                problem = f"it is {seen.status}" + (
                    f" ({seen.last_error})" if seen.last_error else ""
                )
            elif (
                step.pending_invocations is not None
                and seen.pending_invocations != step.pending_invocations
            ):
                problem = f"it has {seen.pending_invocations} pending invocations"
            elif step.retry_count is not None and seen.retry_count != step.retry_count:
                problem = f"its retry count is {seen.retry_count}"
            else:
                missing = [
                    w for w in wanted_errors if w.lower() not in (seen.last_error or "").lower()
                ]
                if missing:
                    problem = f"its last error {seen.last_error!r} does not mention {missing}"
            if problem is None:
                return
            if time.monotonic() >= deadline:
                wanted = step.status + (
                    f" with {step.pending_invocations} pending invocations"
                    if step.pending_invocations is not None
                    else ""
                )
                if step.retry_count is not None:
                    wanted += f" with retry count {step.retry_count}"
                raise StepFailed(
                    f"expected {step.agent} {wanted} within {step.timeout:g} s: {problem}"
                )
            time.sleep(POLL_S)

    def expect_oplog(self, step: ExpectOplog) -> None:
        assert step.agent is not None
        every = self.adapter.oplog(self.component_id, self.agent(step.agent))
        entries = [e for e in every if not any(entry_matches(e, p) for p in step.ignore)]
        if step.shape is not None and not shape_matches(entries, step.shape):
            raise StepFailed(
                f"the oplog of {step.agent} is not {list(step.shape)}"
                + (f" (ignoring {list(step.ignore)})" if step.ignore else "")
                + f"; it is: {_kinds(entries)}"
            )
        if step.contains is not None:
            rest = iter(entries)
            for pattern in step.contains:
                if not any(entry_matches(e, pattern) for e in rest):
                    raise StepFailed(
                        f"the oplog of {step.agent} does not contain {list(step.contains)} in "
                        f"that order (missing {pattern!r}); it is: {_kinds(entries)}"
                    )
        for pattern, n in step.count:
            found = sum(entry_matches(e, pattern) for e in entries)
            if found != n:
                raise StepFailed(
                    f"the oplog of {step.agent} has {found} {pattern!r} entries, expected {n}; "
                    f"it is: {_kinds(entries)}"
                )
        for where, pattern in step.at:
            index = refs.resolve(where, self.ctx)
            if not isinstance(index, int) or not 1 <= index <= len(every):
                raise StepFailed(f"the oplog of {step.agent} has no entry {refs.show(index)}")
            if not entry_matches(every[index - 1], pattern):
                raise StepFailed(
                    f"oplog entry {index} of {step.agent} is not {pattern!r}; "
                    f"it is: {_kinds(every)}"
                )

    def substitute(self, text: str) -> str:
        """A step's path with its placeholders filled in."""
        text = text.replace("{component}", self.component_id)
        for kind, fill in (("agent", self.agent), ("unique", self.unique)):
            opening = "{" + kind + ":"
            while opening in text:
                start = text.index(opening)
                end = text.index("}", start)
                name = text[start + len(opening) : end]
                text = text[:start] + fill(name) + text[end + 1 :]
        return text

    def request(self, step: Http | Route) -> None:
        headers = dict(step.headers)
        body: bytes | None = None
        if step.has_json:
            body = json.dumps(refs.resolve(step.json_body, self.ctx)).encode("utf-8")
        elif step.text is not None:
            body = step.text.encode("utf-8")
        if body is not None and not any(k.lower() == "content-type" for k in headers):
            headers["content-type"] = "application/json"
        target = self.substitute(step.target)
        if isinstance(step, Route):
            response = self.adapter.route(self.component_id, step.method, target, headers, body)
        else:
            response = self.adapter.http(step.method, target, headers, body)
        self.check_response(step, f"{step.method} {target}", response)

    def webhook(self, step: Webhook) -> None:
        url = refs.resolve(step.url, self.ctx)
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise StepFailed(f"the webhook URL {refs.show(url)} is not an http(s) URL")
        response = self.adapter.webhook(self.component_id, url, self.data(step.data))
        self.check_response(step, f"POST {url}", response)

    def check_response(
        self, step: Http | Route | Webhook, what: str, response: HttpResponse
    ) -> None:
        is_json, value = response.json()
        shown = response.body[:300].decode("utf-8", "replace")
        if response.status not in step.status:
            expected = " or ".join(str(s) for s in step.status)
            raise StepFailed(f"{what} answered {response.status}, expected {expected}: {shown}")
        if isinstance(step, Request) and step.has_expect_json:
            if not is_json:
                raise StepFailed(f"{what} answered a body that is not JSON: {shown}")
            wanted = refs.resolve(step.expect_json, self.ctx)
            if not refs.matches(value, wanted, subset=step.subset):
                how = "match" if step.subset else "equal"
                raise StepFailed(f"{what}: the body {shown} does not {how} {refs.show(wanted)}")
        self.values[step.index] = value
