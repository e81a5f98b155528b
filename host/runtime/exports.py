"""An export table's entries, and Golem's function-name syntax for resources.

Exported functions are named as Golem names them: ``fn`` or ``pkg:ns/iface.{fn}``. A
resource the component exports adds its constructor, methods and static functions under
their component-model names (``pkg:ns/iface.{[constructor]counter}``,
``{[method]counter.inc-by}``, ``{[static]counter.live}``) and a ``{[drop]counter}`` the
host performs (the guest's destructor runs). Golem's parser (golem-rib
``ParsedFunctionName``, v1.2-v1.4) also accepts:

- ``{counter.new}`` for the constructor, ``{counter.drop}`` for the drop, and
  ``{counter.inc-by}`` for the method (or the static function of that name);
- indexed resources: ``{counter("c1").inc-by}`` calls the method on the agent's instance
  of ``counter`` made with the constructor parameters ``("c1")``, constructing it on
  first use; ``{counter("c1").new}`` constructs (or finds) it and returns its handle;
  ``{counter("c1").drop}`` drops it.

A handle travels as Golem writes it, ``"urn:worker:<component id>/<agent name>/<n>"``
(:class:`~host.values.types.ResourceRef`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from host.errors import InvalidInput
from host.values.types import FuncSig, ResourceT, ValuesError
from host.values.wave import parse_args
from host.values.wave_print import format_value


@dataclass(frozen=True)
class Export:
    """An exported function: its path in the component and its signature.

    ``drop`` marks the host's drop of a resource instance (no guest function: ``path`` is
    the resource's). ``ctor`` and ``ctor_params`` mark a call on an indexed resource: the
    instance made by ``ctor`` with those (canonical WAVE) parameters; ``sig`` is then what
    the caller passes, without the instance."""

    name: str  # the Golem-style qualified name: `fn` or `pkg:ns/iface.{fn}`
    path: tuple[str, ...]
    sig: FuncSig
    resource: str | None = None
    drop: bool = False
    ctor: Export | None = None
    ctor_params: tuple[str, ...] = ()


def drop_export(iface: str, resource: str) -> Export:
    """The host's ``[drop]resource`` of an exported interface."""
    name = f"{iface}.{{[drop]{resource}}}"
    sig = FuncSig(name, (("self", ResourceT(resource, own=True)),), None)
    return Export(name, (iface, f"[drop]{resource}"), sig, resource, drop=True)


_IDENT = r"[A-Za-z][A-Za-z0-9-]*"
_SITE = re.compile(r"^(?P<site>.+)\.\{(?P<inner>.*)\}$", re.DOTALL)
_PLAIN = re.compile(rf"^(?P<r>{_IDENT})\.(?P<m>{_IDENT})$")
_INDEXED = re.compile(
    rf"^(?:\[method\])?(?P<r>{_IDENT})\((?P<args>.*)\)\.(?P<m>{_IDENT})$", re.DOTALL
)


def resolve_resource_call(table: Mapping[str, Export], function: str) -> Export | None:
    """The export Golem's resource syntax ``function`` names in ``table``, or None if it
    is not resource syntax for this table. InvalidInput for malformed indexed parameters."""
    m = _SITE.match(function.strip())
    site, inner = (m["site"], m["inner"].strip()) if m else (None, function.strip())

    def look(raw: str) -> Export | None:
        return table.get(raw if site is None else f"{site}.{{{raw}}}")

    plain = _PLAIN.match(inner)
    if plain:
        r, method = plain["r"], plain["m"]
        if method == "new":
            return look(f"[constructor]{r}")
        if method == "drop":
            return look(f"[drop]{r}")
        return look(f"[method]{r}.{method}") or look(f"[static]{r}.{method}")
    indexed = _INDEXED.match(inner)
    if indexed is None:
        return None
    r, argtext, method = indexed["r"], indexed["args"], indexed["m"]
    ctor = look(f"[constructor]{r}")
    if ctor is None:
        return None
    try:
        values = parse_args(argtext, ctor.sig.param_types)
    except ValuesError as exc:
        raise InvalidInput(
            f"invalid constructor parameters of {r} in {function!r}: {exc}", field="function"
        ) from None
    params = tuple(format_value(v, t) for v, t in zip(values, ctor.sig.param_types, strict=True))
    name = f"{ctor.name.rsplit('.{', 1)[0]}.{{{r}({', '.join(params)}).{method}}}"
    if method == "new":
        sig = FuncSig(name, (), ResourceT(r, own=True))
        return Export(name, ctor.path, sig, r, ctor=ctor, ctor_params=params)
    if method == "drop":
        return Export(name, ctor.path, FuncSig(name, (), None), r, True, ctor, params)
    target = look(f"[method]{r}.{method}")
    if target is None:
        return None
    sig = FuncSig(name, target.sig.params[1:], target.sig.result)
    return Export(name, target.path, sig, r, ctor=ctor, ctor_params=params)
