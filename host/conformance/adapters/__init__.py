"""Adapters: one per kind of host under test (see :mod:`.base` for the interface).

``agent-host`` runs a Host in this process; ``http`` speaks Golem's REST shapes to a
server (started by the suite, or given by URL). Any other adapter is named by
``module:Class`` and loaded from the Python path.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from host.conformance.adapters.base import (
    Adapter,
    AdapterError,
    AgentRef,
    AgentState,
    HttpResponse,
    Invocation,
    NotFound,
    OplogEntry,
    Outcome,
    Unsupported,
)
from host.conformance.errors import SuiteError

ADAPTERS = {
    "agent-host": "host.conformance.adapters.agenthost:AgentHostAdapter",
    "http": "host.conformance.adapters.http:HttpAdapter",
}

__all__ = [
    "ADAPTERS",
    "Adapter",
    "AdapterError",
    "AgentRef",
    "AgentState",
    "HttpResponse",
    "Invocation",
    "NotFound",
    "OplogEntry",
    "Outcome",
    "Unsupported",
    "load_adapter",
]


def load_adapter(name: str, url: str | None = None, data_dir: Path | None = None) -> Adapter:
    """The adapter called ``name`` (a built-in name or ``module:Class``), not started."""
    target = ADAPTERS.get(name, name)
    module_name, _, class_name = target.partition(":")
    if not class_name:
        raise SuiteError(f"unknown adapter {name!r}: use one of {sorted(ADAPTERS)} or module:Class")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise SuiteError(f"cannot load adapter {name!r}: {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, Adapter)):
        raise SuiteError(f"{target} is not a subclass of host.conformance.adapters.Adapter")
    adapter: Adapter = cls(url=url, data_dir=data_dir)
    return adapter
