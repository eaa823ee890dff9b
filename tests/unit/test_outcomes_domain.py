import itertools

import pytest

from services.outcomes.domain import anomalies, partner_status, stages_reached

pytestmark = pytest.mark.unit


def test_placement_implies_acknowledged_and_routed_even_if_they_arrive_later():
    assert stages_reached(["placed"]) == ["referred", "routed", "acknowledged", "placed"]


def test_stages_do_not_depend_on_arrival_order():
    facts = ["submitted", "routed", "acknowledged", "interview_scheduled", "placed"]
    results = {tuple(stages_reached(p)) for p in itertools.permutations(facts)}
    assert results == {("referred", "routed", "acknowledged", "interviewed", "placed")}


def test_unmatched_is_an_exit_not_a_funnel_stage():
    assert stages_reached(["submitted", "unmatched"]) == ["referred", "unmatched"]


@pytest.mark.parametrize(
    "facts, status",
    [
        (["submitted"], "submitted"),
        (["submitted", "routed"], "in_review"),
        (["submitted", "unmatched"], "not_matched"),
        (["routed", "declined"], "declined"),
        (["routed", "interview_scheduled"], "interviewing"),
        (["acknowledged", "placed"], "hired"),
    ],
)
def test_partner_status(facts, status):
    assert partner_status(facts) == status


def test_forbidden_combinations_are_flagged():
    assert anomalies(["declined", "placed"]) == ["placement reported for a declined referral"]
    assert anomalies(["routed", "acknowledged", "placed"]) == []
