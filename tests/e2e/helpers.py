"""Helpers for the end-to-end tests: polling, request bodies, and the services' HTTP APIs."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import httpx

from plumbing.business_days import BusinessDays
from plumbing.settings import Settings
from talentloop.network import Network
from talentloop.waiting import until

T = TypeVar("T")

POLL_TIMEOUT = 30.0
PROBLEM_JSON = "application/problem+json"
OPERATOR = "operator:coalition-ops"

# Client library versions the interop tests saw; the e2e conftest prints them in the summary.
VERSIONS: dict[str, str] = {}


@dataclass
class RunningNetwork:
    urls: dict[str, str]
    keys: dict[str, str]
    bootstrap: str
    network: Network
    startup_s: float

    def auth(self, ref: str) -> dict[str, str]:
        """Authorization header for a principal ref such as 'partner:forge-coding-bootcamp'."""
        return {"Authorization": f"Bearer {self.keys[ref]}"}


async def poll(what: str, check: Callable[[], Awaitable[T | None]], timeout: float = POLL_TIMEOUT,
               every: float = 0.2) -> T:
    """Call `check` until it returns something other than None; fail after `timeout` seconds."""
    return await until(what, check, timeout, every)


def utc_today() -> date:
    """Today as the gateway dates check-ins and conversions ("not in the future": its clock's UTC
    date). Not date.today(): where the machine's zone is not UTC, the local date is a day off for
    hours of every day and the same test passes or fails by the time it runs."""
    return datetime.now(UTC).date()


def business_today() -> date:
    """Today as the support service dates deliveries (not before the request's day, not in the
    future, both in TALENTLOOP_BUSINESS_TIMEZONE, which the services inherit from this process).
    Read at the moment of the delivery, after the request, so a run across midnight stays valid."""
    return datetime.now(BusinessDays.from_settings(Settings()).tz).date()


def unique(prefix: str = "skill") -> str:
    """A skill name no vocabulary entry and no other test uses."""
    return f"zq-{prefix}-{uuid.uuid4().hex[:10]}"


def opening_body(required: list[str], preferred: list[str] | None = None, *, capacity: int = 5) -> dict[str, Any]:
    return {
        "title": f"E2E opening {uuid.uuid4().hex[:6]}",
        "onet_soc_code": "15-1252.00",
        "required_skills": required,
        "preferred_skills": preferred or [],
        "capacity": capacity,
        "wage": {"amount": "31.50", "unit": "hour"},
        "location": "Bronx, NY",
        "remote": False,
    }


def referral_body(skills: list[str], *, share: bool = True) -> dict[str, Any]:
    n = uuid.uuid4().hex[:8]
    return {
        "external_id": f"e2e-{n}",
        "candidate": {"given_name": "Test", "family_name": f"Candidate{n}", "email": f"e2e-{n}@example.org"},
        "skills": skills,
        "training": {"program": "Tech career track", "provider": "E2E"},
        "consent": {"share_with_employers": share, "given_at": datetime.now(UTC).isoformat()},
    }


def assert_problem(r: httpx.Response, status: int, type_suffix: str | None = None) -> dict[str, Any]:
    """`r` is an RFC 9457 problem+json answer with this status (and type ending in `type_suffix`)."""
    assert r.status_code == status, f"expected {status}, got {r.status_code}: {r.text}"
    assert r.headers["content-type"].split(";")[0].strip() == PROBLEM_JSON, r.headers
    doc = r.json()
    assert doc["status"] == status, doc
    assert doc["type"].startswith("urn:talentloop:problem:"), doc
    assert doc["title"], doc
    if type_suffix is not None:
        assert doc["type"].endswith(type_suffix), doc
    return doc


class Api:
    """The services' public HTTP APIs as partners, employers and the operator use them."""

    def __init__(self, net: RunningNetwork, http: httpx.AsyncClient) -> None:
        self.net = net
        self.http = http

    def url(self, service: str, path: str) -> str:
        return f"{self.net.urls[service]}{path}"

    async def post_opening(self, employer: str, body: dict[str, Any]) -> str:
        r = await self.http.post(self.url("employer_gateway", "/v1/openings"), json=body,
                                 headers=self.net.auth(f"employer:{employer}"))
        assert r.status_code == 201, r.text
        return r.json()["opening_id"]

    async def wait_in_catalogue(self, opening_id: str) -> dict[str, Any]:
        async def listed() -> dict[str, Any] | None:
            r = await self.http.get(self.url("routing", "/v1/openings"), headers=self.net.auth(OPERATOR))
            assert r.status_code == 200, r.text
            return next((o for o in r.json() if o["opening_id"] == opening_id), None)

        return await poll(f"routing's catalogue to list {opening_id}", listed)

    async def open_opening(self, employer: str, body: dict[str, Any]) -> str:
        """Post an opening and wait until routing can route to it."""
        opening_id = await self.post_opening(employer, body)
        await self.wait_in_catalogue(opening_id)
        return opening_id

    async def submit(self, partner: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> httpx.Response:
        return await self.http.post(self.url("intake", "/v1/referrals"), json=body,
                                    headers={**self.net.auth(f"partner:{partner}"), **(headers or {})})

    async def refer(self, partner: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> str:
        r = await self.submit(partner, body, headers)
        assert r.status_code == 201, r.text
        return r.json()["referral_id"]

    async def wait_in_inbox(self, employer: str, referral_id: str, opening_id: str) -> dict[str, Any]:
        async def arrived() -> dict[str, Any] | None:
            r = await self.http.get(self.url("employer_gateway", "/v1/referrals"), params={"opening_id": opening_id},
                                    headers=self.net.auth(f"employer:{employer}"))
            assert r.status_code == 200, r.text
            return next((i for i in r.json()["items"] if i["referral_id"] == referral_id), None)

        return await poll(f"{referral_id} in {employer}'s inbox", arrived)

    async def act(self, employer: str, referral_id: str, action: str, body: dict[str, Any] | None = None,
                  headers: dict[str, str] | None = None) -> httpx.Response:
        return await self.http.post(self.url("employer_gateway", f"/v1/referrals/{referral_id}/{action}"), json=body,
                                    headers={**self.net.auth(f"employer:{employer}"), **(headers or {})})

    async def timeline(self, referral_id: str, ref: str = OPERATOR) -> httpx.Response:
        return await self.http.get(self.url("outcomes", f"/v1/referrals/{referral_id}/timeline"),
                                   headers=self.net.auth(ref))

    async def wait_timeline(self, referral_id: str, done: Callable[[dict[str, Any]], bool],
                            what: str) -> dict[str, Any]:
        """The operator's view of the timeline, once `done(timeline)` holds."""
        async def ready() -> dict[str, Any] | None:
            r = await self.timeline(referral_id)
            if r.status_code == 404:
                return None  # outcomes has not recorded any event of it yet
            assert r.status_code == 200, r.text
            doc = r.json()
            return doc if done(doc) else None

        return await poll(f"timeline of {referral_id}: {what}", ready)

    async def funnel(self, ref: str = OPERATOR) -> dict[str, Any]:
        r = await self.http.get(self.url("outcomes", "/v1/funnel"), headers=self.net.auth(ref))
        assert r.status_code == 200, r.text
        return r.json()
