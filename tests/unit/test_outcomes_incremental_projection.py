"""The projection's remembered parts (services/outcomes/projection.py, fourteenth session): the
facts and what `domain.derive` makes of them are remembered by each event's (fact, employer,
attempt), and a record is dumped by a function written for its dataclass. Both must give exactly
what deriving and dumping afresh gives, whatever came before in the process."""

from __future__ import annotations

import random
from dataclasses import fields
from datetime import UTC, datetime, timedelta

from bench.outcomes_ledger import make_stream
from contracts import Envelope
from services.outcomes import domain, projection, records, records_json
from services.outcomes.projection import LedgerEvent


def afresh(events: list[LedgerEvent]) -> tuple[list[domain.Fact], domain.Derived]:
    """The facts and their derivation without anything remembered (as before the change)."""
    facts = projection.facts_of(events)
    return facts, domain.derive(facts)


def referrals() -> dict[str, list[LedgerEvent]]:
    by_referral: dict[str, list[LedgerEvent]] = {}
    for _, _, value in make_stream(5, 300).records:
        env = Envelope.from_bytes(value)
        rid = env.data.get("referral_id")
        if rid:
            by_referral.setdefault(rid, []).append(
                LedgerEvent(env.type, env.time.astimezone(UTC), env.employerid, env.data, env.partnerid))
    return by_referral


def test_every_prefix_in_any_order_derives_what_deriving_afresh_gives() -> None:
    rng = random.Random(14)
    checked = 0
    for rid, found in referrals().items():
        for k in range(1, len(found) + 1):
            part = found[:k]
            rng.shuffle(part)
            p = projection.project(rid, part)
            facts, derived = afresh(part)
            assert (p.facts, p.derived) == (facts, derived), rid
            checked += 1
    assert checked > 2_000


def test_an_attempt_of_true_is_another_fact_than_an_attempt_of_1() -> None:
    t = datetime(2026, 1, 1, tzinfo=UTC)

    def routed(attempt: object) -> list[LedgerEvent]:
        return [LedgerEvent("referral.routed.v1", t, "emp_a", {"attempt": attempt, "partner_id": "p"}, "p")]

    one, true = projection.project("r", routed(1)), projection.project("r", routed(True))
    assert [(f.name, f.attempt, type(f.attempt)) for f in one.facts] == [("routed", 1, int)]
    assert [(f.name, f.attempt, type(f.attempt)) for f in true.facts] == [("routed", True, bool)]
    # Remembered either way round: the second one asked for is still its own.
    assert projection.project("r", routed(1)).facts == one.facts
    assert type(projection.project("r", routed(True)).facts[0].attempt) is bool


def test_an_unhashable_attempt_is_derived_without_being_remembered() -> None:
    t = datetime(2026, 1, 1, tzinfo=UTC)
    odd = [LedgerEvent("referral.acknowledged.v1", t, "emp_a", {"attempt": [2]}, "p"),
           LedgerEvent("referral.routed.v1", t - timedelta(hours=1), "emp_a", {"attempt": 2}, "p")]
    p = projection.project("r", odd)
    assert (p.facts, p.derived) == afresh(odd)
    assert p.derived.status == "in_review"


def generic_dump(value: object) -> object:
    """The record's JSON form as records_json made it before its dumpers were written per type:
    every field in order, those marked OMITTED_WHEN_EMPTY left out while None or empty."""
    kind = type(value)
    if kind in (str, int, float, bool, type(None)):
        return value
    if hasattr(value, "__dataclass_fields__"):
        return {f.name: generic_dump(x) for f in fields(value)  # type: ignore[arg-type]
                if (x := getattr(value, f.name)) is not None and x != () or not f.metadata.get(records.OMITTED_WHEN_EMPTY)}
    if kind in (list, tuple):
        return [generic_dump(x) for x in value]  # type: ignore[attr-defined]
    if kind is dict:
        return {str(k): generic_dump(x) for k, x in value.items()}  # type: ignore[attr-defined]
    return records_json.dump(value)  # times and decimals: unchanged


def test_a_record_is_dumped_as_the_generic_dump_did() -> None:
    dumped = 0
    for rid, found in referrals().items():
        record = projection.project(rid, found).record
        assert records_json.dump(record) == generic_dump(record), rid
        assert list(records_json.dump(record)) == list(generic_dump(record))  # the same keys in the same order
        dumped += record.placement is not None
    assert dumped > 20
