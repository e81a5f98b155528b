"""A small client of ``agent-host serve`` for the CLI's ``--server URL`` mode.

Standard library only (urllib), so the CLI needs nothing more to talk to a server.
Error bodies of the server become the same :mod:`host.errors` classes the store
raises, so the CLI prints the same messages and exit codes either way.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from host.errors import Conflict, HostError, InvalidInput, NotFound, StoreError

_BY_STATUS: dict[int, type[HostError]] = {
    400: InvalidInput,
    404: NotFound,
    409: Conflict,
    413: InvalidInput,
    422: HostError,
    503: StoreError,
}


class Client:
    def __init__(self, base_url: str, timeout: float = 120.0) -> None:
        parsed = urllib.parse.urlparse(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise InvalidInput(f"--server must be an http(s) URL, not {base_url!r}")
        self.base = base_url.rstrip("/")
        self.timeout = timeout

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        url = self.base + path
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        # bytes are sent as they are (a promise payload), anything else as JSON.
        raw_body = isinstance(body, bytes)
        data = body if raw_body else None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            ctype = "application/octet-stream" if raw_body else "application/json"
            req.add_header("content-type", ctype)
        for key, value in (headers or {}).items():
            req.add_header(key, value)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
                return resp.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                message = json.loads(raw)["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = raw.decode("utf-8", "replace") or exc.reason
            raise _BY_STATUS.get(exc.code, HostError)(message) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise StoreError(f"cannot reach the server at {self.base}: {reason}") from None

    def workers(self, component: str, name: str = "", rest: str = "") -> str:
        path = f"/v1/components/{urllib.parse.quote(component, safe='')}/workers"
        if name:
            path += "/" + urllib.parse.quote(name, safe="")
        return path + rest
