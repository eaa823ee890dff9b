"""A batch's outcomes counted by group (`RecordConsumer._tally_many`) give the metrics and
counts that counting each record (`_tally`, `metrics.consumed`) gives."""

from __future__ import annotations

from collections import Counter

from plumbing import metrics
from plumbing.consumer import Record, RecordConsumer


def _samples() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in metrics.REGISTRY.collect():
        if family.name in ("talentloop_events_consumed", "talentloop_handler_seconds"):
            for s in family.samples:
                out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _delta(before: dict, after: dict) -> dict:
    return {k: v - before.get(k, 0.0) for k, v in after.items() if v != before.get(k, 0.0)}


def test_outcomes_counted_by_group_equal_those_counted_one_by_one():
    records = [("t1", "a.b.v1", "applied"), ("t1", "a.b.v1", "applied"), ("t2", "a.b.v1", "duplicate"),
               ("t1", "c.d.v2", "applied"), ("t2", "a.b.v1", "duplicate"), ("t1", "a.b.v1", "dead_lettered")]
    seconds = 0.0123

    one = RecordConsumer("tally_one", pool=None, producer=None)  # type: ignore[arg-type]
    before = _samples()
    counted: Counter[str] = Counter()
    for topic, event_type, outcome in records:
        one._tally(counted, Record(topic, 0, 0, None, None), event_type, outcome, seconds)
    by_record = _delta(before, _samples())

    many = RecordConsumer("tally_many", pool=None, producer=None)  # type: ignore[arg-type]
    before = _samples()
    grouped_counted: Counter[str] = Counter()
    many._tally_many(grouped_counted, Counter(records), seconds)
    by_group = _delta(before, _samples())

    def renamed(d: dict) -> dict:
        return {(name, tuple((k, "x" if k == "service" else v) for k, v in labels)): v for (name, labels), v in d.items()}

    assert by_record and renamed(by_group) == renamed(by_record)
    assert grouped_counted == counted == Counter(applied=3, duplicate=2, dead_lettered=1)
    assert many.counts == one.counts
