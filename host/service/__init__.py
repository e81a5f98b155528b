"""The service layer: every use case a user has, over one injected store.

:class:`HostService` is what the CLI, the HTTP server and the conformance adapters call;
they parse input and format output and touch nothing below this layer.
"""

from host.service.core import Call, HostService
from host.service.views import (
    AgentView,
    CheckReport,
    Completion,
    ComponentView,
    InvocationView,
    OplogPage,
    iso,
    signature,
    status_line,
)

__all__ = [
    "AgentView",
    "Call",
    "CheckReport",
    "Completion",
    "ComponentView",
    "HostService",
    "InvocationView",
    "OplogPage",
    "iso",
    "signature",
    "status_line",
]
