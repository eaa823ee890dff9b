"""bench/gateway_load.py keeps working: run at a tiny size as a process of its own (its own stack
on free ports), and check that its results file holds the load's figures and the raw limit
measured beside them. The full-size run is by hand."""

from __future__ import annotations

import pytest

from tests.e2e.own_processes import Finished

REFERRALS = 40


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.timeout(900)  # a stack of its own; the 2-core machine may be shared by other test runs
@pytest.mark.own_process(
    "bench/gateway_load.py",
    "--referrals",
    str(REFERRALS),
    "--concurrency",
    "8",
    "--raw-seconds",
    "2",
    "--timeout",
    "600",
    out="gateway_load.json",
)
def test_gateway_benchmark_at_a_tiny_size(own_process: Finished) -> None:
    r = own_process.results()
    assert r["complete"] is True and r["errors"] == 0
    assert r["accepted_actions"] == 5 * REFERRALS and r["events_match_accepted"] is True
    assert r["requests"] >= 5 * REFERRALS and r["requests_per_s"] > 0
    assert r["gateway_cpu_ms_per_request"] > 0
    # What a request costs the gateway and PostgreSQL, and what applying one routed event does.
    assert r["cpu_ms_per_request_by_process"]["gateway"] > 0 and "postgres" in r["cpu_ms_per_request_by_process"]
    seeding = r["seeding"]
    # Applying 40 routed events can cost the gateway less than the kernel's 10 ms CPU accounting
    # tick (it read 0.0 in a fresh-clone run): at this size the figure is there, not above zero.
    assert (
        seeding["cpu_ms_per_event_by_process"]["gateway"] >= 0 and "postgres" in seeding["cpu_ms_per_event_by_process"]
    )
    assert seeding["referrals_per_s"] > 0 and seeding["in_inbox_seconds"] >= seeding["publish_seconds"]
    assert r["client"]["http"] == "lean"
    assert set(r["server_stack"]) == {"loop", "http"}

    raw = r["raw_limit"]
    assert raw["requests"] > 0 and raw["errors"] == 0 and raw["server_cpu_ms_per_request"] > 0
    assert raw["asyncpg_select_1"]["one_connection_per_s"] > 0
    assert r["gateway_to_raw"] == pytest.approx(r["requests_per_s"] / raw["requests_per_s"], rel=0.01)
