"""The public endpoints' token bucket (services/outcomes/public_api.py) with an injected clock:
a burst, then a refill at the configured rate, per client; and whose address is the client's."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from services.outcomes.public_api import TokenBucket, client_address

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_a_burst_then_the_wait_until_the_next_token():
    clock = Clock()
    bucket = TokenBucket(per_minute=60, burst=3, now=clock)
    assert [bucket.take("a") for _ in range(3)] == [0, 0, 0]
    assert bucket.take("a") == pytest.approx(1.0)  # one token a second
    clock.t += 0.25
    assert bucket.take("a") == pytest.approx(0.75)  # a refused request spends nothing
    assert bucket.take("b") == 0  # another client has its own burst


def test_tokens_refill_at_the_rate_and_never_beyond_the_burst():
    clock = Clock()
    bucket = TokenBucket(per_minute=30, burst=2, now=clock)
    assert bucket.take("a") == bucket.take("a") == 0
    assert bucket.take("a") == pytest.approx(2.0)  # 30 a minute: one every 2 s
    clock.t += 2
    assert bucket.take("a") == 0
    assert bucket.take("a") > 0
    clock.t += 3600  # an hour idle refills to the burst, no more
    assert [bucket.take("a") for _ in range(3)][:2] == [0, 0]
    assert bucket.take("a") > 0


def test_full_buckets_are_forgotten_when_many_clients_were_seen():
    clock = Clock()
    bucket = TokenBucket(per_minute=60, burst=1, now=clock)
    for n in range(10_001):
        bucket.take(f"c{n}")
    clock.t += 2  # everyone's bucket is full again
    bucket.take("new")
    assert set(bucket.buckets) == {"new"}


def request(peer: str, forwarded: str | None = None) -> Request:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return Request({"type": "http", "headers": headers, "client": (peer, 5000)})


def test_the_forwarded_address_counts_only_when_trusted_and_only_the_proxys_entry():
    assert client_address(request("10.0.0.1", "6.6.6.6"), trust_forwarded_for=False) == "10.0.0.1"
    assert client_address(request("10.0.0.1", "6.6.6.6, 203.0.113.7"), trust_forwarded_for=True) == "203.0.113.7"
    assert client_address(request("10.0.0.1"), trust_forwarded_for=True) == "10.0.0.1"
