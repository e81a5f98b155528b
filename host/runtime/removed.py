"""Interfaces agent-host used to serve and no longer does: a component that imports or
exports one is refused at registration with what to use instead, not registered to
fail (or, for an export, to be silently ignored) later."""

from __future__ import annotations

import wasmtime
import wasmtime.component as wc

from host.errors import InvalidComponent

# Interface name without its version -> what to write instead.
REMOVED = {
    "agent-host:http/endpoints": (
        "declare HTTP routes in an agent component instead: one exporting "
        "golem:agent/guest@1.5.0 whose agent type has an HTTP mount and endpoints "
        '(the Python SDK guest_examples/sdk/agent_sdk: @agent(mount="/workflows/{name}") '
        'and @endpoint(post="/approve"); golem-rust: #[agent_definition(mount = ...)] and '
        "#[endpoint(...)]); see 'Agent routes' in README.md"
    ),
}


def refuse_removed(component: wc.Component, engine: wasmtime.Engine, shown: str) -> None:
    """InvalidComponent naming the first removed interface ``component`` imports or
    exports, and its replacement."""
    ty = component.type
    for direction, names in (("imports", ty.imports(engine)), ("exports", ty.exports(engine))):
        for name in names:
            replacement = REMOVED.get(name.partition("@")[0])
            if replacement is not None:
                raise InvalidComponent(
                    f"{shown} {direction} {name}, which agent-host no longer provides "
                    f"(it was removed with the WIT-first Python SDK); {replacement}"
                )
