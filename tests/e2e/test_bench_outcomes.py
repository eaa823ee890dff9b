"""bench/outcomes_ledger.py keeps working: run at a tiny size as a process of its own (its own
stack on free ports), and check that its results hold the ingest and the rebuild with their
CPU per event, what PostgreSQL's backends waited for, and equal hashes. The 1M-event run is by
hand (docs/outcomes.md)."""

from __future__ import annotations

import pytest

from tests.e2e.own_processes import Finished

REFERRALS = 150


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.timeout(900)  # a stack of its own; the 2-core machine may be shared by other test runs
@pytest.mark.own_process(
    "bench/outcomes_ledger.py",
    "--referrals",
    str(REFERRALS),
    "--raw-rows",
    "500",
    "--rebuild-workers",
    "2",
    "--timeout",
    "600",
    out="outcomes_ledger.json",
)
def test_outcomes_benchmark_at_a_tiny_size(own_process: Finished) -> None:
    r = own_process.results()
    events = r["events_published"]
    assert r["complete"] is True and r["hashes_equal"] is True and events > 5 * REFERRALS
    assert r["ingest_ledger_rows"] == events and r["ingest_events_per_s"] > 0
    assert r["rebuild_events"] == events and r["rebuild_events_per_s"] > 0
    for phase in ("ingest_cpu_us_per_event", "rebuild_cpu_us_per_event"):
        assert set(r[phase]) >= {"outcomes", "postgres", "kafka"} and r[phase]["outcomes"] > 0, phase
    activity = r["ingest_postgres_activity"]
    assert activity["samples"] > 0 and 0 <= activity["share_waiting_for_referral_locks"] <= 1
    assert r["postgres"]["deadlocks_detected"] == 0
    assert r["raw"]["kafka_consume"]["records"] == events and r["raw"]["postgres_copy"]["rows"] > 0
