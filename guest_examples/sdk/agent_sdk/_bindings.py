"""The generated bindings the SDK calls (``wit_world``, from ``agent-host:sdk/agent@0.2.0``).

Looked up one by one and only when used, so the SDK's pure modules import on the host's
Python without any bindings (the unit tests), and a missing one says which WIT import
the agent's world lacks. componentize-py bundles only modules imported while it
snapshots the app, so :func:`load` is called at import time by the modules that need it.
"""

from __future__ import annotations

import importlib
from typing import Any

try:  # in a build; imported here, at snapshot time, so that componentize-py bundles it
    from componentize_py_types import Err as _Err  # type: ignore[import-not-found, unused-ignore]
except ImportError:  # on the host's Python (unit tests)

    class _Err(Exception):  # type: ignore[no-redef]
        def __init__(self, value: Any) -> None:
            super().__init__(value)
            self.value = value


__all__ = ["MissingImport", "module"]

_WIT = {
    "types": "golem:core/types@1.5.0",
    "common": "golem:agent/common@1.5.0",
    "golem_api_host": "golem:api/host@1.5.0",
    "golem_agent_host": "golem:agent/host@1.5.0",
    "poll": "wasi:io/poll@0.2.3",
    "monotonic_clock": "wasi:clocks/monotonic-clock@0.2.3",
    "wall_clock": "wasi:clocks/wall-clock@0.2.3",
    "secrets": "agent-host:promises/secrets@0.1.0",
}


class MissingImport(RuntimeError):
    """The component was built without a WIT import the called SDK function needs."""


class _Missing:
    def __init__(self, name: str, why: str) -> None:
        self._name = name
        self._why = why

    def __getattr__(self, attr: str) -> Any:
        raise MissingImport(
            f"agent_sdk needs the WIT import {_WIT.get(self._name, self._name)} here, and the "
            f"component's world does not have it ({self._why}); build the agent with "
            "scripts/build_examples.py, which uses the SDK's world agent-host:sdk/agent@0.2.0"
        )


_loaded: dict[str, Any] = {}


# componentize-py names a module by its interface, qualified by package when two share a
# name: golem:core/types is ``golem_core_types`` in the SDK's world, which also imports
# wasi:http/types (``wasi_http_types``), and ``types`` in a world without wasi:http.
_ALIASES = {"types": ("golem_core_types", "types")}


def module(name: str) -> Any:
    """``wit_world.imports.<name>`` (or a stand-in raising MissingImport when used)."""
    if name not in _loaded:
        why = ""
        for candidate in _ALIASES.get(name, (name,)):
            try:
                _loaded[name] = importlib.import_module(f"wit_world.imports.{candidate}")
                break
            except ImportError as exc:
                why = why or str(exc)
        else:
            _loaded[name] = _Missing(name, why)
    return _loaded[name]


def err(value: Any) -> BaseException:
    """``componentize_py_types.Err(value)``: how an export returns a result's err."""
    error: BaseException = _Err(value)
    return error
