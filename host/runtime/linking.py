"""Linking: every import of a component is defined in Python, generically.

For each imported interface the linker defines the resources it owns (an
interface that re-exports another's resource through ``use`` is skipped: the
component type's resource types compare equal) and each function through one
dispatcher that replays it from the oplog or runs it live and records it. An
import the host does not provide is reported by name at registration.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import wasmtime
import wasmtime.component as wc

from host.errors import InvalidComponent
from host.replay import has_resource, host_call
from host.runtime import fastvalues, golem, golem_agent, leancall, pollshim, wasi, wasi_http
from host.runtime.session import HostFunc, Kind, Session, current_session
from host.runtime.typeconv import from_wasmtime, func_sig, to_wasmtime
from host.values import Case, Handle, Some
from host.values.types import FuncSig, ListT, OptionT, ResourceT, ResultT, TupleT, WitType

# One host resource type id per resource name: the same name in two versions of an
# interface (wasi:io/poll@0.2.3 and @0.2.9) is one host type, so handles cross.
_RESOURCE_IDS: dict[str, int] = {}

TYPE_ONLY_INTERFACES = ("golem:rpc/types@0.2.0", "golem:rpc/types@0.2.2")


def resource_type_id(name: str) -> int:
    if name not in _RESOURCE_IDS:
        _RESOURCE_IDS[name] = len(_RESOURCE_IDS) + 1
    return _RESOURCE_IDS[name]


def _provided(interface: str, func: str, sig: FuncSig) -> HostFunc | None:
    base, _, version = interface.partition("@")
    if golem_agent.known(interface):
        # Golem's agent model: every function links; what is not served fails the call.
        return golem_agent.provided(interface, func, sig)
    if base == golem.INTERFACE:
        if version not in golem.GENERATIONS:
            return None
        factory = golem.FUNCS.get(func)
        return factory(sig) if factory is not None else None
    if interface == golem.SECRETS_INTERFACE:
        return golem.SECRETS_FUNCS.get(func)
    if interface == golem.SECRETS_INTERFACE_V2:
        secrets_factory = golem.SECRETS_V2_FUNCS.get(func)
        return secrets_factory(sig) if secrets_factory is not None else None
    if base.startswith(wasi.FAMILIES):
        key = f"{base}.{func}"
        spec = wasi.FUNCS.get(key) or wasi_http.FUNCS.get(key)
        # Chosen per call: a stream is stdio (wasi.py) or an HTTP body (wasi_http.py); a
        # response's first get is the recorded exchange, later ones are bookkeeping.
        make = wasi_http.ROUTERS.get(key)
        router = make(sig) if make is not None else wasi_http.stream_router(key, spec)
        if router is not None:
            return _routed(sig, router)
        return spec if spec is not None else _refusal(f"{interface}.{func}")
    if interface == pollshim.HELPER:
        return pollshim.HELPER_FUNCS.get(func)
    return None


@dataclass(frozen=True)
class Routed(HostFunc):
    """A routed function: ``impl`` runs the HostFunc ``choose`` picks (leancall's
    trampoline asks ``choose`` itself to answer a replayed call in place)."""

    choose: Callable[[Sequence[Any]], HostFunc] | None = None


def _routed(sig: FuncSig, choose: Callable[[Sequence[Any]], HostFunc]) -> HostFunc:
    """A function whose kind depends on its arguments (an HTTP body stream is bookkeeping,
    stdout is recorded; the first get of a response is the journaled exchange): ``choose``
    picks the HostFunc for each call, which then runs as its own kind. ``choose`` reads
    only its first argument (the object the method is called on)."""
    param_types = [t for _, t in sig.params]

    def impl(session: Session, *args: Any) -> Any:
        return _run(session, sig, choose(args), param_types, args)

    return Routed(impl, Kind.PURE, choose=choose)


def _refusal(name: str) -> HostFunc:
    def refuse(session: Session, *args: Any) -> None:
        raise golem.GuestError(f"{name} is not available to agents on agent-host")

    return HostFunc(refuse, Kind.PURE)


def _drop(store: Any, rep: int) -> None:
    # Destructors also run when a dropped store is collected, outside any session.
    try:
        session = current_session()
    except RuntimeError:
        return
    obj = session.resources.pop(rep)
    # A resource whose drop means something (an unfinished golem:api/context span is
    # finished, and recorded so): a failure fails the invocation like a host call's.
    on_drop = getattr(obj, "on_drop", None)
    if on_drop is not None:
        try:
            on_drop(session)
        except Exception as exc:
            session.raised = exc
            raise wasmtime.WasmtimeError(f"dropping {type(obj).__name__} raised {exc!r}") from None


def build_linker(engine: wasmtime.Engine, component: wc.Component) -> wc.Linker:
    """A linker defining every import of ``component``; InvalidComponent naming what is
    missing otherwise."""
    linker = wc.Linker(engine)
    missing: list[str] = []
    seen_resources: list[Any] = []
    imports = component.type.imports(engine)
    # wasmtime's resource types carry no names: collect them so signatures can name them.
    named: list[tuple[str, Any]] = []
    for extern in imports.values():
        if isinstance(extern.ty, wc.ComponentInstanceType):
            for rname, rext in extern.ty.exports(engine).items():
                if isinstance(rext.ty, wc.ResourceType):
                    named.append((rname, rext.ty))
    with linker.root() as root:
        for iname, extern in imports.items():
            ty = extern.ty
            if not isinstance(ty, wc.ComponentInstanceType):
                missing.append(f"{iname} (a {type(ty).__name__}, not an interface)")
                continue
            items = ty.exports(engine)
            funcs = {n: e.ty for n, e in items.items() if isinstance(e.ty, wc.FuncType)}
            if iname not in TYPE_ONLY_INTERFACES and not _interface_known(iname):
                missing.extend(f"{iname}.{n}" for n in funcs) if funcs else missing.append(iname)
                continue
            with root.add_instance(iname) as inst:
                for rname, rext in items.items():
                    rty = rext.ty
                    if not isinstance(rty, wc.ResourceType):
                        continue
                    if any(rty == other for other in seen_resources):
                        continue  # a `use` of a resource another interface owns
                    seen_resources.append(rty)
                    inst.add_resource(rname, wc.ResourceType.host(resource_type_id(rname)), _drop)
                for fname, fty in funcs.items():
                    sig = func_sig(f"{iname}.{fname}", fty, named)
                    spec = _provided(iname, fname, sig)
                    if spec is None:
                        missing.append(f"{iname}.{fname}")
                        continue
                    _add_func(inst, fname, sig, spec)
    if missing:
        raise InvalidComponent(
            "the component imports what agent-host does not provide: "
            + _summarize(missing)
            + ". agent-host provides golem:api/host@{"
            + ",".join(golem.GENERATIONS)
            + "}, Golem 1.5's agent interfaces (golem:api@1.5.0, golem:core@1.5.0, "
            "golem:agent, golem:durability@1.5.0, wasi:logging, wasi:config) and WASI 0.2 "
            "(io, clocks, random, cli, filesystem, sockets, http)",
            missing_imports=tuple(missing),
        )
    return linker


def _summarize(missing: list[str], per_interface: int = 5) -> str:
    """Every missing interface by name, with up to ``per_interface`` of its functions (a
    component importing thousands of unknown functions gets a readable message; the full
    list is on the error's ``missing_imports``)."""
    groups: dict[str, list[str]] = {}
    for item in missing:
        iface, dot, func = item.rpartition(".") if "/" in item else ("", "", item)
        if not dot or "/" not in iface:
            iface, func = item, ""
        groups.setdefault(iface, []).append(func)
    parts = []
    for iface, funcs in groups.items():
        named = [f for f in funcs if f]
        if not named:
            parts.append(iface)
        elif len(named) <= per_interface:
            parts.extend(f"{iface}.{f}" for f in named)
        else:
            shown = ", ".join(named[:per_interface])
            parts.append(f"{iface} ({len(named)} functions: {shown}, ...)")
    return ", ".join(parts)


def _interface_known(iname: str) -> bool:
    base, _, version = iname.partition("@")
    if golem_agent.known(iname):
        return True
    if base == golem.INTERFACE:
        return version in golem.GENERATIONS
    if iname in (golem.SECRETS_INTERFACE, golem.SECRETS_INTERFACE_V2):
        return True
    return base.startswith(wasi.FAMILIES) or iname == pollshim.HELPER


def _add_func(inst: wc.LinkerInstance, name: str, sig: FuncSig, spec: HostFunc) -> None:
    if not fastvalues.ENABLED:
        fastvalues.add_func(inst, name, _callback(sig, spec), sig)
        return
    choose = spec.choose if isinstance(spec, Routed) else None
    leancall.add_func(inst, name, sig, spec, _lifted_runner(sig, spec), _lift, choose)


def _lifted_runner(sig: FuncSig, spec: HostFunc) -> Callable[[Session, Any, list[Any]], Any]:
    """What :func:`_callback` does once the arguments are lifted (leancall lifts them)."""
    param_types = [t for _, t in sig.params]

    def run(session: Session, ctx: Any, args: list[Any]) -> Any:
        try:
            return _lower(session, _run(session, sig, spec, param_types, args), sig.result)
        except Exception as exc:
            session.raised = exc
            raise wasmtime.WasmtimeError(f"host call {sig.name} raised {exc!r}") from None

    return run


def _callback(sig: FuncSig, spec: HostFunc) -> Callable[..., Any]:
    param_types = [t for _, t in sig.params]

    def callback(ctx: Any, *raw: Any) -> Any:
        session = current_session()
        try:
            return dispatch(session, ctx, sig, spec, param_types, raw)
        except Exception as exc:
            # wasmtime-py hands a Python exception back through a process-wide slot that
            # another thread's guest may overwrite; keep it in this agent's session and
            # trap with a WasmtimeError, which travels inside the trap itself.
            session.raised = exc
            raise wasmtime.WasmtimeError(f"host call {sig.name} raised {exc!r}") from None

    return callback


def dispatch(
    session: Session,
    ctx: Any,
    sig: FuncSig,
    spec: HostFunc,
    param_types: Sequence[WitType],
    raw: Sequence[Any],
) -> Any:
    """Run one host call: replayed from the oplog, or live and recorded."""
    args = [_lift(session, ctx, r, t) for r, t in zip(raw, param_types, strict=True)]
    return _lower(session, _run(session, sig, spec, param_types, args), sig.result)


def _run(
    session: Session,
    sig: FuncSig,
    spec: HostFunc,
    param_types: Sequence[WitType],
    args: Sequence[Any],
) -> Any:
    """The value of one host call on lifted arguments: :func:`host.replay.host_call`,
    after refusing what a scratch session (no agent) must not do."""
    if session.scratch and spec.kind not in (Kind.PURE, Kind.READ):
        raise golem.GuestError(
            f"{sig.name} was called while the host read the component's endpoint "
            "definition; the definition must not create, complete or change anything"
        )
    # The epoch deadline fires only in wasm code; a guest spending its time in host calls
    # (writing, polling) is stopped here, at its next host call past the deadline.
    session.check_deadline()
    return host_call(session, sig, spec, param_types, args)


def _lift(session: Session, ctx: Any, raw: Any, ty: WitType) -> Any:
    if isinstance(ty, ResourceT):
        # Converting a borrow to a host handle releases it (notes item 9).
        handle = raw.to_host(ctx) if isinstance(raw, wc.ResourceAny) else raw
        return session.resources.get(handle.rep)
    if isinstance(ty, ListT) and isinstance(ty.elem, ResourceT):
        return [_lift(session, ctx, r, ty.elem) for r in raw]
    if isinstance(ty, OptionT) and isinstance(ty.payload, ResourceT):
        return None if raw is None else Some(_lift(session, ctx, raw, ty.payload))
    return from_wasmtime(raw, ty)


def _host_handles(session: Session, value: Any, ty: WitType | None) -> Any:
    """Replace the host objects inside ``value`` by handles the guest will own."""
    if ty is None or value is None or not has_resource(ty):
        return value
    if isinstance(ty, ResourceT):
        rep = session.resources.add(value)
        return Handle(wc.ResourceHost.own(rep, resource_type_id(ty.name)))
    if isinstance(ty, ListT):
        return [_host_handles(session, v, ty.elem) for v in value]
    if isinstance(ty, OptionT):
        return Some(_host_handles(session, value.value, ty.payload))
    if isinstance(ty, TupleT):
        return tuple(_host_handles(session, v, t) for v, t in zip(value, ty.elems, strict=True))
    if isinstance(ty, ResultT):
        case_ty = ty.ok if value.name == "ok" else ty.err
        return Case(value.name, _host_handles(session, value.value, case_ty))
    return value


def _lower(session: Session, value: Any, ty: WitType | None) -> Any:
    if ty is None:
        return None
    return to_wasmtime(_host_handles(session, value, ty), ty)
