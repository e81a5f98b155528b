"""What ends a run other than success (a mixin of :class:`host.runtime.executor.Executor`):
a suspension, a trap (retried with the agent's policy or failed), a guest exit, an
infrastructure error (backed off) and the failure record itself, whose message ends with
the last STDERR_TAIL_BYTES the guest wrote to stderr. The rules are in the executor's
module docstring; the pure parts (delays, messages, what counts as a limit) in
host/runtime/failures.py.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import wasmtime

from host.clock import steady_ns
from host.errors import Divergence, HostError, LeaseLost
from host.ids import AgentId, PromiseId
from host.oplog import Entry, InvocationFailed, InvocationStarted, Retried, Suspended
from host.replay import Restart
from host.runtime import agent_rpc, golem_retry, named_retry
from host.runtime.failures import (
    is_infrastructure_error,
    is_limit,
    retry_delay_ns,
    trap_message,
)
from host.runtime.http_retry import FallBackToTrap
from host.runtime.interrupts import StoppedWaiting
from host.runtime.session import GuestExit, Session, Suspend
from host.runtime.steps import Step
from host.store import FAILED, Store

log = logging.getLogger("host.runtime.executor")

STDERR_TAIL_BYTES = 2048
_STDERR_MARK = "\nstderr:\n"  # between a failure's message and its stderr tail


def recorded_stderr_tail(entries: Sequence[Entry]) -> bytes:
    """The stderr tail that the last failed attempt of an invocation being retried
    recorded with its failure (the log ends with that failure and its retry marker), for
    a process that did not run that attempt: the CLI retrying what the server ran, or a
    host restarted in between. Empty when the log ends otherwise."""
    for entry in reversed(entries):
        if isinstance(entry, Retried):
            continue
        if isinstance(entry, InvocationFailed):
            _, mark, tail = entry.error.partition(_STDERR_MARK)
            return (tail + "\n").encode() if mark and tail else b""
        break
    return b""


class FailureHandling:
    """Suspensions, traps, retries, backoff and failure records of the executor's runs."""

    store: Store
    stopping: bool
    before_suspend: Callable[[AgentId], None] | None
    retry_backoff_s: tuple[float, float]
    default_retry_policy: dict[str, object] | None
    _backoff: dict[AgentId, tuple[float, float]]
    _stderr_tails: dict[AgentId, bytes]

    if TYPE_CHECKING:

        def forget_instance(self, agent: AgentId) -> None: ...

        def _ended(
            self,
            agent: AgentId,
            invocation_id: str,
            completes: tuple[PromiseId, bytes] | None,
        ) -> None: ...

    def _back_off(self, agent: AgentId, exc: BaseException) -> None:
        """Log an infrastructure error that stopped the agent's run and keep it from
        running again for a while (doubling per consecutive failure)."""
        first, longest = self.retry_backoff_s
        previous = self._backoff.get(agent)
        delay = first if previous is None else min(longest, previous[1] * 2)
        self._backoff[agent] = (time.monotonic() + delay, delay)
        self.forget_instance(agent)
        log.error(
            "agent %s: the store failed (%s: %s); the agent is not failed, it stays "
            "running and is retried in %.1f s",
            agent,
            type(exc).__name__,
            exc,
            delay,
        )

    def _after_trap(
        self, session: Session, started: InvocationStarted, exc: Exception
    ) -> Step | None:
        """Turn what stopped the guest into the agent's next step; None after a successful
        exit (the invocation finishes normally)."""
        agent = session.agent
        if isinstance(exc, Suspend):
            if exc.committed:
                return Step.SUSPENDED  # parked, then gave the instance up (parking.py)
            first, pending = session.pending()
            marker = Suspended(exc.promises, exc.wake_at_ns)
            if self.before_suspend is not None:
                self.before_suspend(agent)
            if self.store.suspend(agent, pending, first, marker):
                session.mark_persisted(marker)  # shows the output those records hold
                return Step.SUSPENDED
            session.flush()
            return Step.AGAIN  # completed meanwhile (spec rule 4): run on now
        if isinstance(exc, Restart):
            # set-oplog-index committed a Jump: a fresh instance replays without the
            # deleted entries and continues live from the target.
            return Step.AGAIN
        if self.stopping and isinstance(
            exc, wasmtime.WasmtimeError | wasmtime.Trap | StoppedWaiting
        ):
            # Interrupted by shutdown: record nothing; the replay on the next start
            # re-runs the invocation from its last committed step.
            return Step.STOP
        if is_infrastructure_error(exc):
            # The store failed under a host call, not the guest: record nothing and leave
            # the agent running with its invocation started; a later run replays it.
            self._back_off(agent, exc)
            return Step.RETRY
        if isinstance(exc, GuestExit):
            if exc.ok:
                return None
            message = "the guest exited with an error status"
        elif isinstance(exc, Divergence | LeaseLost):
            raise exc  # LeaseLost: taken over; record nothing, not even a failure
        elif isinstance(exc, HostError):
            message = str(exc)
        elif isinstance(exc, FallBackToTrap):
            # A host call's transient failure handed to this retry (Golem's trap fallback).
            message = f"the guest trapped: {exc}"
            if self._retry_later(session, started, message, exc.trap_type):
                return Step.RETRYING
        elif isinstance(exc, wasmtime.WasmtimeError | wasmtime.Trap):
            message = trap_message(exc, session.limits)
            if not is_limit(exc) and self._retry_later(session, started, message):
                return Step.RETRYING
        else:  # a bug in a host function: fail the agent, keep the host running
            message = f"host error: {type(exc).__name__}: {exc}"
        self._fail(agent, session, started, message)
        return Step.STOP

    def _keep_stderr_tail(self, session: Session, entries: Sequence[Entry]) -> None:
        """Keep the last STDERR_TAIL_BYTES the guest wrote to stderr in the session (failure
        messages end with them). A retried attempt's replay does not write again what the
        failed attempt wrote, so the tail of the agent's last failed attempt carries over:
        from memory if this process ran it, else as its failure recorded it (``entries``,
        the log the session replays)."""
        kept = self._stderr_tails.get(session.agent)
        if kept is None:
            kept = recorded_stderr_tail(entries)
        session.stderr_tail = bytearray(kept)
        deliver = session.on_output

        def on_output(stream: str, data: bytes) -> None:
            if stream == "stderr":
                tail = session.stderr_tail
                tail += data
                del tail[: max(0, len(tail) - STDERR_TAIL_BYTES)]
            if deliver is not None:
                deliver(stream, data)

        session.on_output = on_output

    def _retry_later(
        self,
        session: Session,
        started: InvocationStarted,
        message: str,
        kind: str | None = None,
    ) -> bool:
        """Schedule an automatic retry of the trapped invocation if the agent's retry policy
        allows another attempt: its named policies (golem:api/retry@1.5.0) once it set or
        removed one (host/runtime/named_retry.py), else the policy set-retry-policy set
        (session state), else the host's or Golem's default. False if it does not: the
        invocation fails."""
        session.skip_markers()  # an earlier failed attempt of this invocation
        if session.replaying:
            return False
        agent = session.agent
        attempt = self.store.get_agent(agent).retry_count + 1
        legacy = session.state.get("retry-policy", self.default_retry_policy)
        state = None
        if golem_retry.has_named_policies(session):
            props = named_retry.trap_properties(
                kind or named_retry.trap_type(message),
                started.function,
                agent.name,
                session.idempotent,
            )
            failures = named_retry.previous_failures(session.entries, started.invocation_id)
            decision = named_retry.decide(
                golem_retry.policies(session), props, failures, legacy, attempt
            )
            delay, state = decision.delay_ns, decision.state
        else:
            delay = retry_delay_ns(legacy, attempt)  # an unknown or transient-error trap
        if delay is None:
            return False
        error = self._with_stderr(session, message)
        failed = InvocationFailed(started.invocation_id, error, retry_state=state)
        first, pending = session.pending()
        self._stderr_tails[agent] = bytes(session.stderr_tail)
        self.store.retry_later(agent, pending, first, failed, steady_ns() + delay)
        session.mark_persisted(failed)
        log.info("agent %s: %s; retry %d in %.3f s", agent, message, attempt, delay / 1e9)
        return True

    @staticmethod
    def _with_stderr(session: Session, message: str) -> str:
        tail = bytes(session.stderr_tail)
        if not tail:
            return message
        return f"{message}{_STDERR_MARK}{tail.decode('utf-8', 'replace').rstrip()}"

    def _fail(
        self, agent: AgentId, session: Session, started: InvocationStarted | None, message: str
    ) -> None:
        message = self._with_stderr(session, message)
        self._stderr_tails.pop(agent, None)
        session.skip_markers()  # an earlier failed attempt of this invocation
        if started is None or session.replaying:
            # Failing while replaying means the recorded run did not fail: nothing to record.
            self.store.set_status(agent, FAILED, message)
            return
        failed = InvocationFailed(started.invocation_id, message)
        first, pending = session.pending()
        completes = agent_rpc.completion_for(self.store, agent, started, failed)
        self.store.finish_invocation(agent, pending, first, failed, completes=completes)
        session.mark_persisted(failed)
        self._ended(agent, started.invocation_id, completes)
