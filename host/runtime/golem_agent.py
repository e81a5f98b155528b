"""The interfaces of Golem's agent model (Golem 1.5, golem-rust 2.x, golem-ts 1.1.x).

An agent component built by Golem's SDKs imports far more than it calls (Golem's
TypeScript runtime imports 51 interfaces and calls a handful), so every interface of
the model links, and what agent-host cannot serve yet fails the *call* with a message
naming the function, never the registration (issue "Golem agents: run what golem-rust
and golem-ts compile, unmodified", item 1). Served for real:

* ``golem:api/host@1.5.0``: the promise functions and durability controls, which are
  1.3.0's on ``golem:core/types@1.5.0`` records of the same shape, so
  :data:`host.runtime.golem.FUNCS` serves them (:data:`HOST_FUNCS` lists which);
* ``golem:core/types@1.5.0``: ``parse-uuid``, ``uuid-to-string``;
* ``golem:api/oplog@1.5.0``: ``get-oplog`` and ``search-oplog``, an oplog as Golem's
  public entries (host/runtime/golem_oplog.py);
* ``golem:api/retry@1.5.0``: the named retry policies (host/runtime/golem_retry.py),
  which decide a trap's retries (host/runtime/run_failures.py);
* ``wasi:logging/logging``: ``log`` writes a line to the agent's stderr, recorded in the
  oplog like any stdout/stderr write (so replay does not write it twice);
* ``wasi:config/store``: the agent's config values given at creation, by dotted key (a
  string value as itself, others as JSON text), as ``get-config-value`` reads them;
* ``golem:durability/durability@1.5.0``: a guest's own durable functions
  (:mod:`host.runtime.durability`);
* ``golem:api/context@1.5.0``: spans and the invocation context
  (:mod:`host.runtime.context`).
"""

from __future__ import annotations

import uuid
from typing import Any

from host.errors import HostError
from host.runtime import golem
from host.runtime.session import HostFunc, Kind, Session
from host.values import Case, Some
from host.values.types import FuncSig

HOST_1_5 = "golem:api/host@1.5.0"

# golem:api/host@1.5.0 functions that mean what the golem.FUNCS entry of the same name
# implements for 1.3.0 (golem_workers builds each record from the 1.5.0 function's own
# types), `fork` (of the running agent) included.
HOST_FUNCS = frozenset(
    {
        "create-promise",
        "get-promise",
        "complete-promise",
        "[method]get-promise-result.subscribe",
        "[method]get-promise-result.get",
        "get-oplog-index",
        "set-oplog-index",
        "oplog-commit",
        "mark-begin-operation",
        "mark-end-operation",
        "get-oplog-persistence-level",
        "set-oplog-persistence-level",
        "get-idempotence-mode",
        "set-idempotence-mode",
        "generate-idempotency-key",
        "get-self-metadata",
        "get-agent-metadata",
        "[constructor]get-agents",
        "[method]get-agents.get-next",
        "update-agent",
        "fork-agent",
        "fork",
        "revert-agent",
        "resolve-component-id",
        "resolve-agent-id",
        "resolve-agent-id-strict",
    }
)

# Interfaces (with version) whose every function links; what is not served fails the call.
VERSIONED = frozenset(
    {
        HOST_1_5,
        "golem:core/types@1.5.0",
        "golem:api/oplog@1.5.0",
        "golem:api/context@1.5.0",
        "golem:api/retry@1.5.0",
        "golem:api/save-snapshot@1.5.0",
        "golem:api/load-snapshot@1.5.0",
        "golem:durability/durability@1.5.0",
        # Golem 1.4 agents: the wasm-rpc resource of golem:rpc/types@0.2.2 (agent_rpc.py)
        "golem:rpc/types@0.2.2",
        # Imported by Golem's TypeScript runtime (golem-ts-sdk 1.1.2's agent_guest.wasm)
        # for its built-in modules; none is served yet, so each fails the call.
        "golem:quota/types@1.5.0",
        "golem:rdbms/types@1.5.0",
        "golem:rdbms/ignite2@1.5.0",
        "golem:rdbms/mysql@1.5.0",
        "golem:rdbms/postgres@1.5.0",
        "golem:websocket/client@1.5.0",
        "wasi:keyvalue/types@0.1.0",
        "wasi:keyvalue/wasi-keyvalue-error@0.1.0",
        "wasi:keyvalue/eventual@0.1.0",
        "wasi:keyvalue/eventual-batch@0.1.0",
        # Unversioned in Golem's WIT, as the runtime imports them.
        "wasi:blobstore/types",
        "wasi:blobstore/container",
        "wasi:blobstore/blobstore",
    }
)
# Interface bases linked at 1.5.0 and unversioned (Golem 1.4's golem:agent).
AGENT_BASES = ("golem:agent/common", "golem:agent/host", "golem:agent/guest")
AGENT_VERSIONS = ("", "1.5.0")
# Any version (wasi:logging is unversioned in Golem's WIT; wasi:config is 0.2.0-draft).
ANY_VERSION = ("wasi:logging/logging", "wasi:config/store")


def known(interface: str) -> bool:
    """Whether ``interface`` is one of the agent model's, linked by this module."""
    base, _, version = interface.partition("@")
    if interface in VERSIONED or base in ANY_VERSION:
        return True
    return base in AGENT_BASES and version in AGENT_VERSIONS


def not_yet(name: str) -> HostFunc:
    """A function that links but fails the invocation that calls it, naming itself."""

    def refuse(session: Session, *args: Any) -> None:
        raise golem.GuestError(f"{name} is not available on agent-host yet")

    return HostFunc(refuse, Kind.PURE)


def provided(interface: str, func: str, sig: FuncSig) -> HostFunc:
    """The implementation of ``interface``'s ``func`` (a :func:`known` interface)."""
    base = interface.partition("@")[0]
    if interface == HOST_1_5 and func in HOST_FUNCS:
        factory = golem.FUNCS.get(func)
        if factory is not None:
            return factory(sig)
    elif interface == "golem:core/types@1.5.0" and func in CORE_FUNCS:
        return CORE_FUNCS[func]
    elif interface == "golem:api/retry@1.5.0":
        from host.runtime import golem_retry

        if func in golem_retry.FUNCS:
            return golem_retry.FUNCS[func]
    elif interface == "golem:durability/durability@1.5.0":
        from host.runtime import durability

        found_durable = durability.provided(func, sig)
        if found_durable is not None:
            return found_durable
    elif interface == "golem:api/context@1.5.0":
        from host.runtime import context

        found_context = context.provided(func, sig)
        if found_context is not None:
            return found_context
    elif base in ANY_VERSION:
        spec = BY_BASE.get(f"{base}.{func}")
        if spec is not None:
            return spec
    elif interface == "golem:rpc/types@0.2.2":
        from host.runtime import agent_rpc, agent_schedule

        if func in CORE_FUNCS:
            return CORE_FUNCS[func]
        if func in agent_rpc.FUNCS_0_2_2:
            return agent_rpc.FUNCS_0_2_2[func](sig)
        if func in agent_schedule.FUNCS:
            return agent_schedule.FUNCS[func](sig)
    elif interface == "golem:api/oplog@1.5.0":
        from host.runtime import golem_oplog

        found_oplog = golem_oplog.provided(func, sig)
        if found_oplog is not None:
            return found_oplog
    elif base == "golem:agent/host":
        if func == "create-webhook":
            return CREATE_WEBHOOK
        from host.runtime import agent_host

        found = agent_host.provided(func, sig, "1.5" if interface.endswith("@1.5.0") else "1.4")
        if found is not None:
            return found
    return not_yet(f"{interface}.{func}")


# -- golem:core/types ----------------------------------------------------------------------
def _parse_uuid(session: Session, text: str) -> Case:
    try:
        value = uuid.UUID(text).int
    except ValueError as exc:
        return Case("err", f"invalid uuid {text!r}: {exc}")
    return Case("ok", {"high-bits": value >> 64, "low-bits": value & 0xFFFF_FFFF_FFFF_FFFF})


def _uuid_to_string(session: Session, value: dict[str, int]) -> str:
    return str(uuid.UUID(int=(value["high-bits"] << 64) | value["low-bits"]))


CORE_FUNCS: dict[str, HostFunc] = {
    "parse-uuid": HostFunc(_parse_uuid),
    "uuid-to-string": HostFunc(_uuid_to_string),
}


# -- golem:agent/host create-webhook -----------------------------------------------------
def _create_webhook(session: Session, value: dict[str, Any]) -> str:
    """A URL whose POST completes the promise with the request body (Golem: only the agent
    that created the promise may ask). Recorded (READ): replay answers the same URL."""
    promise = golem.promise_id_from(value)
    if promise.agent != session.agent:
        raise golem.GuestError(
            f"create-webhook: promise {promise} was not created by this agent ({session.agent})"
        )
    if session.webhook_url is None:
        raise golem.GuestError("create-webhook: this host serves no webhooks")
    try:
        return session.webhook_url(promise)
    except golem.GuestError:
        raise
    except HostError as exc:
        raise golem.GuestError(f"create-webhook: {exc}") from None


CREATE_WEBHOOK = HostFunc(_create_webhook, Kind.READ)


# -- wasi:logging, wasi:config ------------------------------------------------------------
def log_line(level: str, context: str, message: str) -> bytes:
    """What ``log(level, context, message)`` writes to the agent's stderr."""
    where = f" {context}:" if context else ""
    return f"[{level}]{where} {message}\n".encode()


def _log(session: Session, level: str, context: str, message: str) -> None:
    line = log_line(level, context, message)
    # The same path as a wasi:cli/stderr write: counted against max_output_bytes and
    # delivered live; recorded (READ), so replay answers from the oplog and does not
    # deliver the line again.
    session.count_output("stderr", len(line))
    if session.on_output is not None:
        session.on_output("stderr", line)


BY_BASE: dict[str, HostFunc] = {
    "wasi:logging/logging.log": HostFunc(_log, Kind.READ),
    # The agent's config values given at creation (host/agents/agentconfig.py).
    "wasi:config/store.get": HostFunc(lambda s, key: _config_get(s, key), Kind.READ),
    "wasi:config/store.get-all": HostFunc(lambda s: Case("ok", list(_config_all(s))), Kind.READ),
}


def _config_all(session: Session) -> list[Any]:
    from host.agents import agentconfig

    calls = session.agent_calls
    if calls is None:
        return []
    return agentconfig.as_strings(*calls.agent_config(session.agent))


def _config_get(session: Session, key: str) -> Case:
    found = dict(_config_all(session)).get(key)
    return Case("ok", None if found is None else Some(found))


__all__ = ["HOST_FUNCS", "known", "not_yet", "provided"]
