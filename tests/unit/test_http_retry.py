"""Which outgoing HTTP failures are retried in the call, and with what properties
(host/runtime/http_retry.py; Golem's classify_http_error_code and RetryContext::http)."""

from __future__ import annotations

from host import retry_policy as rp
from host.runtime import http_retry
from host.values import Case, Some


def test_transient_and_permanent_error_codes() -> None:
    for name in (
        "connection-refused",
        "connection-terminated",
        "connection-timeout",
        "HTTP-response-timeout",
        "HTTP-response-incomplete",
        "destination-unavailable",
    ):
        assert http_retry.transient(Case(name)), name
    assert http_retry.transient(Case("DNS-error", {"rcode": Some("x"), "info-code": None}))
    for name in (
        "TLS-protocol-error",
        "TLS-certificate-error",
        "HTTP-request-denied",
        "HTTP-request-URI-invalid",
        "HTTP-upgrade-failed",
    ):
        assert not http_retry.transient(Case(name)), name
    assert not http_retry.transient(Case("HTTP-response-body-size", Some(10)))


def test_the_properties_are_golems_http_retry_context() -> None:
    props = http_retry.properties("GET", "http://127.0.0.1:8080/a/b?q=1")
    assert props["verb"] == "GET" and props["error-type"] == "transient"
    assert props["uri-host"] == "127.0.0.1" and props["uri-port"] == 8080
    assert props["uri-path"] == "/a/b" and "status-code" not in props
    policy = rp.NamedPolicy("get", 1, ("prop-eq", "verb", "GET"), ("never",))
    assert rp.resolve([policy], props) == policy
