"""Operators see any dead letter, whatever its bytes: hostile JSON is shown as text."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from plumbing.operations import DeadLetter

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("value", [b"[" * 5000, b'{"data": ' + b"9" * 5000 + b"}", b"\xff\xfe", b""])
def test_a_hostile_dead_letter_is_listed_and_shown(value):
    record = SimpleNamespace(
        topic="talentloop.deadletter.intake", partition=0, offset=7, key=b"k", value=value, timestamp=0,
        headers=[("dlq.reason", b"contract: bad"), ("dlq.errors", b"[" * 5000), ("dlq.original_topic", b"t")],
    )
    letter = DeadLetter.of(record)
    summary = letter.summary()
    assert summary["event_type"] is None and summary["errors"] is None and summary["reason"] == "contract: bad"
    assert isinstance(letter.to_dict()["payload"], str)
