"""bench/routing.py keeps working: run at a tiny size as a process of its own (its own stack on
free ports), and check that every referral got one decision, that the CPU per decision of
routing, PostgreSQL and Kafka is there, and that decisions went in set-based batches. The
10,000 x 5,000 run is by hand (docs/performance.md)."""

from __future__ import annotations

import pytest

from tests.e2e.own_processes import Finished

REFERRALS, OPENINGS = 300, 100


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.timeout(900)  # a stack of its own; the 2-core machine may be shared by other test runs
@pytest.mark.own_process(
    "bench/routing.py",
    "--referrals",
    str(REFERRALS),
    "--openings",
    str(OPENINGS),
    "--timeout",
    "600",
    out="routing.json",
)
def test_routing_benchmark_at_a_tiny_size(own_process: Finished) -> None:
    r = own_process.results()
    assert r["complete"] is True and r["decided"] == REFERRALS == r["routed"] + r["unmatched"]
    assert 0 < r["routed"] and r["deadletters"] == 0 and r["referrals_decided_per_s"] > 0
    assert r["database"]["decisions"] == {
        k: v for k, v in (("routed", r["routed"]), ("unmatched", r["unmatched"])) if v
    }
    assert r["database"]["slots_taken"] == r["routed"]  # every routed decision holds one slot
    assert set(r["cpu_ms_per_decision"]) == {"routing", "postgres", "kafka"}
    assert all(v > 0 for v in r["cpu_ms_per_decision"].values())
    # Submitted as fast as a producer can, the referrals are decided in batches, not one by one.
    assert r["database"]["decision_transactions"] < REFERRALS / 2
    assert len(r["load_average"]["start"]) == 3 and r["source"]["commit"]
