"""Reading the agent's config: golem:agent/host ``get-config-value``.

An ``@agent(config={"greeting": str})`` type declares its keys; the values are given when
an agent is created (agent-host: ``agent create --config``, REST ``create-agent``'s
``config``, an RPC client's ``config=``) and stored with it.
"""

from __future__ import annotations

from typing import Any

from . import _bindings as b
from ._convert import from_binding, to_binding
from .wit import shape_of

__all__ = ["get_config"]


def get_config(key: str, hint: Any) -> Any:
    """The value of config ``key`` (a dotted path) as ``hint`` (the declared type).

    A key without a value traps the call unless ``hint`` is optional (``str | None``),
    which reads ``None``, as in Golem."""
    shape = shape_of(hint)
    types = b.module("types")
    expected = to_binding({"nodes": shape.wit_type()}, types.WitType)
    value = b.module("golem_agent_host").get_config_value(key.split("."), expected)
    return shape.decode(from_binding(value, types.WitValue)["nodes"])
