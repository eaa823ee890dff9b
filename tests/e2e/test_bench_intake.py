"""Intake's benchmarks keep working: bench/intake_import.py (a CSV import) and
bench/intake_api_load.py (single referrals under an offered load), each run at a tiny size
as a process of its own (its own stack on free ports), their results checked figure by
figure. The full-size runs are by hand (docs/performance.md)."""

from __future__ import annotations

import pytest

from tests.e2e.own_processes import Finished


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.timeout(900)  # a stack of its own; the 2-core machine may be shared by other test runs
@pytest.mark.own_process("bench/intake_import.py", "--rows", "300", out="intake_import.json")
def test_csv_import_benchmark_at_a_tiny_size(own_process: Finished) -> None:
    r = own_process.results()
    assert r["rows"] == 300 and r["accepted"] == 300 and r["rejected"] == 0 and r["duplicates"] == 0
    assert r["events_published"] >= 300
    assert r["rows_per_s"] > 0 and r["import_rows_per_s"] >= r["rows_per_s"]
    assert r["intake_peak_rss_mb"] > 0
    assert set(r["cpu_ms_per_row"]) >= {"intake", "intake_process", "postgres", "kafka"}
    # With its worker, and alone; read a moment apart, so alone may be a kernel tick (10 ms) ahead.
    tick_ms_per_row = 2 * 10.0 / r["rows"]
    assert r["cpu_ms_per_row"]["intake"] + tick_ms_per_row >= r["cpu_ms_per_row"]["intake_process"] > 0
    assert all(us > 0 for us in r["yardstick_translate_us_per_row"])


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.timeout(900)
@pytest.mark.own_process(
    "bench/intake_api_load.py", "--rate", "50", "--seconds", "2", "--bare-seconds", "1", out="intake_api_load.json"
)
def test_api_load_benchmark_at_a_tiny_size(own_process: Finished) -> None:
    r = own_process.results()
    assert r["offered"] == 100 and r["accepted"] == 100 and r["errors"] == {} and r["not_sent"] == 0
    assert r["answered_per_s"] > 0
    latency = r["answer_ms_from_sent"]
    assert 0 < latency["p50"] <= latency["p99"] <= latency["max"]
    assert r["cpu_ms_per_request"]["intake"] > 0 and "postgres" in r["cpu_ms_per_request"]
    assert r["intake_peak_rss_mb"] > 0
    assert r["bare_app"]["accepted"] == 50 and r["bare_app"]["errors"] == {} and r["bare_app"]["cpu_ms_per_request"] > 0
    assert r["intake_to_bare_cpu"] > 0
