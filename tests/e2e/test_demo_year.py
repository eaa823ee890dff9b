"""The demo's program year on the real network: the same seed gives the same funnel.

Two runs of `talentloop.demo.run` (10 referrals, seed 79) on the session's network, one after the
other on the same ledger, each a simulated year on the services' clock file: the same
counts in every stage this run, the same coalition funnel from training (participants
enrolled by the API and by CSV, completers referred and placed), the same supportive-service
requests answered by a community organisation, days between stages, people
retained at 90 days, and referrals that went stale because the employer answered after the
business-day limit.

A run's time is mostly its simulated days (each waits for the network to settle), so the
seed is one whose year has every part the assertions need in few days: 21 days (3 of them
training reports, 1 a service delivered) with participants enrolled by the API and by CSV,
completers with and without a credential and an exit, two supportive-service requests (one
declined, one delivered), referrals by CSV, webhook and Kafka, one answered after the stale
limit, declines routed again, completers placed, an intern converted to full time, and 90-day
check-ins.
"""

from __future__ import annotations

import time

import httpx
import pytest

from plumbing.operations import Operations
from talentloop import demo
from talentloop.network import NetworkConfig
from tests.e2e.helpers import RunningNetwork

pytestmark = pytest.mark.slow

REFERRALS, SEED = 10, 79


async def test_the_same_seed_plays_the_same_year(running_network: RunningNetwork, network_config: NetworkConfig):
    t0 = time.monotonic()
    net = running_network.network
    assert net.clock_file is not None
    async with Operations(net.bootstrap, net.database_url, net.urls) as ops:
        groups = {g: topics for g, (_, topics, _, _) in (await ops.groups()).items()}
    forge = net.kafka_principals.get("partner:forge-coding-bootcamp")
    today = demo.last_played_day()
    async with demo.LagReader(net.bootstrap, groups) as lag:
        runs = [
            # One `today` for both: runs on either side of a day's DAY_TIME would play different years.
            await demo.run(net.urls, running_network.keys, REFERRALS, SEED, net.bootstrap, forge,
                           clock_file=net.clock_file, lag=lag, state_dir=network_config.home, today=today)
            for _ in range(2)
        ]
        # The demo's openings (thousands of slots) would take the next tests' referrals.
        async with httpx.AsyncClient(timeout=30.0) as http:
            net_view = demo.Network(http, net.urls, running_network.keys, net.clock_file, lag)
            assert await net_view.close_openings() == 6
    first, second = runs
    assert first.run_id != second.run_id  # new people and idempotency keys, the same fates
    assert first.matches and second.matches, (first.funnel["since_start"], first.tally.counts)
    assert first.funnel["since_start"] == second.funnel["since_start"]
    # The coalition funnel from training: the same people enrolled, completed, were referred and placed.
    assert first.funnel["pipeline_since_start"] == second.funnel["pipeline_since_start"]
    trained = first.funnel["pipeline_since_start"]["people"]
    assert trained["training"]["enrolled"] > trained["training"]["completed_training"] > 0
    assert trained["training"]["credential_earned"] > 0 and trained["jobs"]["placed"] > 0
    assert trained["placed_by_type"]["internship"] > 0
    # An intern hired full time at the same employer (the ledger's placed_by_type agrees: `matches`).
    assert ["internship", "full_time"] in first.tally.employment_types.values()
    # Supportive services: the bootcamp's requests, one declined, the other delivered (the report agrees: `matches`).
    assert first.services_since_start == second.services_since_start
    assert first.services_since_start["status"]["declined"] == 1
    assert first.services_since_start["status"]["delivered"] >= 1
    funnel = first.funnel["since_start"]["referrals"]
    assert funnel["stages"]["referred"] == REFERRALS and funnel["stages"]["placed"] > 0
    assert funnel["stages"]["retained_90_days"] > 0
    assert sum(funnel["outcomes"].values()) == REFERRALS
    assert first.stale == second.stale == first.tally.stale > 0
    spans = {(m["from"], m["to"]): m["median_days"] for m in first.median_days if m["records"]}
    assert spans[("referred", "placed")] > 0 and spans[("routed", "acknowledged")] > 0
    assert spans[("placed", "retained_90_days")] >= 90
    # After the second run its month holds both runs' referrals: twice the records, the same medians.
    assert spans == {(m["from"], m["to"]): m["median_days"] for m in second.median_days if m["records"]}
    assert not net.clock_file.exists()  # the system clock again for the tests after this one
    print(f"two demo years in {time.monotonic() - t0:.1f}s: "
          + ", ".join(f"{r.seconds:.1f}s ({r.settle_s:.1f}s settling, {r.days} days)" for r in runs))
