"""Running agents: the lease loop, replay, live invocations and what stops them.

An agent's memory is never saved. Whenever it has work (a queued invocation, a
completed promise it waits on, a due timer, an invocation a crash interrupted) a
fresh instance replays the oplog (recorded answers, no side effect repeated) and then
continues live. Suspension drops the instance; an idle agent's instance is kept for
its next invocation while the process has room.

Every run ends in a :class:`Step`, a value rather than an exception, so the loop that
drives an agent reads as a table of what happens next. The executor is one class over
four mixins: its leases (host/runtime/run_leases.py), what ends a run other than success
(host/runtime/run_failures.py), snapshots (host/runtime/run_snapshots.py) and stopping or
interrupting runs (host/runtime/run_control.py).

Leases (host/store/sqlite_leases.py has the rules) are held per process: a run holds the
agent's lease, and the executor's heartbeat thread renews this process's row every third
of the TTL (one write, however many agents it holds), so an invocation longer than the
TTL keeps its lease. An executor whose scheduler ``keeps_leases`` (the server's pool)
keeps an agent's lease after its run, in memory (``_owned``) and in the store, until the
process stops (:meth:`Executor.close` releases them all in one transaction): a resume of
an agent it ran before takes no lease transaction. Others (the CLI) release it after
each run. A process that finds the agent held by another (live) process does not run it:
:meth:`Executor.run_agent_when_free` waits until the holder has done the work (its
scanner finds it) or lets go. If another process took the agent over anyway (this one
stalled past the TTL), the store refuses this process's next write with
:class:`~host.errors.LeaseLost`: the run stops at once, records nothing and drops the
instance (and the lease it kept), and the other process's replay carries on.

Retries (Golem's semantics: a trap is retried with the agent's policy, ``retrying`` with a
durable wake-up in between, ``failed`` once the attempts are spent) are in
host/runtime/run_failures.py; stopping and interrupting runs in host/runtime/run_control.py.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import wasmtime
import wasmtime.component as wc

from host import agent_versions
from host.agents.agenttypes import Snapshotting
from host.clock import steady_ns
from host.errors import AgentBusy, Divergence, HostError, LeaseHeld, LeaseLost
from host.ids import AgentId, PromiseId
from host.limits import Limits
from host.oplog import (
    AgentCreated,
    Entry,
    InvocationFailed,
    InvocationFinished,
    InvocationStarted,
    SuccessfulUpdate,
)
from host.resume_entries import entries_for_resume, kinds
from host.runtime import (
    agent_rpc,
    snapshots,
    update_queue,
    update_restart,
    updates,
)
from host.runtime.agent_locks import AgentLocks
from host.runtime.agentproto import agent_error_text, is_initialize
from host.runtime.engine import EpochTicker
from host.runtime.failures import (
    INFRASTRUCTURE_ERRORS,
)
from host.runtime.handles import call_export
from host.runtime.interrupts import StoreWatch, arm, was_requested, watch_of, watch_store
from host.runtime.lru import LRU
from host.runtime.parking import Parking
from host.runtime.registry import ComponentRegistry, first_line, get_func
from host.runtime.run_control import RunControl
from host.runtime.run_failures import FailureHandling
from host.runtime.run_leases import LeaseKeeping
from host.runtime.run_snapshots import SnapshotTaking
from host.runtime.scheduler import Scheduler
from host.runtime.session import Session, set_current
from host.runtime.steps import Step
from host.secrets import PromiseSecrets
from host.store import FAILED, IDLE, RUNNING, SUSPENDED, AgentRecord, Store, lease_owner
from host.store.base import INTERRUPTED, QUEUED, RETRYING
from host.values import Case, format_value, parse_value

LEASE_TTL_S = 300.0  # the default; Executor(lease_ttl_s=...) for tests
# Snapshotting agents whose invocation count (towards every-n-invocation) is kept.
SNAPSHOT_CLOCKS = 10_000

log = logging.getLogger(__name__)


@dataclass
class _Live:
    """An agent's instance kept between invocations while it is idle."""

    session: Session
    wstore: wasmtime.Store
    instance: wc.Instance
    hash: str
    created_at: int


def _let_go(live: _Live | None) -> None:
    """Free a dropped idle instance's oplog now. Its session sits in reference cycles
    (closures over it), so its entries (100,000 objects for a long log) would wait for a
    full collection, which then cost whatever ran next ~1 us an entry (measured with
    scripts/bench_replay.py). An idle instance is only in ``_live``: nothing else uses it."""
    if live is not None:
        live.session.entries = []


class Executor(LeaseKeeping, FailureHandling, SnapshotTaking, RunControl):
    """Runs the agents of one store in this process."""

    def __init__(
        self,
        store: Store,
        registry: ComponentRegistry,
        scheduler: Scheduler,
        *,
        limits: Limits,
        secrets: PromiseSecrets,
        output: Callable[[AgentId, str, bytes], None] | None = None,
        lease_ttl_s: float = LEASE_TTL_S,
    ) -> None:
        self.store = store
        self.lease_ttl_s = lease_ttl_s
        self.registry = registry
        self.engine = registry.engine
        self.scheduler = scheduler
        self.limits = limits
        self.secrets = secrets
        # The URL of a promise's webhook (set by HostService; create-webhook answers it).
        self.webhook_url: Callable[[PromiseId], str] | None = None
        self.output = output
        self.owner = lease_owner()
        self._ticker = EpochTicker(self.engine)
        self._agent_locks = AgentLocks()  # entries only while held (agent_locks.py)
        self._thread = threading.local()  # .running: agents this thread runs now
        # Idle agents' instances, most recently run last. Suspended and failed agents are
        # never here: suspension drops the instance.
        self._live: dict[AgentId, _Live] = {}
        self._live_lock = threading.Lock()
        self.max_live_instances = 64
        # Test seam, off by default: runs between "nothing is ready" and the suspension
        # commit, the window in which spec rule 4's race happens.
        self.before_suspend: Callable[[AgentId], None] | None = None
        self.stopping = False
        # The store watch (host/runtime/interrupts.py) of each agent running here now:
        # interrupt_running sets its flag and the guest traps at the next epoch tick.
        self._running_watch: dict[AgentId, StoreWatch] = {}
        # Agents whose last run met an infrastructure error: (monotonic time before which
        # they are not run again, the delay that set it). The delay doubles per failure
        # from the first to the second value (seconds), so a disk that stays full is not
        # retried in a hot loop by the scanner; a run that gets through clears it.
        self.retry_backoff_s = (0.5, 30.0)
        self._backoff: dict[AgentId, tuple[float, float]] = {}
        # The retry policy of agents whose guest set none (None: Golem's default).
        self.default_retry_policy: dict[str, object] | None = None
        self.max_in_function_retry_delay_ns = 20 * 10**9  # Golem's default (HostService's)
        # The snapshotting of plain components and of agent types that say `default`
        # (Golem's executor config oplog.default_snapshotting, disabled by default).
        self.default_snapshotting = Snapshotting()
        # Bounded (host/runtime/lru.py) so that a process which ran many snapshotting
        # agents does not keep a clock for each forever (issue 13); a forgotten clock
        # starts again, as after a restart of the process.
        self._snapshot_clocks: LRU[AgentId, snapshots.SnapshotClock] = LRU(SNAPSHOT_CLOCKS)
        # What guests' agent-to-agent calls go through (host.runtime.agent_rpc.AgentCalls).
        self.agent_calls: Any = None
        # The stderr tail of each agent's last automatically retried attempt.
        self._stderr_tails: dict[AgentId, bytes] = {}
        # Agents whose lease this process holds now (how many runs of each), kept alive
        # by the heartbeat thread (started by the first run), and agents whose lease it
        # keeps between runs (``keeps_leases`` schedulers only; module docstring).
        self._leased: dict[AgentId, int] = {}
        self.keep_leases = bool(getattr(scheduler, "keeps_leases", False))
        self._owned: set[AgentId] = set()
        self._leased_lock = threading.Lock()
        self._heartbeat_stop = threading.Event()
        self._heartbeat_thread: threading.Thread | None = None
        # Suspended agents whose instance waits on its thread for a while (parking.py);
        # a scheduler that can spare threads (the server's pool) sets it in attach.
        self.parking: Parking | None = None
        scheduler.attach(self)

    def close(self) -> None:
        if self.parking is not None:
            self.parking.close()
        self._ticker.stop()
        self._live.clear()  # kept instances die with the executor, not with its last referrer
        self._heartbeat_stop.set()
        if self._heartbeat_thread is not None:
            self._heartbeat_thread.join(timeout=5)
        if self._heartbeat_thread is not None or self._owned:
            self._owned.clear()
            try:
                self.store.release_owner(self.owner)  # every lease kept, at once
            except Exception as exc:  # the store is gone: they go stale instead
                log.warning("releasing this process's leases failed: %s", exc)

    def in_run(self) -> bool:
        """Whether the calling thread is inside an agent's run (a host call, a test seam)."""
        return bool(getattr(self._thread, "running", 0))

    def _ended(
        self, agent: AgentId, invocation_id: str, completes: tuple[PromiseId, bytes] | None
    ) -> None:
        # An invocation another agent awaits completes that agent's promise (agent_rpc).
        agent_rpc.invocation_ended(completes, self.scheduler.wake)
        self.scheduler.finished(agent, invocation_id)
        self.store.announce_ended(agent)  # held requests in other processes look now

    def _woken(self, promise: PromiseId) -> None:
        # A guest completed another agent's (or its own) promise: its owner has work.
        self.scheduler.wake(promise.agent)

    # -- execution ------------------------------------------------------------------
    def _work_status(self, agent: AgentId, record: AgentRecord | None = None) -> str | None:
        """None if the agent has work a run would do now, else its status (``record``:
        the agent as just read, else it is read)."""
        if record is None:
            record = self.store.get_agent(agent)
        if record.status in (FAILED, INTERRUPTED):
            return record.status
        if record.status in (SUSPENDED, RETRYING) and (
            record.wake_at_ns is None or record.wake_at_ns > steady_ns()
        ):
            return record.status
        if record.status == IDLE and not self.store.list_invocations(agent, [QUEUED]):
            # An update requested of an idle agent is work: applying it.
            pending = updates.last_is_pending(self.store, agent, record.oplog_length)
            return None if pending else IDLE
        return None

    def run_agent(self, agent: AgentId) -> str:
        """Run the agent while it has work; returns its final status. LeaseHeld if another
        process runs it, LeaseLost (a LeaseHeld) if another process took it over while
        this one ran it: then nothing more was recorded and the instance is dropped. An
        agent backing off after an infrastructure error (:meth:`_back_off`) is not run
        before its time and stays running."""
        backoff = self._backoff.get(agent)
        if backoff is not None and time.monotonic() < backoff[0]:
            return RUNNING
        with self._agent_locks.hold(agent):
            self._take(agent)
            self._thread.running = getattr(self._thread, "running", 0) + 1
            lost = False
            known: AgentRecord | None = None  # the agent as the last step left it
            try:
                while not self.stopping:
                    record = known if known is not None else self.store.get_agent(agent)
                    known = None
                    at_rest = self._work_status(agent, record)
                    if at_rest is not None:
                        return at_rest
                    if record.status == RETRYING:
                        # Its retry is due: the replay skips the failed attempt and runs
                        # the invocation again, live.
                        self.store.set_status(agent, RUNNING)
                    try:
                        step = self._execute(agent, record)
                    except INFRASTRUCTURE_ERRORS as exc:
                        # A transition of the executor's own failed (starting, finishing,
                        # suspending): nothing of it was committed, so the agent is as the
                        # store last saw it; it is retried after a backoff.
                        self._back_off(agent, exc)
                        return record.status
                    except LeaseHeld:
                        raise
                    except Exception as exc:
                        # A bug of the host's: fail the agent (a resume retries it) rather
                        # than leave it running for every scan to run into again.
                        log.exception("agent %s: the run failed", agent)
                        self.forget_instance(agent)
                        self.store.set_status(agent, FAILED, f"host error: {first_line(exc)}")
                        return FAILED
                    if step is Step.RETRY:
                        return RUNNING  # backing off (_after_trap): its invocation waits
                    self._backoff.pop(agent, None)
                    if step is Step.STOP:
                        return self.store.get_agent(agent).status
                    if step is Step.IDLE:
                        known = self.store.get_agent(agent)
                        if known.status == SUSPENDED:
                            # Resumed after an interrupt with nothing left to wait for.
                            self.store.set_status(agent, IDLE)
                            known = replace(known, status=IDLE)
                    # SUSPENDED and AGAIN: re-check, a timer may already be due.
                return self.store.get_agent(agent).status
            except LeaseLost:
                lost = True
                self.forget_instance(agent)  # the new owner moves the oplog on without it
                raise
            finally:
                self._thread.running -= 1
                self._let_go(agent, lost)

    def _execute(self, agent: AgentId, record: AgentRecord) -> Step:
        """One step of the agent (``record``: as just read, passed down rather than read
        again)."""
        hash = record.component_hash
        with self._live_lock:
            live = self._live.pop(agent, None)
        if live is not None and (
            live.hash != hash
            or live.session.persisted != record.oplog_length
            or live.created_at != record.created_at
        ):
            _let_go(live)  # another process (or a version update, or a re-creation) moved it on
            live = None
        if live is not None:
            return self._run(live)
        fresh = self._instance(agent, hash, record.created_at)
        return fresh if isinstance(fresh, Step) else self._run(fresh)

    def _instance(self, agent: AgentId, hash: str, created_at: int) -> _Live | Step:
        """A fresh instance of ``hash`` for the agent, its session over the whole oplog
        (started at the latest snapshot, loaded); Step.STOP if it could not be made."""

        # From the latest snapshot on (plus the few older entries a run needs): a resume
        # of an agent that snapshots does not read its whole history. A pending update
        # always follows the latest snapshot (none is taken while one is pending).
        def read() -> list[Entry]:
            return entries_for_resume(
                self.store.read_oplog_resume_kinds(agent),
                lambda start: self.store.read_oplog(agent, start),
            )

        entries = read()
        if updates.decide_automatic(self, agent, entries):
            # A pending automatic update was tried on its version and the outcome
            # recorded: the agent runs the version that is pinned now.
            entries = read()
            hash = self.store.get_agent(agent).component_hash
        created = entries[0]
        assert isinstance(created, AgentCreated)
        component = self.registry.component(hash)
        linker = self.registry.linker(hash, component)
        env = created.env
        if SuccessfulUpdate in kinds(entries):
            # Golem's get-environment names the version the agent runs now (its
            # enrich_env); an agent never updated keeps its creation entry's numbers.
            env = agent_versions.with_version(env, self.store.get_agent(agent).component_version)
        session = Session(
            agent,
            self.store,
            entries,
            args=created.args,
            env=env,
            on_output=self._output_for(agent),
            on_promise_completed=self._woken,
        )
        session.limits = self.limits_for(agent)
        session.default_retry_policy = self.default_retry_policy
        session.max_in_function_retry_delay_ns = self.max_in_function_retry_delay_ns
        session.secrets = self.secrets
        session.webhook_url = self.webhook_url
        session.agent_calls = self.agent_calls
        session.wake_agent = self.scheduler.wake
        session.update_pending = updates.pending(entries) is not None
        if self.parking is not None:
            session.park = self.parking.hook(
                session, self._running_watch.get, lambda: self.before_suspend
            )
        self._keep_stderr_tail(session, entries)
        wstore = self.new_store(session.limits)
        set_current(session)
        try:
            instance = linker.instantiate(wstore, component)
            if not self._load_latest_snapshot(session, wstore, instance, hash):
                return Step.STOP
        except (wasmtime.WasmtimeError, wasmtime.Trap) as exc:
            self._fail(agent, session, None, f"instantiation failed: {first_line(exc)}")
            return Step.STOP
        finally:
            set_current(None)
        return _Live(session, wstore, instance, hash, created_at)

    @contextmanager
    def holding(self, agent: AgentId, busy: str | None = None) -> Iterator[None]:
        """Hold the agent (this process's lock and its lease) for an operation outside a
        run (recording an update request); LeaseHeld if another process runs it. With
        ``busy`` (what the caller is doing), AgentBusy instead of waiting while this
        process runs it."""
        self._unpark(agent)
        locks = self._agent_locks
        with locks.hold(agent) if busy is None else locks.hold_if_free(agent) as held:
            if held is False:
                assert busy is not None
                raise AgentBusy(str(agent), busy)
            self._take(agent)
            lost = False
            try:
                yield
            except LeaseLost:
                lost = True
                raise
            finally:
                self._let_go(agent, lost)

    def _output_for(self, agent: AgentId) -> Callable[[str, bytes], None] | None:
        output = self.output
        if output is None:
            return None
        return lambda stream, data: output(agent, stream, data)

    def new_store(self, limits: Limits) -> wasmtime.Store:
        """A wasmtime store with the limits of one agent (or of a scratch instance)."""
        wstore = wasmtime.Store(self.engine)
        watch_store(wstore, self, "stopping")
        wstore.set_limits(
            memory_size=limits.memory_bytes,
            table_elements=-1 if limits.table_elements is None else limits.table_elements,
        )
        arm(wstore, limits)
        return wstore

    def limits_for(self, agent: AgentId) -> Limits:
        """The host's defaults, then the component's limits, then the agent's."""
        merged = self.limits
        for layer in self.store.get_limits_of((str(agent.component_id), str(agent))):
            if layer:
                merged = merged.merged(layer)
        return merged

    def _run(self, live: _Live) -> Step:
        """Replay what the instance has not seen yet, then run queued invocations live.
        An instance that ends idle is kept for the next invocation; any other ending
        (suspension, failure) drops it."""
        session, wstore, instance, hash = live.session, live.wstore, live.instance, live.hash
        agent = session.agent
        set_current(session)
        try:
            while (entry := session.next_invocation()) is not None:
                if isinstance(entry, InvocationFailed):
                    return Step.STOP  # failed and not retried
                step = self._call(session, wstore, instance, entry, hash)
                if step is not None:
                    return step
            while True:
                if session.update_pending:
                    # Between invocations: apply it; the next pass runs the version it chose.
                    updates.apply_between(self, live)
                    return Step.AGAIN
                queued = self.store.list_invocations(agent, [QUEUED])
                if self.stopping:
                    return Step.STOP  # shutting down: the queue waits for the next start
                if not queued:
                    self._keep(live)
                    return Step.IDLE
                inv = queued[0]
                if update_queue.is_update(inv.function):
                    # An update requested while it ran: into the oplog now, applied next.
                    first, pending = session.pending()
                    request = update_queue.request_of(inv)
                    self.store.append(
                        agent, first, [*pending, request], takes_invocation=inv.invocation_id
                    )
                    session.mark_persisted(request)
                    session.update_pending = True
                    continue
                started = InvocationStarted(
                    inv.invocation_id,
                    inv.function,
                    inv.params,
                    inv.idempotency_key,
                    traceparent=inv.traceparent,
                    tracestate=inv.tracestate,
                )
                # No lease write per invocation: start_invocation checks the fencing token
                # in its own transaction (a lease lost, or this process evicted as
                # stale, raises LeaseLost there, before anything runs).
                first, pending = session.pending()
                if not self.store.start_invocation(agent, pending, first, started):
                    session.flush()
                    return Step.STOP  # interrupted between invocations
                session.mark_persisted(started)
                step = self._call(session, wstore, instance, started, hash)
                if step is not None:
                    return step
        except Divergence as exc:
            # The oplog is the truth: record nothing, mark the agent failed with the reason.
            self.store.set_status(agent, FAILED, str(exc))
            return Step.STOP
        finally:
            set_current(None)

    def _keep(self, live: _Live) -> None:
        with self._live_lock:
            self._live[live.session.agent] = live
            while len(self._live) > self.max_live_instances:
                _let_go(self._live.pop(next(iter(self._live))))  # the least recently run

    def forget_instance(self, agent: AgentId) -> None:
        """Drop a kept idle instance (after deleting or interrupting the agent) and the
        lease kept with it: the next run acquires it afresh."""
        if self.parking is not None:
            self.parking.release(agent)
        with self._live_lock:
            _let_go(self._live.pop(agent, None))
        with self._leased_lock:
            self._owned.discard(agent)

    def _call(
        self,
        session: Session,
        wstore: wasmtime.Store,
        instance: wc.Instance,
        started: InvocationStarted,
        hash: str,
    ) -> Step | None:
        """One invocation, replayed or live; None once it finished (the run goes on)."""
        agent = session.agent
        try:
            export = self.registry.resolve_export(hash, started.function)
        except HostError as bad:  # recorded by an older host: fail it, never crash the run
            self._fail(agent, session, started, f"the invocation cannot run: {bad}")
            return Step.STOP
        try:
            values = [
                parse_value(p, t)
                for p, t in zip(started.params, export.sig.param_types, strict=True)
            ]
        except ValueError as bad:  # ValuesError included
            self._fail(agent, session, started, f"recorded parameters do not decode: {bad}")
            return Step.STOP
        session.current_function = started.function
        session.invocation_id = started.invocation_id
        session.invocation_started_ns = started.timestamp
        session.invocation_traceparent = started.traceparent
        session.invocation_tracestate = started.tracestate
        session.invocation_key = started.idempotency_key
        arm(wstore, session.limits)
        session.start_invocation_clock()
        watch = watch_of(wstore)
        session.watch = watch  # a host call's wait asks it (interrupts.sleep_unless_stopped)
        if watch is not None:
            self._running_watch[agent] = watch
        try:
            # Handles of exported resources are numbers in the session's table (handles.py).
            result = call_export(session.exported, wstore, instance, export, values, get_func)
        except Exception as trapped:
            cause = session.raised or trapped
            session.raised = None
            if watch is not None and watch.interrupted and was_requested(cause):
                # Interrupted by request: record nothing; a resume replays the invocation
                # from its last committed step and continues it live (at once, for an
                # automatic update: host/runtime/update_restart.py).
                self._running_watch.pop(agent, None)
                if watch.restart:
                    update_restart.take_for_restart(self, session)
                    return Step.AGAIN
                self.store.set_status(agent, INTERRUPTED)
                return Step.STOP
            step = self._after_trap(session, started, cause)
            if step is not None:
                return step
            result = None  # a successful exit
        finally:
            self._running_watch.pop(agent, None)
            session.watch = None
        if is_initialize(export.name) and isinstance(result, Case) and result.name == "err":
            # An agent whose initialize answers an agent-error never existed properly.
            message = f"initialize failed: {agent_error_text(result.value)}"
            self._fail(agent, session, started, message)
            return Step.STOP
        try:
            text = None if export.sig.result is None else format_value(result, export.sig.result)
        except ValueError as bad:  # a result the host cannot record: fail, never crash
            self._fail(agent, session, started, f"the result cannot be recorded: {bad}")
            return Step.STOP
        if session.expect_finished(started, text):
            return None  # replayed: the recorded run finished just so
        finished = InvocationFinished(started.invocation_id, text)
        self._stderr_tails.pop(agent, None)
        first, pending = session.pending()
        completes = agent_rpc.completion_for(self.store, agent, started, finished, hash)
        self.store.finish_invocation(agent, pending, first, finished, completes=completes)
        session.mark_persisted(finished)
        self._ended(agent, started.invocation_id, completes)
        self._snapshot_if_due(session, wstore, instance, hash)
        return None
