"""The in-process adapter's ``route`` and ``webhook``: a request served by the same code
the server runs, without a server.

A route request goes through :class:`host.server.mounts.MountRouter` (``match``), then
:func:`~host.server.mounts.mount_call` (the agent the mount variables name, the method's
input bound from path, query, headers and body) and, once the call finished,
:func:`~host.server.mounts.mount_response` (200/204/404/500); errors become the server's
error bodies (:func:`host.server.errors.host_error_answer`). A webhook POST is
:meth:`HostService.complete_webhook`, as the server's ``POST /webhooks/...`` route calls
it. Nothing here decides routing, binding or statuses itself.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from host.conformance.adapters.base import HttpResponse

if TYPE_CHECKING:
    from host.server.mounts import MountRouter
    from host.service import HostService

_JSON = "application/json"


def _answer(status: int, body: Any = None) -> HttpResponse:
    if body is None:
        return HttpResponse(status, b"", "")
    return HttpResponse(status, json.dumps(body).encode("utf-8"), _JSON)


def route_request(
    host: HostService,
    router: MountRouter,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes | None,
) -> HttpResponse:
    from host.errors import HostError
    from host.server.errors import ApiError, error_body, host_error_answer
    from host.server.mounts import mount_call, mount_response
    from host.server.shapes import invocation_response

    parts = urlsplit(path)
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        router.refresh()
        match = router.match(method, parts.path)
        if match is None:
            return _answer(404, error_body("not_found", f"no agent route matches {parts.path}"))
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        call = mount_call(host, match, query, lowered, body or b"", lowered.get("content-type", ""))
        invocation = host.submit(call)  # returns once the call finished or suspended
        view = host.invocation(invocation.invocation_id)
        if view.invocation.state != "done":
            pending = invocation_response(view, match.route.component.id, invocation.agent.name)
            return HttpResponse(pending.status_code, bytes(pending.body), _JSON)
        status, payload = mount_response(host, match.route, view.invocation)
    except ApiError as exc:
        return _answer(exc.status, error_body(exc.code, exc.message, exc.field))
    except HostError as exc:
        return _answer(*host_error_answer(exc))
    return _answer(status, None if status == 204 else payload)


def webhook_request(host: HostService, url: str, body: bytes) -> HttpResponse:
    from host import webhooks
    from host.errors import HostError
    from host.server.errors import error_body, host_error_answer

    path = urlsplit(url).path
    if not path.startswith(webhooks.PREFIX):
        return _answer(404, error_body("not_found", f"{path} is not a webhook path"))
    try:
        done = host.complete_webhook(path.rstrip("/").rpartition("/")[2], body)
    except HostError as exc:
        return _answer(*host_error_answer(exc))
    if done is None:
        return _answer(404, error_body("not_found", "no such webhook"))
    return _answer(204)
