"""How many processes a rebuild starts by default (`rebuild.default_workers`): a worker imports
the service anew, so a short history is rebuilt in the calling process alone."""

from services.outcomes.rebuild import RECORDS_PER_WORKER, default_workers


def test_a_short_history_is_rebuilt_in_one_process() -> None:
    assert default_workers(0, 2) == 1
    assert default_workers(29_407, 2) == 1  # the benchmark's 3,000 referrals
    assert default_workers(2 * RECORDS_PER_WORKER - 1, 8) == 1


def test_a_long_history_takes_a_worker_per_cpu_at_most() -> None:
    assert default_workers(99_726, 2) == 2  # the benchmark's 10,000 referrals
    assert default_workers(1_012_589, 2) == 2  # its full size
    assert default_workers(1_012_589, 8) == 8
    assert default_workers(3 * RECORDS_PER_WORKER, 8) == 3
    assert default_workers(10**9, 8) == 8
    assert default_workers(10**9, 1) == 1
