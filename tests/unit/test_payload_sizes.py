"""``serve --max-payload`` sizes and which routes carry a payload (host.server.payloads)."""

from __future__ import annotations

import pytest

from host.errors import InvalidInput
from host.server.payloads import body_limit, parse_size


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("1048576", 1 << 20),
        ("16MiB", 16 << 20),
        ("16 mib", 16 << 20),
        ("512KiB", 512 << 10),
        ("1MB", 1_000_000),
        ("1.5MiB", 3 << 19),
        ("2GiB", 2 << 30),
        ("10b", 10),
    ],
)
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "lots", "16XB", "-1", "0", "1e6", "MiB"])
def test_not_sizes(text: str) -> None:
    with pytest.raises(InvalidInput, match="size"):
        parse_size(text)


def test_payload_routes_get_the_payload_limit() -> None:
    complete = "/v1/components/c/workers/w/complete"
    assert body_limit(complete, "application/octet-stream", 1000) == 1000
    assert body_limit(complete, "application/octet-stream; x=y", 1000) == 1000
    json_limit = body_limit(complete, "application/json", 1000)
    assert json_limit is not None and json_limit >= 5 * 1000  # "255, " per byte
    assert body_limit("/webhooks/hook/token", None, 1000) == 1000
    assert body_limit("/v1/components/c/workers/w/invoke", "application/json", 1000) is None
    assert body_limit("/v1/components", "application/octet-stream", 1000) is None
