"""Sending one outgoing HTTP request for :mod:`host.runtime.wasi_http`: where agents may send
(the allow-list policy), connecting, TLS, timeouts, reading the response up to a limit, and
every failure as the WASI ``error-code`` the guest gets.

Destinations: only the hosts of the allow-list are reached; by default loopback only
(``localhost``, ``127.0.0.0/8``, ``::1``). ``AGENT_HOST_HTTP_ALLOW`` (comma-separated host
names, IP addresses, CIDR networks, or ``*``) replaces the list for a host process;
:func:`set_policy` does the same in-process.
"""

from __future__ import annotations

import http.client
import ipaddress
import os
import socket
import ssl
from dataclasses import dataclass
from typing import Any

from host.values import Case, Some

ALLOW_ENV = "AGENT_HOST_HTTP_ALLOW"
DEFAULT_ALLOW = ("localhost", "127.0.0.0/8", "::1")

# Headers a guest may not set (hop-by-hop, or the host's to write), as wasmtime refuses them.
FORBIDDEN_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "upgrade",
        "host",
        "http2-settings",
    }
)
_READ_CHUNK = 64 * 1024


# -- the host setting ----------------------------------------------------------------------
@dataclass(frozen=True)
class HttpPolicy:
    """Where agents may send requests, and the default timeouts (seconds)."""

    allow: tuple[str, ...] = DEFAULT_ALLOW
    connect_timeout_s: float = 10.0
    first_byte_timeout_s: float = 60.0
    between_bytes_timeout_s: float = 60.0

    def allows_any(self) -> bool:
        return "*" in self.allow

    def allows_name(self, host: str) -> bool:
        name = host.lower().rstrip(".")
        return self.allows_any() or any(
            entry.lower().rstrip(".") == name for entry in self.allow if not _is_network(entry)
        )

    def allows_address(self, address: str) -> bool:
        if self.allows_any():
            return True
        try:
            ip = ipaddress.ip_address(address.split("%")[0])
        except ValueError:
            return False
        for entry in self.allow:
            if _is_network(entry):
                net = ipaddress.ip_network(entry, strict=False)
                if ip.version == net.version and ip in net:
                    return True
        return False


def _is_network(entry: str) -> bool:
    try:
        ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return False
    return True


_policy: HttpPolicy | None = None


def set_policy(policy: HttpPolicy | None) -> None:
    """Set this process's policy (None: back to ``AGENT_HOST_HTTP_ALLOW`` or the default)."""
    global _policy
    _policy = policy


def policy() -> HttpPolicy:
    if _policy is not None:
        return _policy
    raw = os.environ.get(ALLOW_ENV)
    if raw is None:
        return HttpPolicy()
    return HttpPolicy(allow=tuple(p.strip() for p in raw.split(",") if p.strip()))


def split_authority(authority: str, scheme: str) -> tuple[str, int]:
    default = 443 if scheme == "https" else 80
    if authority.startswith("["):
        end = authority.index("]")
        host, rest = authority[1:end], authority[end + 1 :]
        port = int(rest[1:]) if rest.startswith(":") else default
        if rest and not rest.startswith(":"):
            raise ValueError(authority)
    elif authority.count(":") == 1:
        host, _, text = authority.partition(":")
        port = int(text)
    else:
        host, port = authority, default
    if not host or not 0 < port < 65536:
        raise ValueError(authority)
    return host, port


class Failed(Exception):
    """An exchange that ended without a response: the WASI error-code and what happened."""

    def __init__(self, code: Case, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def _timeout(ns: int | None, default_s: float) -> float:
    return default_s if ns is None else max(ns / 1e9, 0.001)


@dataclass(frozen=True)
class Request:
    """What is sent: the guest's request once its body is finished."""

    method: str
    scheme: str  # "http" or "https"
    authority: str
    path_with_query: str
    connect_ns: int | None = None
    first_byte_ns: int | None = None
    between_bytes_ns: int | None = None

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.authority}{self.path_with_query}"


def send(
    req: Request,
    headers: list[tuple[str, bytes]],
    body: bytes | None,
    limit: int,
) -> tuple[int, list[tuple[str, bytes]], bytes | None]:
    """One HTTP exchange with the standard library: (status, headers, body or None when the
    body is larger than ``limit``); :class:`Failed` with the WASI error-code otherwise."""
    rules = policy()
    scheme = req.scheme
    host, port = split_authority(req.authority, scheme)
    connect_s = _timeout(req.connect_ns, rules.connect_timeout_s)
    first_byte_s = _timeout(req.first_byte_ns, rules.first_byte_timeout_s)
    between_s = _timeout(req.between_bytes_ns, rules.between_bytes_timeout_s)
    method, url = req.method, req.url
    # A name must be listed itself (nothing is resolved for a refused one); an address
    # literal must be inside a listed network.
    if not rules.allows_name(host) and not rules.allows_address(host):
        raise _denied(method, url, host)
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        payload: Any = {"rcode": Some(str(exc.strerror or exc)), "info-code": None}
        raise Failed(Case("DNS-error", payload), f"cannot resolve {host}: {exc}") from None
    sock = _connect(addresses, connect_s, host, port)
    try:
        if scheme == "https":
            try:
                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
            except ssl.SSLCertVerificationError as exc:
                raise Failed(Case("TLS-certificate-error"), f"TLS: {exc}") from None
            except (ssl.SSLError, OSError) as exc:
                raise Failed(Case("TLS-protocol-error"), f"TLS: {exc}") from None
        conn = http.client.HTTPConnection(host, port, timeout=first_byte_s)
        conn.sock = sock
        sock.settimeout(first_byte_s)
        try:
            conn.putrequest(method, req.path_with_query, skip_host=True, skip_accept_encoding=True)
            conn.putheader("Host", req.authority)
            for name, value in headers:
                if name != "content-length":
                    conn.putheader(name, value)
            if body is not None or method in ("POST", "PUT", "PATCH"):
                conn.putheader("Content-Length", str(len(body or b"")))
            conn.endheaders(body or None)
        except TimeoutError:
            raise Failed(
                Case("connection-write-timeout"), f"sending {method} {url} timed out"
            ) from None
        try:
            resp = conn.getresponse()
        except TimeoutError:
            raise Failed(
                Case("HTTP-response-timeout"),
                f"no response to {method} {url} within {first_byte_s:g} s",
            ) from None
        sock.settimeout(between_s)
        status = resp.status
        resp_headers = [
            (k.lower(), v.encode("latin-1"))
            for k, v in resp.getheaders()
            if k.lower() not in FORBIDDEN_HEADERS
        ]
        data = bytearray()
        try:
            while True:
                chunk = resp.read(min(_READ_CHUNK, limit + 1 - len(data)))
                if not chunk:
                    break
                data += chunk
                if len(data) > limit:
                    return status, resp_headers, None
        except TimeoutError:
            raise Failed(
                Case("connection-read-timeout"),
                f"the body of the response to {method} {url} stalled for {between_s:g} s",
            ) from None
        return status, resp_headers, bytes(data)
    except Failed:
        raise
    except (http.client.IncompleteRead, http.client.RemoteDisconnected) as exc:
        raise Failed(Case("HTTP-response-incomplete"), f"{method} {url}: {exc!r}") from None
    except http.client.HTTPException as exc:
        raise Failed(Case("HTTP-protocol-error"), f"{method} {url}: {exc!r}") from None
    except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError) as exc:
        raise Failed(Case("connection-terminated"), f"{method} {url}: {exc}") from None
    except OSError as exc:
        raise Failed(Case("internal-error", Some(f"{method} {url}: {exc}")), str(exc)) from None
    finally:
        sock.close()


def _denied(method: str, url: str, host: str) -> Failed:
    return Failed(
        Case("HTTP-request-denied"),
        f"outgoing HTTP request {method} {url} refused: {host} is not an allowed destination "
        f"(allowed: {', '.join(policy().allow) or 'none'}; set {ALLOW_ENV} to change)",
    )


def _connect(addresses: list[Any], timeout_s: float, host: str, port: int) -> socket.socket:
    last: OSError | None = None
    timed_out = False
    for family, socktype, proto, _, address in addresses:
        sock = socket.socket(family, socktype, proto)
        sock.settimeout(timeout_s)
        try:
            sock.connect(address)
            return sock
        except TimeoutError as exc:
            timed_out, last = True, exc
        except OSError as exc:
            last = exc
        sock.close()
    where = f"{host}:{port}"
    if timed_out:
        raise Failed(
            Case("connection-timeout"), f"connecting to {where} timed out after {timeout_s:g} s"
        )
    if isinstance(last, ConnectionRefusedError):
        raise Failed(Case("connection-refused"), f"{where} refused the connection")
    raise Failed(Case("destination-unavailable"), f"cannot connect to {where}: {last}")
