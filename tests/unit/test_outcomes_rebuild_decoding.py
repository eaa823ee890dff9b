"""The rebuild's first pass decoding a fetch (`rebuild._decode`): what is loaded, set aside,
skipped and counted, and the cyclic collector paused while it decodes (on again after, also
when a record is poison)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from aiokafka import ConsumerRecord, TopicPartition

from contracts import build, events
from services.outcomes import rebuild

TOPIC = "talentloop.test"
T0 = datetime(2026, 11, 30, 12, tzinfo=UTC)
IDS = {"referral_id": "ref_dec_1", "employer_id": "emp1", "opening_id": "opn1"}


def record(offset: int, value: bytes) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(TOPIC, 0, offset, 0, 0, b"k", value, None, len(b"k"), len(value), [])


def value(payload: object) -> bytes:
    return build(payload, source="/test", correlation_id="c", partner_id="p1", time=T0).to_bytes()  # type: ignore[arg-type]


@pytest.fixture
def collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_a_fetch_is_decoded_with_the_collector_paused(collector_on, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    lives = [
        value(events.ReferralAcknowledgedV1(**IDS)),
        value(events.InterviewCompletedV1(**IDS, interview_id="i1", outcome=events.InterviewOutcome.advanced)),
    ]
    closed = events.OpeningClosedV1(
        opening_id="opn1", employer_id="emp1", reason=events.OpeningCloseReason.filled, closed_at=T0
    )
    erasure = events.CandidateErasedV1(
        candidate_id="cand_x", referral_ids=["ref_dec_1"], requested_by=events.ErasureRequester.partner, erased_at=T0
    )
    values = [
        *lives,
        lives[0],
        value(closed),
        value(erasure),
        b"{not json",
        value(events.ReferralAcknowledgedV1(**IDS)),
    ]
    tp = TopicPartition(TOPIC, 0)
    fetched = {tp: [record(offset, v) for offset, v in enumerate(values)]}
    ends = {tp: len(values) - 1}  # the last record arrived after the rebuild started
    enabled_while_parsing = []
    parse = rebuild._parse  # noqa: SLF001

    def watched(raw: bytes | None, result: rebuild.Result) -> object:
        enabled_while_parsing.append(gc.isenabled())
        return parse(raw, result)

    monkeypatch.setattr(rebuild, "_parse", watched)
    tally, seen, later = rebuild.Result(""), set(), []  # type: ignore[var-annotated]
    items = rebuild._decode(fetched, ends, tally, seen, later)  # noqa: SLF001

    assert enabled_while_parsing == [False] * (len(values) - 1)
    assert gc.isenabled()
    assert [env.to_bytes() for env, _ in items] == lives  # each once, in order
    assert [offset for _, _, offset, _ in later] == [len(lives) + 1, len(lives) + 2]  # the opening, the erasure
    assert tally.skipped == {rebuild.REPEATED: 1, rebuild.UNDECODABLE: 1}
    assert len(seen) == len(lives)
