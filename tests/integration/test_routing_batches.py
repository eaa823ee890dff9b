"""Routing's set-based batches decide exactly as one decision per transaction does: the same
outcome, opening, score, attempt and events for every referral, on real PostgreSQL."""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, timedelta

import pytest

from contracts import Envelope, build, events
from plumbing.consumer import EventConsumer, Record
from services.routing import store
from services.routing.app import DEFINITION as ROUTING
from services.routing.handlers import batch_handler_for
from tests.integration import test_withdraw_update_erase as shared
from tests.integration.test_withdraw_update_erase import CONSENT, T0, skill_refs

pytestmark = pytest.mark.integration
make_pool = shared.make_pool

SKILLS = ["python", "sql", "java", "linux", "aws", "docker", "excel", "tableau", "react", "go", "rust", "git"]
SOCS = ["15-1252.00", "15-1211.00", "15-2051.00"]


def scenario(seed: int, n_openings: int = 40, n_referrals: int = 150) -> tuple[list, list]:
    rnd = random.Random(seed)
    openings = []
    for i in range(n_openings):
        openings.append(events.OpeningPostedV1(
            opening_id=f"o{i:03d}", employer_id=f"emp{i % 5}", title=f"Job {i}", onet_soc_code=rnd.choice(SOCS),
            required_skills=rnd.sample(SKILLS, rnd.randint(1, 3)),
            preferred_skills=rnd.sample(SKILLS, rnd.randint(0, 2)), capacity=rnd.randint(1, 4),
            wage=events.Wage(amount="25", unit="hour"), location=rnd.choice(["Bronx, NY", "Miami, FL"]),
            remote=rnd.random() < 0.2,
        ))
    referrals = []
    for i in range(n_referrals):
        referrals.append(events.ReferralSubmittedV2(
            referral_id=f"r{i:04d}", partner_id=f"p{i % 3}", candidate_id=f"cand_{i}",
            skills=skill_refs(*rnd.sample(SKILLS, rnd.randint(1, 6))), skills_vocabulary="2026.11",
            target_onet_soc_code=rnd.choice(SOCS) if rnd.random() < 0.25 else None,
            target_opening_id=f"o{rnd.randrange(n_openings):03d}" if rnd.random() < 0.1 else None,
            location=rnd.choice(["Bronx, NY", "Miami, FL", None]), consent=CONSENT,
            credentials=[events.Credential(name="CompTIA A+", issuer="CompTIA", ctdl_id=f"ce-{i % 4}",
                                           awarded_on=date(2026, 5, 1 + i % 28))] if i % 3 == 0 else [],
        ))
    return openings, referrals


def records(payloads: list, start: int = 0) -> list[Record]:
    out = []
    for n, payload in enumerate(payloads):
        # Openings posted at T0, referrals a day later (inside the fair-share hold, so it applies).
        at = T0 if isinstance(payload, events.OpeningPostedV1) else T0 + timedelta(days=1, seconds=n)
        env = build(payload, source="/test", correlation_id=f"c{n}", time=at)
        out.append(Record(payload.topic.name, 0, start + n, env.subject.encode(), env.to_bytes()))
    return out


async def outcome_of(consumer: EventConsumer) -> tuple[list, Counter]:
    rows = await consumer.pool.fetch(
        "SELECT referral_id, outcome, opening_id, score, attempt, credentials, degree, location, skills,"
        " credential_list FROM decisions ORDER BY referral_id"
    )
    published = Counter()
    for r in await consumer.pool.fetch("SELECT value FROM outbox ORDER BY id"):
        env = Envelope.from_bytes(r["value"])
        published[(env.type, env.subject, repr(sorted(env.data.items())))] += 1
    return [tuple(r) for r in rows], published


def counting(handler, applied: list[int]):  # type: ignore[no-untyped-def]
    """The batch handler, noting the size of every batch it applied whole."""

    async def batch_handler(ctx, items):  # type: ignore[no-untyped-def]
        await handler(ctx, items)
        applied.append(len(items))

    return batch_handler


async def decided_alone_and_posted(make_pool, openings: list, referrals: list):  # type: ignore[no-untyped-def]
    """Two routing consumers on fresh schemas: one has applied every record alone, the other
    the openings in one batch (its referrals left to the test). Returns both, the sizes of
    the batches the second applied whole, and the referrals' records."""
    one_by_one = EventConsumer("routing", await make_pool(ROUTING.migrations), None, handlers=ROUTING.handlers)  # type: ignore[arg-type]
    applied: list[int] = []
    batched = EventConsumer(  # type: ignore[arg-type]
        "routing", await make_pool(ROUTING.migrations), None, handlers=ROUTING.handlers,
        batch_handler=counting(batch_handler_for(store.Postings()), applied),
    )
    opening_records = records(openings)
    referral_records = records(referrals, start=len(openings))
    for record in opening_records + referral_records:
        assert await one_by_one.process(record) == "applied"
    assert (await batched.process_batch(opening_records))["applied"] == len(openings)
    return one_by_one, batched, applied, referral_records


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_a_batch_decides_as_one_by_one_does(make_pool, seed):
    openings, referrals = scenario(seed)
    one_by_one, batched, applied, referral_records = await decided_alone_and_posted(make_pool, openings, referrals)
    # Several batches of uneven size, each one transaction.
    for chunk in (referral_records[:7], referral_records[7:100], referral_records[100:]):
        assert (await batched.process_batch(chunk))["applied"] == len(chunk)

    # Every batch went through the set-based path whole (none split down to single events).
    assert applied == [len(openings), 7, 93, len(referrals) - 100]
    expected, published = await outcome_of(one_by_one)
    got, got_published = await outcome_of(batched)
    assert got == expected
    assert got_published == published
    routed = sum(1 for r in expected if r[1] == "routed")
    assert 0 < routed < len(referrals)  # the scenario exercises both outcomes (and full openings)
    slots = dict(await one_by_one.pool.fetch("SELECT opening_id, routed_count FROM openings"))
    assert dict(await batched.pool.fetch("SELECT opening_id, routed_count FROM openings")) == slots


async def test_batches_of_one_partner_each_decide_as_one_by_one_does(make_pool):
    """A batch reads only its own partners' held slots (the fair share asks the deciding
    candidate's partner's alone): batches each of one partner, while the others hold slots in
    the same young openings, decide as one decision per transaction does."""
    openings, referrals = scenario(3, n_openings=12, n_referrals=120)
    # runs of ten referrals of one partner: p0, p1, p2, p0, ...
    referrals = [r.model_copy(update={"partner_id": f"p{(i // 10) % 3}"}) for i, r in enumerate(referrals)]
    one_by_one, batched, applied, referral_records = await decided_alone_and_posted(make_pool, openings, referrals)
    for start in range(0, len(referral_records), 10):
        chunk = referral_records[start : start + 10]
        assert (await batched.process_batch(chunk))["applied"] == len(chunk)

    assert applied == [len(openings)] + [10] * 12  # each batch whole, one partner each
    expected, published = await outcome_of(one_by_one)
    assert await outcome_of(batched) == (expected, published)
    assert 0 < sum(1 for r in expected if r[1] == "routed") < len(referrals)
    assert sum(n for (_, _, data), n in published.items() if "fair share" in data) > 0  # the holds were met


async def test_a_referral_submitted_twice_in_one_batch_is_decided_once(make_pool):
    openings, referrals = scenario(4, n_openings=5, n_referrals=3)
    batched = EventConsumer(  # type: ignore[arg-type]
        "routing", await make_pool(ROUTING.migrations), None, handlers=ROUTING.handlers,
        batch_handler=batch_handler_for(store.Postings()),
    )
    await batched.process_batch(records(openings))
    # The same fact under two event ids (a producer retry), in one batch.
    twice = records([referrals[0], referrals[0], referrals[1]], start=10)
    assert (await batched.process_batch(twice))["applied"] == 3
    rows = await batched.pool.fetch("SELECT referral_id FROM decisions")
    assert sorted(r["referral_id"] for r in rows) == ["r0000", "r0001"]
    kinds = Counter(Envelope.from_bytes(r["value"]).type for r in await batched.pool.fetch("SELECT value FROM outbox"))
    assert kinds["referral.routed.v1"] + kinds["referral.unmatched.v1"] == 2


class RacedPostings(store.Postings):
    """Another routing process takes a slot of every opening right after this one read them."""

    async def catalogue(self, conn, candidates, earliest):  # type: ignore[no-untyped-def]
        found = await super().catalogue(conn, candidates, earliest)
        async with self.other.acquire() as other:
            await other.execute("UPDATE openings SET routed_count = routed_count + 1 WHERE routed_count < capacity")
        return found


async def test_slots_taken_by_another_process_meanwhile_are_not_overfilled(make_pool):
    openings, referrals = scenario(5, n_openings=10, n_referrals=60)
    postings = RacedPostings()
    applied: list[int] = []
    batched = EventConsumer(  # type: ignore[arg-type]
        "routing", await make_pool(ROUTING.migrations), None, handlers=ROUTING.handlers,
        batch_handler=counting(batch_handler_for(postings), applied),
    )
    await batched.process_batch(records(openings))
    postings.other = batched.pool
    assert (await batched.process_batch(records(referrals, start=10)))["applied"] == len(referrals)
    assert applied == [len(openings), len(referrals)]  # the batch fell back inside, whole
    over = await batched.pool.fetchval("SELECT count(*) FROM openings WHERE routed_count > capacity")
    assert over == 0
    # Every routed decision holds a slot the table counts (beside the slots the other took).
    per_opening = dict(await batched.pool.fetch(
        "SELECT opening_id, count(*) FROM decisions WHERE outcome = 'routed' GROUP BY opening_id"))
    counts = dict(await batched.pool.fetch("SELECT opening_id, routed_count FROM openings"))
    assert per_opening and all(per_opening[o] <= counts[o] for o in per_opening)


async def test_a_batch_with_a_referral_withdrawn_first_decides_as_one_by_one_does(make_pool):
    """A withdrawal that came before its submission leaves a row the batch's one-statement
    write meets: the batch is undone to its savepoint and decided one by one, with the same
    result as one decision per transaction, and the withdrawn referral is never decided."""
    openings, referrals = scenario(6, n_openings=12, n_referrals=80)
    withdrawn = referrals[30]
    withdrawal = events.ReferralWithdrawnV1(
        referral_id=withdrawn.referral_id, partner_id=withdrawn.partner_id, candidate_id=withdrawn.candidate_id,
        reason=events.WithdrawalReason.other, withdrawn_at=T0,
    )
    one_by_one = EventConsumer("routing", await make_pool(ROUTING.migrations), None, handlers=ROUTING.handlers)  # type: ignore[arg-type]
    applied: list[int] = []
    batched = EventConsumer(  # type: ignore[arg-type]
        "routing", await make_pool(ROUTING.migrations), None, handlers=ROUTING.handlers,
        batch_handler=counting(batch_handler_for(store.Postings()), applied),
    )
    first = records([*openings, withdrawal])
    referral_records = records(referrals, start=len(first))
    for record in first + referral_records:
        assert await one_by_one.process(record) == "applied"
    assert (await batched.process_batch(first))["applied"] == len(first)
    assert (await batched.process_batch(referral_records))["applied"] == len(referrals)

    assert applied == [len(first), len(referrals)]  # the referrals' batch was applied whole
    expected, published = await outcome_of(one_by_one)
    got, got_published = await outcome_of(batched)
    assert got == expected
    assert got_published == published
    assert (withdrawn.referral_id, "withdrawn", None, None, 1) in [r[:5] for r in got]
    assert sum(1 for r in got if r[1] == "routed") > 0
