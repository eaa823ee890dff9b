"""How the portal acts on the services for an organisation (docs/portals.md, "Acting on the
services"): with the organisation's own API key (machine_keys.py) and an X-Correlation-Id that
names the acting user by id, which every event the action causes carries as `correlationid`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from services.portal import domain
from services.portal.domain import Member
from services.portal.machine_keys import MachineKeys


@dataclass(frozen=True)
class Answer:
    response: httpx.Response
    correlation_id: str

    @property
    def status(self) -> int:
        return self.response.status_code

    def json(self) -> Any:
        return self.response.json()


class ServicesUnavailable(Exception):
    """A service did not answer (down, or a network fault)."""


class Services:
    def __init__(self, http: httpx.AsyncClient, urls: dict[str, str], keys: MachineKeys) -> None:
        self.http = http
        self.urls = urls
        self.keys = keys

    async def _headers(self, member: Member, extra: dict[str, str]) -> tuple[str, dict[str, str]]:
        """The organisation's key and a correlation id naming the acting user (with `extra`)."""
        key = await self.keys.key_for(member.org_id)
        correlation = domain.correlation_id(member.user_id, uuid.uuid4().hex[:12])
        return correlation, {"Authorization": f"Bearer {key}", "X-Correlation-Id": correlation, **extra}

    async def call(self, member: Member, service: str, method: str, path: str, **kwargs: Any) -> Answer:
        correlation, headers = await self._headers(member, kwargs.pop("headers", {}))
        try:
            response = await self.http.request(method, f"{self.urls[service]}{path}", headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise ServicesUnavailable(f"{service}: {type(exc).__name__}") from None
        if response.status_code >= 500:
            raise ServicesUnavailable(f"{service}: {response.status_code}")
        return Answer(response, correlation)

    async def stream(self, member: Member, service: str, method: str, path: str, **kwargs: Any) -> Any:
        """`httpx.AsyncClient.stream` with the organisation's key and the user's correlation id."""
        correlation, headers = await self._headers(member, kwargs.pop("headers", {}))
        return correlation, self.http.stream(method, f"{self.urls[service]}{path}", headers=headers, **kwargs)
