"""Validating the steps that send HTTP requests: ``http`` (the host's REST API), ``route``
(a route an agent type mounts) and ``webhook`` (a POST to a URL an agent handed out).

Called by :class:`host.conformance.loader._Steps`, whose helpers (``_value``, ``_data``)
check references and payloads; errors are :class:`CaseError` with the JSON path.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from host.conformance import refs
from host.conformance.cases import HTTP_METHODS, Http, Request, Webhook
from host.conformance.errors import CaseError
from host.conformance.jsonobj import Obj

if TYPE_CHECKING:
    from host.conformance.loader import _Steps

PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def _placeholders(target: str, path: str, http: bool) -> None:
    for placeholder in PLACEHOLDER.findall(target):
        kind, _, name = placeholder.partition(":")
        if kind == "unique" and refs.AGENT_NAME.match(name):
            continue
        if http and (
            placeholder == "component" or (kind == "agent" and refs.AGENT_NAME.match(name))
        ):
            continue
        known = "{component}, {agent:NAME} or {unique:NAME}" if http else "{unique:NAME}"
        raise CaseError(path, f"unknown placeholder {{{placeholder}}}; use {known}")


def _status(e: Obj) -> tuple[int, ...]:
    status = e.req("status")
    statuses = status if isinstance(status, list) else [status]
    if not statuses or not all(refs.is_int(s, 100, 599) for s in statuses):
        raise CaseError(e.at("status"), "must be an HTTP status or a list of them")
    return tuple(statuses)


def request_step(steps: _Steps, index: int, obj: Obj, cls: type[Request]) -> Request:
    """An ``http`` or ``route`` step: method, path, body, headers, expected answer."""
    op = "http" if cls is Http else "route"
    method = obj.req("method")
    if method not in HTTP_METHODS:
        raise CaseError(obj.at("method"), f"must be one of {list(HTTP_METHODS)}")
    target = obj.string("path")
    if not target.startswith("/"):
        raise CaseError(obj.at("path"), "must start with /")
    _placeholders(target, obj.at("path"), http=cls is Http)
    if obj.has("json") and obj.has("text"):
        raise CaseError(obj.at("text"), 'give either "json" or "text", not both')
    body = obj.get("json")
    steps._value(body, obj.at("json"), index, matchers=False)
    text = obj.get("text")
    if text is not None and not isinstance(text, str):
        raise CaseError(obj.at("text"), "must be a string")
    headers = obj.get("headers", {})
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise CaseError(obj.at("headers"), "must be an object of strings")
    e = Obj(obj.req("expect"), obj.at("expect"))
    statuses = _status(e)
    if e.has("json") and e.has("match"):
        raise CaseError(e.at("match"), 'give either "json" (exact) or "match" (subset)')
    key = "match" if e.has("match") else "json"
    expected = e.get(key)
    steps._value(expected, e.at(key), index, matchers=True)
    e.done()
    return cls(
        index,
        op,
        None,
        method,
        target,
        body,
        obj.has("json"),
        text,
        tuple(sorted(headers.items())),
        statuses,
        expected,
        e.has(key),
        key == "match",
    )


def webhook_step(steps: _Steps, index: int, obj: Obj) -> Webhook:
    """A ``webhook`` step: POST ``data`` to the URL ``url`` refers to."""
    url: Any = obj.req("url")
    if not (isinstance(url, dict) and "$step" in url):
        raise CaseError(obj.at("url"), 'must be a reference to a step\'s value: {"$step": N}')
    steps._value(url, obj.at("url"), index, matchers=False)
    data = steps._data(obj, index)
    e = Obj(obj.req("expect"), obj.at("expect"))
    statuses = _status(e)
    e.done()
    return Webhook(index, "webhook", None, url, data, statuses)
