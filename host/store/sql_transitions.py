"""An agent's status transitions outside a run, on SQL for both stores (a mixin of
:class:`~host.store.sql_store.SqlStore`): retrying a failed agent now or later, an
interrupt (done here, or asked of the process that runs the agent), waking a sleeping
agent and resuming an interrupted one. Each is one transaction, as in sql_store.py; and
:meth:`AgentTransitions._set_agent` is the one way an agent's row is updated there."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from host import oplog
from host.errors import Conflict
from host.ids import AgentId
from host.oplog import Entry, InvocationFailed
from host.oplog_codec import decode_row
from host.store.base import AgentStatus, InvocationState
from host.store.sql_dialect import SqlDialect, _key


class AgentTransitions(SqlDialect):
    """Agents' status changes that are not a run's own steps."""

    def _set_agent(
        self, db: Any, agent: AgentId, changes: str, *values: object, only_if: tuple[Any, ...] = ()
    ) -> bool:
        """``UPDATE agents SET <changes>`` (with ``values``) of the agent's row, if it has one
        and ``only_if`` (a condition and its values) holds too; whether a row changed."""
        where = "component_id = ? AND name = ?"
        if only_if:
            where += f" AND {only_if[0]}"
        cur = db.execute(
            self._sql(f"UPDATE agents SET {changes} WHERE {where}"),
            (*values, *_key(agent), *only_if[1:]),
        )
        return bool(cur.rowcount)

    def retry(self, agent: AgentId) -> str | None:
        with self._tx("retry") as db:
            self._lock_agents(db, agent)
            status = self._require_agent(db, agent)
            if status != AgentStatus.FAILED:
                raise Conflict(f"agent {agent} is {status}, not failed: nothing to retry")
            row = db.execute(
                self._sql(
                    "SELECT idx, entry, data FROM oplog WHERE component_id = ? AND name = ? "
                    "ORDER BY idx DESC LIMIT 1"
                ),
                _key(agent),
            ).fetchone()
            last = decode_row(row[1], row[2])
            invocation = None
            if isinstance(last, InvocationFailed):
                invocation = last.invocation_id
                self._append(db, agent, row[0] + 1, [oplog.Retried(invocation)])
                db.execute(
                    self._sql(
                        "UPDATE invocations SET state = ?, error = NULL, finished_at = NULL "
                        "WHERE invocation_id = ?"
                    ),
                    (InvocationState.STARTED, invocation),
                )
            # Otherwise it failed while replaying (a divergence, an instantiation error):
            # nothing was recorded, and the next replay simply tries again.
            self._set_agent(db, agent, "status = ?, retry_count = 0", AgentStatus.RUNNING)
            self._notify(db, agent, work=True)
            return invocation

    def retry_later(
        self,
        agent: AgentId,
        pending: Sequence[Entry],
        first_index: int,
        failed: InvocationFailed,
        wake_at_ns: int,
    ) -> None:
        with self._tx("retry_later") as db:
            self._fence(db, agent)
            self._append(
                db, agent, first_index, [*pending, failed, oplog.Retried(failed.invocation_id)]
            )
            db.execute(
                self._sql(
                    "UPDATE invocations SET state = ?, error = NULL, finished_at = NULL "
                    "WHERE invocation_id = ?"
                ),
                (InvocationState.STARTED, failed.invocation_id),
            )
            self._set_agent(
                db,
                agent,
                "status = ?, last_error = ?, waiting_promises = NULL, wake_at_ns = ?, "
                "retry_count = retry_count + 1",
                AgentStatus.RETRYING,
                failed.error,
                wake_at_ns,
            )

    def interrupt(self, agent: AgentId) -> AgentStatus:
        with self._tx("interrupt") as db:
            self._lock_agents(db, agent)
            status = self._require_agent(db, agent)
            if status == AgentStatus.RUNNING:
                raise Conflict(
                    f"agent {agent} is running an invocation in another process; interrupt "
                    "it through the process that runs it (POST .../interrupt to its server)"
                )
            if status in (AgentStatus.IDLE, AgentStatus.SUSPENDED, AgentStatus.RETRYING):
                self._set_agent(db, agent, "status = ?", AgentStatus.INTERRUPTED)
                self._notify(db, agent, work=False)
            return status

    def request_interrupt(self, agent: AgentId) -> bool:
        with self._tx("request_interrupt") as db:
            asked = self._set_agent(
                db, agent, "interrupt_requested = 1", only_if=("status = ?", AgentStatus.RUNNING)
            )
            if asked:
                self._notify(db, agent, work=True)  # PostgreSQL: the owner hears NOTIFY
            return asked

    def take_interrupt_request(self, agent: AgentId) -> bool:
        with self._tx("take_interrupt_request") as db:
            return self._set_agent(
                db, agent, "interrupt_requested = 0", only_if=("interrupt_requested = 1",)
            )

    def wake_now(self, agent: AgentId) -> bool:
        with self._tx("wake_now") as db:
            woken = self._set_agent(
                db,
                agent,
                "wake_at_ns = 0",
                only_if=("status IN (?, ?)", AgentStatus.SUSPENDED, AgentStatus.RETRYING),
            )
            if woken:
                self._notify(db, agent, work=True)
            return woken

    def resume(self, agent: AgentId) -> None:
        with self._tx("resume") as db:
            self._lock_agents(db, agent)
            status = self._require_agent(db, agent)
            if status != AgentStatus.INTERRUPTED:
                raise Conflict(f"agent {agent} is {status}, not interrupted")
            # Due now: a replay re-checks whatever it was waiting for and runs its queue.
            self._set_agent(
                db,
                agent,
                "status = ?, wake_at_ns = 0, interrupt_requested = 0",
                AgentStatus.SUSPENDED,
            )
            self._notify(db, agent, work=True)
