"""Webhook URLs of promises (``golem:agent/host`` ``create-webhook``), wasm-free.

A webhook URL is ``<public-url>/webhooks/<suffix>/<token>``: ``<suffix>`` is the agent
type's mount ``webhook-suffix`` (its literals; the ``agent-type`` system variable is the
type's name), or the type's kebab-case name when it declares none. ``<token>`` names the
promise and carries its secret (:mod:`host.secrets`), so a ``POST`` to the URL completes
that one promise with the request body without the server's token, as
``X-Promise-Secret`` does for the worker API's ``complete``::

    base64url("<component uuid>/<oplog index>/<agent id>") "." <secret>

Golem signs its webhook ids with an HMAC of the promise id in the same way (a forged or
altered id answers 404).
"""

from __future__ import annotations

import base64
import binascii
import uuid
from urllib.parse import quote

from host.agents.agentid import kebab
from host.agents.agenttypes import AgentType
from host.ids import AgentId, PromiseId

PREFIX = "/webhooks/"


def suffix(agent_type: AgentType) -> str:
    """The webhook path suffix of an agent type (no leading or trailing slash)."""
    mount = agent_type.http_mount
    parts = []
    for seg in mount.webhook_suffix if mount is not None else ():
        if seg.kind == "literal":
            parts.append(seg.value)
        elif seg.kind == "system-variable" and seg.value == "agent-type":
            parts.append(agent_type.type_name)
        else:
            parts.append(seg.value)
    return "/".join(quote(p, safe="") for p in parts if p) or kebab(agent_type.type_name)


def token(promise: PromiseId, secret: str) -> str:
    text = f"{promise.agent.component_id}/{promise.oplog_idx}/{promise.agent.name}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=") + "." + secret


def url(public_url: str, agent_type: AgentType, promise: PromiseId, secret: str) -> str:
    return public_url.rstrip("/") + PREFIX + suffix(agent_type) + "/" + token(promise, secret)


def parse_token(text: str) -> tuple[PromiseId, str] | None:
    """(promise, secret) named by a webhook token; None for one that is not well formed."""
    encoded, dot, secret = text.partition(".")
    if not dot or not secret or not encoded:
        return None
    try:
        raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
        component, idx, name = raw.split("/", 2)
        oplog_idx = int(idx)
        agent = AgentId(uuid.UUID(component), name)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    if oplog_idx < 1 or not name:
        return None
    return PromiseId(agent, oplog_idx), secret
