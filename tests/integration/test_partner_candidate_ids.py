"""A partner's answers reveal nothing the network linked from other partners' referrals
(issue 14, "answers never reveal other partners' referrals"), on real PostgreSQL.

The network links one person's referrals across partners by e-mail or phone; a partner is
told its own id of the person, linked only by what it supplied itself. Each test runs the
same moves with and without another partner holding the person, and asserts the partner's
answers are alike in both worlds: what it could compare (ids, 409s, counts) is the same.
"""

from __future__ import annotations

import asyncpg
import pytest

from plumbing.context import Deps
from services.intake import application, domain
from services.intake.application import Accepted, Duplicate
from tests.integration import intake_world
from tests.integration.intake_world import person, submit, tag

pytestmark = pytest.mark.integration
intake = intake_world.intake  # the fixture: intake's dependencies on a migrated schema
SOFTWARE, SUPPORT = "15-1252", "15-1232"


async def accepted(pool: asyncpg.Pool, intake: Deps, partner: str, referral: domain.ReferralIn) -> Accepted:
    result = await submit(pool, intake, partner, referral)
    assert isinstance(result, Accepted), result
    return result


async def erase_own(pool: asyncpg.Pool, intake: Deps, partner: str, referral_id: str) -> application.Erasure:
    async with pool.acquire() as conn, conn.transaction():
        return await application.erase_own(intake.bind(conn), partner, referral_id, f"partner:{partner}", "t")


@pytest.mark.parametrize("others_hold_them", [True, False])
async def test_after_its_own_erasure_a_partner_cannot_tell_whether_others_hold_the_person(pool, intake, others_hold_them):
    email = f"held-{tag()}@example.org"
    if others_hold_them:
        theirs = await accepted(pool, intake, "p_a", person(email))
    first = await accepted(pool, intake, "p_b", person(email))
    if others_hold_them:
        # The network links them (one candidate, one key); partner B is told another id.
        assert first.candidate_id == theirs.candidate_id and first.partner_candidate_id != theirs.partner_candidate_id
    assert first.partner_candidate_id != first.candidate_id
    erased = await erase_own(pool, intake, "p_b", first.referral_id)
    assert (erased.candidate_id, erased.referrals) == (first.partner_candidate_id, 1)

    again = await accepted(pool, intake, "p_b", person(email))
    # A new id either way: the old one went with the erasure, whoever else holds the person.
    assert again.partner_candidate_id != first.partner_candidate_id
    assert (again.candidate_id == first.candidate_id) is others_hold_them  # the network's link, not told


@pytest.mark.parametrize("others_linked_them", [True, False])
async def test_a_partner_is_not_told_that_the_network_links_an_email_and_a_phone(pool, intake, others_linked_them):
    t = tag()
    email, phone = f"linked-{t}@example.org", f"+1 312 555 {int(t[:4], 16) % 10000:04d}"
    if others_linked_them:
        await accepted(pool, intake, "p_a", person(email, phone))
    by_email = await accepted(pool, intake, "p_b", person(email, target_onet_soc_code=SOFTWARE))
    # The same target by phone only: as partner B knows them, someone else (not a duplicate).
    by_phone = await submit(pool, intake, "p_b", person(None, phone, target_onet_soc_code=SOFTWARE))
    assert isinstance(by_phone, Accepted), by_phone
    assert by_phone.partner_candidate_id != by_email.partner_candidate_id
    assert (by_phone.candidate_id == by_email.candidate_id) is others_linked_them  # the network's link, not told
    # Its erasure of the one counts the one, whatever the network linked.
    erased = await erase_own(pool, intake, "p_b", by_phone.referral_id)
    assert (erased.candidate_id, erased.referrals) == (by_phone.partner_candidate_id, 1)


async def test_a_partner_links_what_it_supplied_itself(pool, intake):
    t = tag()
    email, phone = f"own-{t}@example.org", f"+1 773 555 {int(t[:4], 16) % 10000:04d}"
    both = await accepted(pool, intake, "p_b", person(email, phone, target_onet_soc_code=SOFTWARE))
    by_phone = await accepted(pool, intake, "p_b", person(None, phone, target_onet_soc_code=SUPPORT))
    assert by_phone.partner_candidate_id == both.partner_candidate_id
    # The same person and target as it knows them is its duplicate, by either of its identifiers.
    again = await submit(pool, intake, "p_b", person(email, target_onet_soc_code=SUPPORT))
    assert isinstance(again, Duplicate) and again.existing_referral_id == by_phone.referral_id
    # Its erasure covers every referral it made of the person.
    erased = await erase_own(pool, intake, "p_b", both.referral_id)
    assert (erased.candidate_id, erased.referrals) == (both.partner_candidate_id, 2)


async def test_an_update_links_the_new_email_for_the_partner_too(pool, intake):
    t = tag()
    old, new = f"old-{t}@example.org", f"new-{t}@example.org"
    first = await accepted(pool, intake, "p_b", person(old, target_onet_soc_code=SOFTWARE))
    change = domain.Profile.model_validate({"candidate": {"given_name": "Ana", "family_name": "Diaz", "email": new}})
    async with pool.acquire() as conn, conn.transaction():
        await application.update(intake.bind(conn), "p_b", first.referral_id, change, "t")
    later = await accepted(pool, intake, "p_b", person(new, target_onet_soc_code=SUPPORT))
    assert later.partner_candidate_id == first.partner_candidate_id
