"""Behind a TLS-terminating proxy the request is https only if the proxy is trusted, and the
console's session cookie is Secure then (plumbing.service.trust_forwarded)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI, Request

from plumbing.service import trust_forwarded
from plumbing.settings import Settings
from services.console import pages
from services.console.sessions import Sessions

pytestmark = pytest.mark.unit
HTTPS = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}


def app_with(allowed: str) -> FastAPI:
    app = FastAPI()
    trust_forwarded(app, Settings(TALENTLOOP_FORWARDED_ALLOW_IPS=allowed))

    @app.get("/seen")
    async def seen(request: Request) -> dict:
        return {"scheme": request.url.scheme, "client": request.client.host if request.client else None}

    app.include_router(pages.router)
    app.state.sessions = Sessions()
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


async def test_the_console_session_cookie_is_secure_behind_a_trusted_tls_proxy(monkeypatch):
    async def any_operator(request, key):  # type: ignore[no-untyped-def]
        return None

    monkeypatch.setattr(pages, "authenticate_operator", any_operator)
    async with client(app_with("127.0.0.1"), "127.0.0.1") as http:
        behind_tls = await http.post("/login", data={"key": "k"}, headers=HTTPS)
        plain = await http.post("/login", data={"key": "k"})
    assert behind_tls.status_code == plain.status_code == 303
    cookie = behind_tls.headers["set-cookie"].lower()
    assert "secure" in cookie and "httponly" in cookie and "samesite=strict" in cookie
    assert "secure" not in plain.headers["set-cookie"].lower()  # plain http on loopback (development)
