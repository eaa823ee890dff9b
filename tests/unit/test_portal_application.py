"""How the portal's use cases call the services (services/portal/application.py): a paged list
read whole, up to a bound, or one page from a cursor; a refusal is `service_refused`; a form's
change sent with its own id in the Idempotency-Key, none without an id."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from services.portal import application
from services.portal.domain import Member
from services.portal.services_client import Answer

pytestmark = pytest.mark.unit

MEMBER = Member(user_id="usr_1", org_id="org_1", org_kind="partner", role="staff")


class Listing:
    """A service's paged list of `total` items (cursors 1..total), as the services page it: the
    next cursor only after a full page. Records each call."""

    def __init__(self, total: int, status: int = 200) -> None:
        self.total, self.status = total, status
        self.calls: list[tuple[str, str, str, dict[str, Any]]] = []

    async def call(self, member: Member, service: str, method: str, path: str, **kwargs: Any) -> Answer:
        self.calls.append((service, method, path, kwargs))
        if method != "GET":
            return Answer(httpx.Response(201, json={}), "cor_1")
        params = kwargs["params"]
        start = int(params.get("after", 0))
        items = [{"cursor": c} for c in range(start + 1, min(start + params["limit"], self.total) + 1)]
        page = {"items": items, "next_after": items[-1]["cursor"] if len(items) == params["limit"] else None}
        return Answer(httpx.Response(self.status, json=page), "cor_1")


def portal(services: Listing) -> Any:
    return SimpleNamespace(services=services)


async def test_a_list_is_read_a_page_at_a_time_to_its_end_or_its_bound() -> None:
    whole = Listing(1203)
    items = await application.paged(portal(whole), MEMBER, "support", "/v1/service-requests", 2000)
    assert [i["cursor"] for i in items] == list(range(1, 1204))
    assert [c[3]["params"] for c in whole.calls] == [
        {"limit": 500},
        {"limit": 500, "after": 500},
        {"limit": 500, "after": 1000},
    ]
    bounded = Listing(5000)
    items = await application.paged(portal(bounded), MEMBER, "outcomes", "/v1/partner/referrals", 1200)
    assert len(items) == 1200 and [c[3]["params"]["limit"] for c in bounded.calls] == [500, 500, 200]


async def test_one_page_from_a_cursor_with_the_lists_own_filter() -> None:
    listing = Listing(450)
    items = await application.paged(portal(listing), MEMBER, "support", "/v1/x", 100, {"status": "declined"}, 300)
    assert [i["cursor"] for i in items] == list(range(301, 401))
    assert [c[3]["params"] for c in listing.calls] == [{"status": "declined", "limit": 100, "after": 300}]


async def test_a_list_the_service_refuses_is_refused() -> None:
    with pytest.raises(application.Refused) as refused:
        await application.paged(portal(Listing(10, status=403)), MEMBER, "support", "/v1/x", 100)
    assert refused.value.code == "service_refused"


async def test_a_forms_change_carries_its_own_id_as_the_idempotency_key() -> None:
    services = Listing(0)
    await application.send_once(portal(services), MEMBER, "support", "POST", "/v1/y", {"a": 1}, "f" * 300)
    await application.send_once(portal(services), MEMBER, "employer_gateway", "PATCH", "/v1/z", None, None)
    assert services.calls == [
        ("support", "POST", "/v1/y", {"json": {"a": 1}, "headers": {"Idempotency-Key": ("portal-" + "f" * 300)[:200]}}),
        ("employer_gateway", "PATCH", "/v1/z", {"json": None, "headers": {}}),
    ]
