"""Behind a TLS-terminating proxy the request is https only if the proxy is trusted
(plumbing.service.trust_forwarded). The portal's session cookie is Secure then:
tests/integration/test_portal_accounts.py."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI, Request

from plumbing.service import trust_forwarded
from plumbing.settings import Settings

pytestmark = pytest.mark.unit
HTTPS = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}


def app_with(allowed: str) -> FastAPI:
    app = FastAPI()
    trust_forwarded(app, Settings(TALENTLOOP_FORWARDED_ALLOW_IPS=allowed))

    @app.get("/seen")
    async def seen(request: Request) -> dict:
        return {"scheme": request.url.scheme, "client": request.client.host if request.client else None}

    return app


def client(app: FastAPI, peer: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(peer, 40000)), base_url="http://console")


@pytest.mark.parametrize("allowed, peer, scheme", [
    ("127.0.0.1", "127.0.0.1", "https"),  # the default: a proxy on this machine
    ("127.0.0.1", "10.0.0.9", "http"),  # anyone else's header is ignored
    ("10.0.0.0/8", "10.0.0.9", "https"),
    ("*", "192.0.2.1", "https"),
])
async def test_the_forwarded_scheme_counts_only_from_trusted_proxies(allowed, peer, scheme):
    async with client(app_with(allowed), peer) as http:
        seen = (await http.get("/seen", headers=HTTPS)).json()
    assert seen["scheme"] == scheme
    assert seen["client"] == ("203.0.113.7" if scheme == "https" else peer)
