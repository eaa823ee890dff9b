"""The names of the people behind a page of a partner's referrals (docs/portals.md, "My
referrals"): a counsellor recognises people by name, not by id. The closed loop (outcomes)
carries no personal data, so each name comes from intake's `GET /v1/referrals/{id}`, which
opens the referral's sealed contact for the partner that made it and no one else; an erased
person has no name there any more."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from services.portal.application import Portal, Refused, one_of_ours, segment
from services.portal.domain import Member
from services.portal.services_client import ServicesUnavailable

AT_ONCE = 8  # requests to intake in flight for one page


async def names(p: Portal, member: Member, referral_ids: Iterable[str]) -> dict[str, str]:
    """Referral id -> the person's name, for those intake shows the organisation a name of
    (a name that cannot be read now is left out: the list still shows the referral)."""
    gate = asyncio.Semaphore(AT_ONCE)

    async def one(referral_id: str) -> tuple[str, str]:
        async with gate:
            try:
                found = await one_of_ours(p, member, "intake", f"/v1/referrals/{segment(referral_id)}")
            except (Refused, ServicesUnavailable):
                return referral_id, ""
        person = (found or {}).get("candidate") or {}
        return referral_id, " ".join(str(person[k]) for k in ("given_name", "family_name") if person.get(k))

    return {rid: name for rid, name in await asyncio.gather(*(one(r) for r in referral_ids)) if name}
