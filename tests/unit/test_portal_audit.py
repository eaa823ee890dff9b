"""`application.audit_answer`: an action a service took for a user is recorded once, with the
call's correlation id; the same form sent twice (the service replays its answer for the form's
Idempotency-Key) is not recorded again."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from services.portal import application
from services.portal.domain import Member
from services.portal.services_client import Answer

pytestmark = pytest.mark.unit

MEMBER = Member(user_id="usr_1", org_id="org_1", org_kind="employer", role="staff")


def answer(replayed: bool) -> Answer:
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    return Answer(httpx.Response(201, headers=headers, json={}), correlation_id="cor_1")


async def test_an_action_is_recorded_once_however_often_its_form_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    recorded: list[tuple[Any, ...]] = []

    async def audit(pool: Any, action: str, **fields: Any) -> None:
        recorded.append((pool, action, fields))

    monkeypatch.setattr(application.store, "audit", audit)
    portal: Any = SimpleNamespace(pool="the pool")
    await application.audit_answer(portal, MEMBER, "employer_step", "ref_1", answer(False), {"step": "acknowledge"})
    await application.audit_answer(portal, MEMBER, "employer_step", "ref_1", answer(True), {"step": "acknowledge"})
    assert recorded == [
        (
            "the pool",
            "employer_step",
            {
                "org_id": "org_1",
                "user_id": "usr_1",
                "target": "ref_1",
                "correlation_id": "cor_1",
                "detail": {"step": "acknowledge"},
            },
        )
    ]
