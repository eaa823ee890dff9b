"""The Miami dataset (tests/support/miami.py) holds Miami's four numbers, is the same for the
same seed, and is one the network can take: ids unique, every enrollment valid as intake reads
it, fair share respected, dates before today."""

from __future__ import annotations

import math
from collections import Counter
from datetime import date

import pytest

from services.intake.training import validate_training
from tests.support import miami
from tests.support.miami import Fate

pytestmark = pytest.mark.unit


def test_the_year_has_miamis_four_numbers() -> None:
    y = miami.year("u")
    lines = miami.pipeline_lines(y.participants)
    assert lines[("training", "enrolled")] == len(y.participants) == miami.ENROLLED == 551
    assert lines[("training", "completed_training")] == miami.COMPLETED == 137
    assert lines[("placed_by_type", "internship")] == miami.INTERNS == 47
    assert lines[("placed_by_type", "full_time")] == miami.FULL_TIME == 4
    # Several providers, several programs each; every enrollment is one person's.
    assert len(y.providers) == 3 and len(y.programs) == 6
    assert Counter(p.provider.key for p in y.programs)["biscayne-state-college"] == 3
    assert len({p.email for p in y.participants}) == len({p.external_id for p in y.participants}) == 551
    # Stages are cumulative and every kind of exit is there.
    stages = [lines[("jobs", s)] for s in miami.STAGES]
    assert stages == sorted(stages, reverse=True) and stages[0] == 70 and stages[-3] == 49
    assert Counter(p.referral.fate for p in y.referred()) == miami.FATES
    assert {p.status for p in y.participants} == {"enrolled", "completed", "exited"}


def test_the_same_seed_gives_the_same_year_and_the_run_only_renames() -> None:
    a, b, c = miami.year("r1"), miami.year("r1"), miami.year("r2")
    assert a == b
    assert a != c and a.participants[0].email != c.participants[0].email
    shape = [
        (p.program.key, p.status, p.enrolled_on, p.ended_on, p.credential_on, p.referral and p.referral.fate)
        for p in a.participants
    ]
    assert shape == [
        (p.program.key, p.status, p.enrolled_on, p.ended_on, p.credential_on, p.referral and p.referral.fate)
        for p in c.participants
    ]
    assert miami.year("r1", seed=7) != a


def test_only_people_who_completed_are_placed_and_leavers_are_referred_too() -> None:
    y = miami.year("u")
    placed = [p for p in y.referred() if p.referral.fate in miami.PLACED]
    assert placed and all(p.status == "completed" for p in placed)
    assert sum(p.status == "exited" for p in y.referred()) == miami.EXITED_REFERRED
    assert all((p.referral.opening is None) == (p.referral.fate is Fate.unmatched) for p in y.referred())
    assert all(p.referral.opening.employment_type == "full_time" for p in y.referred() if p.referral.fate is Fate.hired)


def test_every_enrollment_is_valid_as_intake_reads_it_and_dated_in_the_past() -> None:
    y = miami.year("u")
    for p in y.participants:
        record = validate_training(p.enrollment())
        assert record.status == p.status and record.program_id == p.program.id
        assert (p.ended_on or p.enrolled_on) < date(2026, 12, 1) and p.start_date() < date(2026, 10, 1)
    assert set(y.participants[0].csv_row()) == set(miami.TRAINING_CSV_COLUMNS)


def test_no_provider_takes_more_than_half_an_opening() -> None:
    """Routing's fair share while an opening is young: one partner, at most half its slots."""
    y = miami.year("u")
    sent = Counter((p.provider.id, p.referral.opening) for p in y.referred() if p.referral.opening)
    assert all(n <= math.ceil(opening.capacity * 0.5) for (_, opening), n in sent.items())


def test_transparency_counts_are_over_consenting_referrals_with_demographics() -> None:
    y = miami.year("u")
    counted = [p for p in y.referred() if p.referral.aggregate_consent and p.referral.demographics]
    assert 0 < len(counted) < len(y.referred())
    for dimension in miami.TRANSPARENCY:
        grid = miami.transparency_counts(y.participants, dimension)
        assert sum(a + b for a, b in grid) == len(counted)
        assert sum(a for a, _ in grid) == sum(p.referral.fate in miami.PLACED for p in counted)


def test_services_are_asked_by_each_provider_and_mostly_delivered() -> None:
    y = miami.year("u")
    served = y.served()
    summary = miami.services_summary(y.participants)
    assert (summary["requests"], summary["status"]["delivered"], summary["status"]["declined"]) == (40, 30, 4)
    assert summary["settled"] == 34 and summary["fulfilment_rate"] == 0.8824
    assert {s.service.service_type for s in served} == set(miami.SERVICE_TYPES)
    assert all((p.service.amount is None) == (p.service.service_type == "technology") for p in served)
    for provider in y.providers:
        mine = y.served(provider)
        assert Counter(p.service.outcome for p in mine) == miami.SERVICE_OUTCOMES[provider.key]
        # The hub enrolls through the API and names people by enrollment; the others by their referral.
        assert {p.service.by for p in mine} == {"enrollment" if provider.entry is miami.Entry.api else "referral"}
        assert all(p.referral for p in mine if p.service.by == "referral")
    hub = miami.services_outcomes(y.of(y.providers[2]))
    assert hub["received"]["people"] == 18 and hub["not_received"]["people"] == 82
