"""The generated bindings the SDK calls, found in whatever world the agent was built with.

componentize-py generates ``wit_world`` from the agent's world; the SDK needs its imports
of ``golem:api/host@1.3.0`` (promises), ``wasi:io/poll`` and
``wasi:clocks/monotonic-clock`` (the event loop), and ``agent-host:promises/secrets``
(promise secrets). Worlds that include ``agent-host:sdk/imports@0.1.0`` (or
``agent-host:sdk/agent@0.1.0``) have all four. Each is looked up on its own, so a world
without one of them still builds; calling what needs the missing one raises
:class:`MissingImport` naming the WIT import to add. Imported at build time (module
level), as componentize-py only bundles modules imported while it snapshots the app.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

__all__ = ["MissingImport", "host", "monotonic_clock", "poll", "secrets"]


class MissingImport(RuntimeError):
    """The agent's world lacks a WIT import the called SDK function needs."""


_WIT = {
    "host": "golem:api/host@1.3.0",
    "poll": "wasi:io/poll@0.2.3",
    "monotonic_clock": "wasi:clocks/monotonic-clock@0.2.3",
    "secrets": "agent-host:promises/secrets@0.1.0",
}


class _Missing:
    """Stands in for a binding module the world does not have."""

    def __init__(self, name: str, why: str) -> None:
        self._name = name
        self._why = why

    def __getattr__(self, attr: str) -> Any:
        raise MissingImport(
            f"agent_host_sdk needs the WIT import {_WIT[self._name]} for this call, and the "
            f"agent's world does not have it ({self._why}); add "
            "`include agent-host:sdk/imports@0.1.0;` (or `.../agent@0.1.0`) to the world"
        )


def _load(name: str) -> Any:
    try:
        module: ModuleType = importlib.import_module(f"wit_world.imports.{name}")
    except ImportError as exc:
        return _Missing(name, str(exc))
    return module


host: Any = _load("host")
poll: Any = _load("poll")
monotonic_clock: Any = _load("monotonic_clock")
secrets: Any = _load("secrets")
