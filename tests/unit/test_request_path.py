"""`plumbing.auth.request_path` is `request.url.path` without building the URL: the scope a
request needs (webhooks, self-service key routes) and the idempotency fingerprint's path
must not change with it."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from plumbing.auth import request_path, required_scope

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "path",
    [
        "/v1/referrals/ref_1/acknowledge",
        "/v1/webhooks",
        "/v1/webhooks/",
        "/v1/webhooks?x",
        "/v1/keys/rotate",
        "/a#b\\c",
        "//v1//webhooks",
        "/café et thé",
        "/",
    ],
)
def test_request_path_is_the_urls_path(path: str) -> None:
    scope = {
        "type": "http",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "query_string": b"after=3&limit=100",
        "headers": [(b"host", b"gateway.local:8003")],
        "server": ("127.0.0.1", 8003),
    }
    request = Request(scope)
    assert request_path(request) == request.url.path
    assert required_scope("POST", request_path(request)) == required_scope("POST", request.url.path)
