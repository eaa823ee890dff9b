"""bench/pipeline.py keeps working: run at a tiny size, as a process of its own (its own stack
on free ports, like a person running it by hand), and check that its results file holds every
figure with a sane value. The full-size run is by hand (docs/performance.md)."""

from __future__ import annotations

import pytest

from tests.e2e.own_processes import Finished

SERVICES = ("intake", "routing", "employer_gateway", "outcomes")
REFERRALS, OPENINGS, RATE, SECONDS = 300, 50, 100, 3


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.timeout(900)  # a stack of its own; the 2-core machine may be shared by other test runs
@pytest.mark.own_process(
    "bench/pipeline.py",
    "--small",
    "--referrals",
    str(REFERRALS),
    "--openings",
    str(OPENINGS),
    "--offered-rate",
    str(RATE),
    "--offered-seconds",
    str(SECONDS),
    out="pipeline.json",
)
def test_pipeline_benchmark_at_a_tiny_size(own_process: Finished) -> None:
    r = own_process.results()
    assert r["complete"] is True and "failure" not in r
    assert (r["referrals"], r["openings"]) == (REFERRALS, OPENINGS)

    kafka, copy = r["raw"]["kafka"], r["raw"]["postgres_copy"]
    assert kafka["record_bytes"] == 700
    assert kafka["records"] == copy["rows"] == 5000
    for figure in (kafka["produce_per_s"], kafka["consume_per_s"], kafka["round_trip_per_s"], copy["rows_per_s"]):
        assert figure > 0
    assert kafka["round_trip_per_s"] < min(kafka["produce_per_s"], kafka["consume_per_s"])

    assert r["openings_setup"]["openings"] == OPENINGS and r["openings_setup"]["slots"] >= OPENINGS

    p = r["pipeline"]
    assert p["import"]["accepted"] == p["accepted"] == REFERRALS  # every CSV row arrived
    assert p["import"]["rejected"] == p["import"]["duplicates"] == 0
    assert p["outcomes_decisions_exact"] == REFERRALS  # every one projected, checked by an exact count
    assert p["routed"] + p["unmatched"] == REFERRALS
    assert p["routed"] > 0  # the openings are built to fit the sample people
    stages = p["stages"]
    assert set(stages) == set(SERVICES)
    assert stages["employer_gateway"]["items"] == p["routed"]
    for name, stage in stages.items():
        assert stage["seconds"] > 0 and stage["referrals_per_s"] > 0, name
        assert stage["rows"] == stage["items"], name  # rows the database holds for the stage
    assert p["seconds"] == max(s["seconds"] for s in stages.values())
    assert p["referrals_per_s"] == pytest.approx(REFERRALS / p["seconds"], rel=0.01)
    assert set(p["cpu_seconds"]) >= {*SERVICES, "kafka", "postgres", "bench"}
    assert all(p["cpu_seconds"][s] > 0 for s in SERVICES)
    # idle CPU measured before the import (consume loops' empty fetches, relays' polls), and the
    # stage's CPU less it: never more than the stage's own
    idle = p["idle_cpu_percent_of_a_core"]
    assert set(idle) == set(p["cpu_seconds"]) and idle["kafka"] > 0 and all(v >= 0 for v in idle.values())
    above, whole = p["cpu_ms_per_referral_above_idle"], p["cpu_ms_per_referral"]
    assert set(above) == set(whole) and all(above[k] <= whole[k] for k in whole)
    assert p["timeline"] and p["timeline"][-1]["outcomes"] == REFERRALS

    lat = r["offered_load"]
    assert lat["requests"] == RATE * SECONDS
    assert lat["accepted"] == lat["requests"] and not lat["errors"]
    assert lat["arrived_in_ledger"] == lat["accepted"]
    for key in ("submit_to_ledger_ms", "sent_to_ledger_ms", "api_answer_ms"):
        assert 0 < lat[key]["p50"] <= lat[key]["p99"] <= lat[key]["max"], key
    assert (
        lat["submit_to_ledger_ms"]["p50"] >= lat["sent_to_ledger_ms"]["p50"]
    )  # a request is sent at or after its time
    # the single-request path's CPU, apart from the pipeline stage's
    assert set(lat["cpu_ms_per_referral"]) == set(p["cpu_seconds"]) and all(lat["cpu_seconds"][s] > 0 for s in SERVICES)

    assert 0 < r["ratio_pipeline_to_raw_round_trip"] < 1
    # every service the network starts (support too, which the referrals' stages do not wait for)
    assert set(r["peak_rss_mb"]) >= set(SERVICES) and all(mb > 20 for mb in r["peak_rss_mb"].values())
    assert len(r["load_avg"]["start"]) == len(r["load_avg"]["end"]) == 3
    assert r["machine"]["cpus"] >= 1 and r["source"]["commit"]
