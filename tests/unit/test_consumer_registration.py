import pytest

from plumbing.consumer import EventConsumer

pytestmark = pytest.mark.unit


async def handler(ctx, env, payload):
    return None


def test_handlers_for_superseded_versions_are_refused():
    # A handler for v1 would never run: v1 events are upcast and dispatched as v2.
    with pytest.raises(ValueError, match="newest versions"):
        EventConsumer("t", None, None, handlers={"referral.submitted.v1": handler})  # type: ignore[arg-type]


def test_handlers_for_newest_versions_are_accepted():
    consumer = EventConsumer("t", None, None, handlers={"referral.submitted.v2": handler})  # type: ignore[arg-type]
    assert consumer.dead_letter_topic == "talentloop.deadletter.t"
