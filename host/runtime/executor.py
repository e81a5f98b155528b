"""Running agents: register components, invoke, suspend, complete, resume by replay.

An agent's memory is never saved. Whenever it has work (a queued invocation,
a completed promise it waits on, a due timer, an invocation a crash
interrupted) a fresh instance replays the whole oplog (recorded answers, no
side effect repeated) and then continues live. Suspension drops the instance.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import wasmtime
import wasmtime.component as wc

from host.errors import (
    AgentNotFound,
    Divergence,
    HostError,
    InvalidComponent,
    InvalidInput,
    LeaseHeld,
)
from host.ids import AgentId, PromiseId, check_agent_name
from host.limits import Limits, validate
from host.oplog import (
    AgentCreated,
    InvocationFailed,
    InvocationFinished,
    InvocationStarted,
    Suspended,
    describe,
)
from host.runtime.engine import (
    EPOCH_TICK_S,
    ComponentCache,
    EpochTicker,
    content_hash,
    make_engine,
)
from host.runtime.linking import build_linker
from host.runtime.pollshim import with_poll_shim as _with_poll_shim
from host.runtime.session import GuestExit, Session, Suspend, set_current
from host.runtime.typeconv import from_wasmtime, func_sig, to_wasmtime
from host.secrets import PromiseSecrets
from host.store import FAILED, IDLE, SUSPENDED, ComponentRecord, lease_owner, open_store
from host.store.base import INTERRUPTED, QUEUED, InvocationRecord
from host.values import ValuesError, format_value, parse_args, parse_call, parse_value
from host.values.types import FuncSig

LEASE_TTL_S = 300.0


@dataclass(frozen=True)
class Export:
    """An exported function: its path in the component and its signature."""

    name: str  # the Golem-style qualified name: `fn` or `pkg:ns/iface.{fn}`
    path: tuple[str, ...]
    sig: FuncSig


@dataclass
class _Live:
    """An agent's instance kept between invocations while it is idle."""

    session: Session
    wstore: wasmtime.Store
    instance: wc.Instance
    hash: str
    created_at: int


class _Suspended(Exception):  # noqa: N818
    pass


class _RunAgain(Exception):  # noqa: N818
    pass


class _Stop(Exception):  # noqa: N818
    pass


class Host:
    """One host process's view of a data directory."""

    def __init__(
        self,
        data_dir: Path | str,
        *,
        output: Callable[[AgentId, str, bytes], None] | None = None,
        progress: Callable[[str], None] | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = open_store(self.data_dir)
        self.engine = make_engine()
        self._ticker = EpochTicker(self.engine)
        self.cache = ComponentCache(self.engine, self.data_dir / "cache")
        self.components_dir = self.data_dir / "components"
        self.owner = lease_owner()
        self.secrets = PromiseSecrets(self.data_dir)
        self.output = output
        self.progress = progress
        self.limits = limits or Limits()
        self._linkers: dict[str, wc.Linker] = {}
        self._exports: dict[str, dict[str, Export]] = {}
        self._agent_locks: dict[AgentId, threading.Lock] = {}
        self._locks_lock = threading.Lock()
        self._woken: set[AgentId] = set()
        # Idle agents' instances, most recently run last. Suspended and failed agents are
        # never here: suspension drops the instance.
        self._live: dict[AgentId, _Live] = {}
        self._live_lock = threading.Lock()
        self.max_live_instances = 64
        # A server sets these: ``wake`` hands a woken agent to its scheduler instead of
        # running it inline; ``on_finished`` hears of every invocation that ended.
        self.wake: Callable[[AgentId], None] | None = None
        self.on_finished: Callable[[str], None] | None = None
        # Test seam, off by default: runs between "nothing is ready" and the suspension
        # commit, the window in which spec rule 4's race happens.
        self.before_suspend: Callable[[AgentId], None] | None = None

    def close(self) -> None:
        self._ticker.stop()
        self.store.close()

    # -- components -------------------------------------------------------------
    def add_component(
        self, path: Path | str, name: str | None = None, display: str | None = None
    ) -> ComponentRecord:
        """Register a component file; refuses files that are not components or that import
        what the host does not provide, naming every missing import."""
        path = Path(path)
        shown = display or str(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InvalidInput(f"cannot read {shown}: {exc.strerror}") from None
        if not data.startswith(b"\0asm"):
            raise InvalidComponent(f"{shown} is not a WebAssembly file (no \\0asm header)")
        if data[4:8] == b"\1\0\0\0":
            raise InvalidComponent(
                f"{shown} is a core WebAssembly module, not a component; wrap it with "
                "`wasm-tools component new`"
            )
        size = len(data)
        data = _with_poll_shim(data, self.progress)
        hash = content_hash(data)
        component = self.cache.load(
            hash, lambda: data, self.progress, validate=lambda c: self._linker(hash, c)
        )
        self._linker(hash, component)
        self.components_dir.mkdir(parents=True, exist_ok=True)
        target = self.components_dir / f"{hash}.wasm"
        if not target.exists():
            tmp = target.with_suffix(f".tmp{uuid.uuid4().hex[:6]}")
            tmp.write_bytes(data)
            tmp.replace(target)
        return self.store.add_component(name or path.stem, hash, size)

    def add_component_bytes(self, data: bytes, name: str) -> ComponentRecord:
        """Register a component from its bytes (an HTTP upload)."""
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "upload.wasm"
            path.write_bytes(data)
            return self.add_component(path, name, display="the uploaded file")

    def call_scratch(self, record: ComponentRecord, function: str) -> Any:
        """Call a parameterless export on a throwaway instance that is not an agent (no
        oplog); returns its result as a value. Used to read endpoint definitions."""
        hash = record.hash
        component = self._component(hash)
        linker = self._linker(hash, component)
        export = self.resolve_export(hash, function)
        session = Session(AgentId(uuid.UUID(record.id), "scratch"), self.store, [])
        session.scratch = True
        session.limits = self.limits.merged({"deadline_s": 10.0})
        wstore = self._new_store(session.limits)
        set_current(session)
        try:
            instance = linker.instantiate(wstore, component)
            func = _get_func(wstore, instance, export)
            raw = func(wstore)
            value = None if export.sig.result is None else from_wasmtime(raw, export.sig.result)
            func.post_return(wstore)
            return value
        except Exception as exc:
            cause = session.raised or exc
            raise InvalidComponent(
                f"calling {function} on the component failed: {_message(cause)}"
            ) from None
        finally:
            set_current(None)

    def promise_secret(self, promise: PromiseId) -> str:
        """The promise's secret (for an operator handing it out by hand)."""
        self.store.get_promise(promise)
        return self.secrets.secret(promise)

    def interrupt(self, agent: AgentId) -> None:
        """Stop the agent between invocations: nothing runs (no queued invocation, no
        wake-up) until :meth:`resume`."""
        self.store.interrupt(agent)
        self.forget_instance(agent)

    def resume(self, agent: AgentId) -> None:
        """Let an interrupted agent run again, or retry a failed one."""
        if self.store.get_agent(agent).status == FAILED:
            self.retry(agent)
        else:
            self.store.resume(agent)

    def _component(self, hash: str) -> wc.Component:
        path = self.components_dir / f"{hash}.wasm"
        return self.cache.load(hash, path.read_bytes, self.progress)

    def _linker(self, hash: str, component: wc.Component) -> wc.Linker:
        linker = self._linkers.get(hash)
        if linker is None:
            linker = build_linker(self.engine, component)
            self._linkers[hash] = linker
        return linker

    def exports(self, hash: str) -> dict[str, Export]:
        """Every exported function by its qualified name (and unambiguous short aliases)."""
        table = self._exports.get(hash)
        if table is not None:
            return table
        component = self._component(hash)
        found: list[Export] = []
        for name, ext in component.type.exports(self.engine).items():
            ty = ext.ty
            if isinstance(ty, wc.FuncType):
                found.append(Export(name, (name,), func_sig(name, ty)))
            elif isinstance(ty, wc.ComponentInstanceType):
                for fname, fext in ty.exports(self.engine).items():
                    if isinstance(fext.ty, wc.FuncType):
                        qualified = f"{name}.{{{fname}}}"
                        found.append(Export(qualified, (name, fname), func_sig(qualified, fext.ty)))
        table = {e.name: e for e in found}
        aliases: dict[str, list[Export]] = {}
        for e in found:
            if len(e.path) == 2:
                for alias in (f"{e.path[0]}#{e.path[1]}", f"{e.path[0]}.{e.path[1]}", e.path[1]):
                    aliases.setdefault(alias, []).append(e)
        for alias, targets in aliases.items():
            if alias not in table and len(targets) == 1:
                table[alias] = targets[0]
        self._exports[hash] = table
        return table

    def resolve_export(self, hash: str, function: str) -> Export:
        table = self.exports(hash)
        export = table.get(function)
        if export is None:
            names = sorted({e.name for e in table.values()})
            raise InvalidInput(
                f"the component exports no function {function!r}; it exports: "
                + (", ".join(names) or "nothing")
            )
        return export

    # -- agents -------------------------------------------------------------------
    def agent_id(self, component_ref: str, name: str) -> AgentId:
        record = self.store.get_component(component_ref)
        return AgentId(uuid.UUID(record.id), check_agent_name(name))

    def call_target(self, component_ref: str, name: str) -> tuple[AgentId, str, bool]:
        """(agent, the component version its calls resolve against, whether it exists):
        an existing agent's pinned version, else the component's latest, which a new agent
        will get. Lets a caller refuse a bad call before creating the agent."""
        record = self.store.get_component(component_ref)
        agent = AgentId(uuid.UUID(record.id), check_agent_name(name))
        try:
            return agent, self.store.get_agent(agent).component_hash, True
        except AgentNotFound:
            return agent, record.hash, False

    def create_agent(
        self,
        component_ref: str,
        name: str,
        args: tuple[str, ...] = (),
        env: tuple[tuple[str, str], ...] = (),
    ) -> tuple[AgentId, bool]:
        """Create an agent on the latest version of a component; (id, created-now)."""
        record = self.store.get_component(component_ref)
        agent = AgentId(uuid.UUID(record.id), check_agent_name(name))
        full_env = (
            ("GOLEM_AGENT_ID", str(agent)),
            ("GOLEM_WORKER_NAME", agent.name),
            ("GOLEM_COMPONENT_ID", str(agent.component_id)),
            *env,
        )
        created = AgentCreated(record.id, record.hash, tuple(args), full_env)
        return agent, self.store.create_agent(agent, record.hash, created)

    def update_agent(self, agent: AgentId) -> ComponentRecord:
        """Move the agent to the latest version of its component. Its next replay runs the
        new code against the old oplog; a component that calls the host differently fails
        the agent with a divergence error instead of running on."""
        record = self.store.get_component(str(agent.component_id))
        self.store.set_component_hash(agent, record.hash)
        return record

    def _lock(self, agent: AgentId) -> threading.Lock:
        with self._locks_lock:
            return self._agent_locks.setdefault(agent, threading.Lock())

    # -- invocations ----------------------------------------------------------------
    def prepare_call(self, agent: AgentId, call: str) -> tuple[str, tuple[str, ...]]:
        """Parse WAVE call text against the agent's component: (function, canonical params)."""
        return self.prepare_call_for(self.store.get_agent(agent).component_hash, call)

    def prepare_call_for(self, hash: str, call: str) -> tuple[str, tuple[str, ...]]:
        """Parse WAVE call text against a component's exports: (function, canonical params)."""
        try:
            name, argtext = parse_call(call)
        except ValuesError as exc:
            raise InvalidInput(f"invalid call {call!r}: {exc}") from None
        export = self.resolve_export(hash, name)
        try:
            values = parse_args(argtext, export.sig.param_types, base=len(name) + 1)
        except ValuesError as exc:
            raise InvalidInput(f"invalid arguments for {export.name}: {exc}") from None
        params = tuple(
            format_value(v, t) for v, t in zip(values, export.sig.param_types, strict=True)
        )
        return export.name, params

    def enqueue(
        self,
        agent: AgentId,
        function: str,
        params: tuple[str, ...],
        idempotency_key: str | None = None,
    ) -> InvocationRecord:
        record = self.store.get_agent(agent)
        export = self.resolve_export(record.component_hash, function)
        if len(params) != len(export.sig.params):
            raise InvalidInput(
                f"{export.name} takes {len(export.sig.params)} parameters, {len(params)} given"
            )
        for text, (pname, ty) in zip(params, export.sig.params, strict=True):
            try:
                parse_value(text, ty)
            except ValuesError as exc:
                raise InvalidInput(f"invalid value for parameter {pname}: {exc}") from None
        return self.store.enqueue(agent, str(uuid.uuid4()), export.name, params, idempotency_key)

    def invoke(
        self, agent: AgentId, call: str, idempotency_key: str | None = None
    ) -> InvocationRecord:
        """Queue the call and run the agent until it finishes or suspends."""
        function, params = self.prepare_call(agent, call)
        return self.submit(agent, function, params, idempotency_key)

    def submit(
        self,
        agent: AgentId,
        function: str,
        params: tuple[str, ...],
        idempotency_key: str | None = None,
    ) -> InvocationRecord:
        """Queue an invocation already parsed (canonical WAVE params) and run the agent until
        it finishes or suspends."""
        invocation = self.enqueue(agent, function, params, idempotency_key)
        self.run_agent_when_free(agent)
        self.run_woken()
        return self.store.get_invocation(invocation.invocation_id)

    # -- promises -------------------------------------------------------------------
    def complete_promise(self, promise: PromiseId, data: bytes) -> bool:
        """Complete a promise (first completion wins) and resume its owner if it waits."""
        self.store.get_agent(promise.agent)  # AgentNotFound before PromiseNotFound
        limit = self.limits_for(promise.agent).max_payload_bytes
        if len(data) > limit:
            self.store.get_promise(promise)  # an unknown promise is still not-found
            raise InvalidInput(
                f"the payload of {len(data)} bytes exceeds agent {promise.agent}'s limit of "
                f"{limit} bytes (max_payload_bytes)"
            )
        completed = self.store.complete_promise(promise, data)
        if completed:
            self._on_promise_completed(promise)
            self.run_woken()
        return completed

    def _on_promise_completed(self, promise: PromiseId) -> None:
        self._on_promise_completed_agent(promise.agent)

    def _on_promise_completed_agent(self, agent: AgentId) -> None:
        if self.wake is not None:
            self.wake(agent)
        else:
            with self._live_lock:
                self._woken.add(agent)

    def run_woken(self) -> None:
        while True:
            with self._live_lock:
                if not self._woken:
                    return
                agent = self._woken.pop()
            try:
                self.run_agent_when_free(agent)
            except (LeaseHeld, AgentNotFound):
                pass  # held past the lease time, or deleted meanwhile

    def run_due(self) -> list[AgentId]:
        """Run every agent with work due now (woken, timers, interrupted, queued)."""
        ran = []
        for agent in self.store.runnable_agents(time.time_ns()):
            if self._lock(agent).locked():
                continue  # this process is running it now; do not queue behind it
            try:
                self.run_agent(agent)
                ran.append(agent)
            except LeaseHeld:
                continue
        self.run_woken()
        return ran

    # -- execution ------------------------------------------------------------------
    def run_agent_when_free(self, agent: AgentId) -> str:
        """:meth:`run_agent`, waiting while another process runs the agent. That process
        may check the queue for the last time just before this one's invocation (or
        wake-up) is committed and then let go: failing here would leave it to no one."""
        delay = 0.002
        deadline = time.monotonic() + LEASE_TTL_S
        while True:
            try:
                return self.run_agent(agent)
            except LeaseHeld:
                if time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(2 * delay, 0.05)

    def run_agent(self, agent: AgentId) -> str:
        """Run the agent while it has work; returns its final status."""
        with self._lock(agent):
            holder = self.store.acquire_lease(agent, self.owner, LEASE_TTL_S)
            if holder is not None:
                raise LeaseHeld(str(agent), holder)
            try:
                while True:
                    record = self.store.get_agent(agent)
                    if record.status in (FAILED, INTERRUPTED):
                        return record.status
                    if record.status == SUSPENDED and (
                        record.wake_at_ns is None or record.wake_at_ns > time.time_ns()
                    ):
                        return SUSPENDED
                    if record.status == IDLE and not self.store.list_invocations(agent, [QUEUED]):
                        return IDLE
                    try:
                        self._execute(agent)
                        if self.store.get_agent(agent).status == SUSPENDED:
                            # Resumed after an interrupt with nothing left to wait for.
                            self.store.set_status(agent, IDLE)
                    except _Suspended:
                        continue  # re-check: a timer may already be due
                    except _RunAgain:
                        continue
                    except _Stop:
                        return self.store.get_agent(agent).status
            finally:
                self.store.release_lease(agent, self.owner)

    def _execute(self, agent: AgentId) -> None:
        record = self.store.get_agent(agent)
        hash = record.component_hash
        with self._live_lock:
            live = self._live.pop(agent, None)
        if live is not None and (
            live.hash != hash
            or live.session.persisted != record.oplog_length
            or live.created_at != record.created_at
        ):
            live = None  # another process (or a version update, or a re-creation) moved it on
        if live is not None:
            self._run(live)
            return
        entries = self.store.read_oplog(agent)
        created = entries[0]
        assert isinstance(created, AgentCreated)
        component = self._component(hash)
        linker = self._linker(hash, component)
        session = Session(
            agent,
            self.store,
            entries,
            args=created.args,
            env=created.env,
            on_output=self._output_for(agent),
            on_promise_completed=self._on_promise_completed,
        )
        session.limits = self.limits_for(agent)
        session.secrets = self.secrets
        wstore = self._new_store(session.limits)
        set_current(session)
        try:
            instance = linker.instantiate(wstore, component)
        except (wasmtime.WasmtimeError, wasmtime.Trap) as exc:
            self._fail(agent, session, None, f"instantiation failed: {_message(exc)}")
            raise _Stop() from None
        finally:
            set_current(None)
        self._run(_Live(session, wstore, instance, hash, record.created_at))

    def _output_for(self, agent: AgentId) -> Callable[[str, bytes], None] | None:
        output = self.output
        if output is None:
            return None
        return lambda stream, data: output(agent, stream, data)

    def _new_store(self, limits: Limits) -> wasmtime.Store:
        wstore = wasmtime.Store(self.engine)
        wstore.set_limits(
            memory_size=limits.memory_bytes,
            table_elements=-1 if limits.table_elements is None else limits.table_elements,
        )
        _arm(wstore, limits)
        return wstore

    # -- limits ---------------------------------------------------------------------
    def limits_for(self, agent: AgentId) -> Limits:
        """The host's defaults, then the component's limits, then the agent's."""
        merged = self.limits
        for scope in (str(agent.component_id), str(agent)):
            layer = self.store.get_limits(scope)
            if layer:
                merged = merged.merged(layer)
        return merged

    def set_limits(self, scope: str, overrides: dict[str, Any], replace: bool = False) -> None:
        """Set limits for a component (scope: its id) or an agent (``<id>/<name>``)."""
        current = {} if replace else self.store.get_limits(scope)
        self.store.set_limits(scope, {**current, **validate(overrides)})

    def retry(self, agent: AgentId) -> str | None:
        """Run a failed agent again (after raising a limit, say); returns the invocation
        that will be re-executed, if the failure was recorded in one."""
        invocation = self.store.retry(agent)
        self._on_promise_completed_agent(agent)
        return invocation

    def _run(self, live: _Live) -> None:
        """Replay what the instance has not seen yet, then run queued invocations live.
        An instance that ends idle is kept for the next invocation; any other ending
        (suspension, failure) drops it."""
        session, wstore, instance, hash = live.session, live.wstore, live.instance, live.hash
        agent = session.agent
        set_current(session)
        try:
            while True:
                session.skip_markers()
                if session.cursor >= len(session.entries):
                    break
                entry = session.entries[session.cursor]
                if isinstance(entry, InvocationStarted):
                    session.cursor += 1
                    self._call(session, wstore, instance, entry, hash)
                elif isinstance(entry, InvocationFailed):
                    raise _Stop()  # failed and not retried
                else:
                    raise Divergence(
                        str(agent),
                        session.index_of_cursor(),
                        type(entry).__name__,
                        "<no host call outside an invocation>",
                    )
            while True:
                queued = self.store.list_invocations(agent, [QUEUED])
                if not queued:
                    self._keep(live)
                    return
                inv = queued[0]
                started = InvocationStarted(
                    inv.invocation_id, inv.function, inv.params, inv.idempotency_key
                )
                # Renew the lease per invocation, so a long queue never outlives it.
                holder = self.store.acquire_lease(agent, self.owner, LEASE_TTL_S)
                if holder is not None:
                    raise LeaseHeld(str(agent), holder)
                first, pending = session.pending()
                if not self.store.start_invocation(agent, pending, first, started):
                    session.flush()
                    raise _Stop()  # interrupted between invocations
                session.mark_persisted(started)
                self._call(session, wstore, instance, started, hash)
        except Divergence as exc:
            # The oplog is the truth: record nothing, mark the agent failed with the reason.
            self.store.set_status(agent, FAILED, str(exc))
            raise _Stop() from None
        finally:
            set_current(None)

    def _keep(self, live: _Live) -> None:
        with self._live_lock:
            self._live[live.session.agent] = live
            while len(self._live) > self.max_live_instances:
                self._live.pop(next(iter(self._live)))  # the least recently run

    def forget_instance(self, agent: AgentId) -> None:
        """Drop a kept idle instance (after deleting or interrupting the agent)."""
        with self._live_lock:
            self._live.pop(agent, None)

    def _finished(self, invocation_id: str) -> None:
        if self.on_finished is not None:
            self.on_finished(invocation_id)

    def _call(
        self,
        session: Session,
        wstore: wasmtime.Store,
        instance: wc.Instance,
        started: InvocationStarted,
        hash: str,
    ) -> None:
        agent = session.agent
        export = self.resolve_export(hash, started.function)
        func = _get_func(wstore, instance, export)
        try:
            values = [
                parse_value(p, t)
                for p, t in zip(started.params, export.sig.param_types, strict=True)
            ]
        except ValueError as bad:  # ValuesError included
            self._fail(agent, session, started, f"recorded parameters do not decode: {bad}")
            raise _Stop() from None
        raw = [to_wasmtime(v, t) for v, t in zip(values, export.sig.param_types, strict=True)]
        session.current_function = started.function
        _arm(wstore, session.limits)
        try:
            result = func(wstore, *raw)
            func.post_return(wstore)
        except Exception as trapped:
            cause = session.raised or trapped
            session.raised = None
            self._after_trap(session, started, cause)  # returns only for a successful exit
            result = None
        text = (
            None
            if export.sig.result is None
            else format_value(from_wasmtime(result, export.sig.result), export.sig.result)
        )
        session.skip_markers()
        if session.replaying:
            entry = session.entries[session.cursor]
            if (
                isinstance(entry, InvocationFinished)
                and entry.invocation_id == started.invocation_id
            ):
                if entry.result != text:
                    raise Divergence(
                        str(agent),
                        session.index_of_cursor(),
                        f"result {entry.result}",
                        f"result {text}",
                    )
                session.cursor += 1
                return
            raise Divergence(
                str(agent),
                session.index_of_cursor(),
                describe(entry),
                f"<return from {started.function}>",
            )
        finished = InvocationFinished(started.invocation_id, text)
        first, pending = session.pending()
        self.store.finish_invocation(agent, pending, first, finished)
        session.mark_persisted(finished)
        self._finished(started.invocation_id)

    def _after_trap(self, session: Session, started: InvocationStarted, exc: Exception) -> None:
        """Turn what stopped the guest into the agent's next state: raises the control-flow
        signal for the caller, except after a successful exit, which returns."""
        agent = session.agent
        if isinstance(exc, Suspend):
            first, pending = session.pending()
            marker = Suspended(exc.promises, exc.wake_at_ns)
            if self.before_suspend is not None:
                self.before_suspend(agent)
            if self.store.suspend(agent, pending, first, marker):
                raise _Suspended()
            session.flush()
            raise _RunAgain()  # completed meanwhile (spec rule 4): run on now
        if isinstance(exc, GuestExit):
            if exc.ok:
                return
            message = "the guest exited with an error status"
        elif isinstance(exc, Divergence):
            raise exc
        elif isinstance(exc, HostError):
            message = str(exc)
        elif isinstance(exc, wasmtime.WasmtimeError | wasmtime.Trap):
            message = _trap_message(exc, session.limits)
        else:  # a bug in a host function: fail the agent, keep the host running
            message = f"host error: {type(exc).__name__}: {exc}"
        self._fail(agent, session, started, message)
        raise _Stop()

    def _fail(
        self, agent: AgentId, session: Session, started: InvocationStarted | None, message: str
    ) -> None:
        if started is None or session.replaying:
            # Failing while replaying means the recorded run did not fail: nothing to record.
            self.store.set_status(agent, FAILED, message)
            return
        failed = InvocationFailed(started.invocation_id, message)
        first, pending = session.pending()
        self.store.finish_invocation(agent, pending, first, failed)
        session.mark_persisted(failed)
        self._finished(started.invocation_id)

    # -- inspection -----------------------------------------------------------------
    def status_line(self, agent: AgentId) -> str:
        record = self.store.get_agent(agent)
        if record.status == SUSPENDED:
            waits = ", ".join(f"{agent}/{i}" for i in record.waiting_promises)
            return f"suspended, waiting on promise {waits}" if waits else "suspended (timer)"
        return record.status


def _get_func(wstore: wasmtime.Store, instance: wc.Instance, export: Export) -> Any:
    index: wc.ExportIndex | None = None
    for part in export.path:
        index = instance.get_export_index(wstore, part, index)
        if index is None:
            raise InvalidInput(f"export {export.name} not found in the instance")
    assert index is not None
    func = instance.get_func(wstore, index)
    if func is None:
        raise InvalidInput(f"export {export.name} is not a function")
    return func


def _arm(wstore: wasmtime.Store, limits: Limits) -> None:
    """Give the store a fresh deadline and fuel for the next call."""
    wstore.set_epoch_deadline(max(1, int(limits.deadline_s / EPOCH_TICK_S)))
    wstore.set_fuel(limits.fuel if limits.fuel is not None else _UNLIMITED_FUEL)


_UNLIMITED_FUEL = 2**62


def _message(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _trap_message(exc: BaseException, limits: Limits) -> str:
    text = str(exc)
    if "interrupt" in text:
        return (
            f"the invocation exceeded its time limit of {limits.deadline_s:g} s and was "
            "stopped (limit deadline_s)"
        )
    if "all fuel consumed" in text:
        return f"the invocation ran out of fuel: its limit is {limits.fuel} (limit fuel)"
    lines = [line for line in text.strip().splitlines() if line.strip()]
    head = lines[0] if lines else type(exc).__name__
    return f"the guest trapped: {head}" + (f" ({lines[-1].strip()})" if len(lines) > 1 else "")
