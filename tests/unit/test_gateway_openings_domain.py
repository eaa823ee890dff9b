"""An employer's opening in the gateway's domain: open until closed or filled; updates only while open."""

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from contracts import events
from services.employer_gateway.domain import (
    CapacityBelowRouted,
    InvalidTransition,
    Opening,
    OpeningState,
    close_opening,
    update_opening,
)

pytestmark = pytest.mark.unit
AT = datetime(2026, 12, 1, 15, tzinfo=UTC)
CLOSED = events.OpeningCloseReason.closed
FILLED = events.OpeningCloseReason.filled


def opening(state: OpeningState = OpeningState.open, capacity: int = 3) -> Opening:
    posting = events.OpeningUpdatedV1(
        opening_id="opn", employer_id="emp", title="Dev", onet_soc_code="15-1252.00", required_skills=["python"],
        preferred_skills=["docker"], capacity=capacity, wage=events.Wage(amount="25", unit="hour"),
        location="Bronx, NY",
        required_credentials=[events.CredentialRequirement(name="OSHA 10")],
        degree_required=events.DegreeLevel.associate,
    )
    return Opening(posting, state)


def test_an_update_changes_only_the_given_fields_and_carries_the_whole_posting():
    before = opening()
    after, event = update_opening(before, {"title": "Senior Dev", "degree_required": None}, routed=0)
    assert event.event_type == "opening.updated.v1" and event.subject() == "opn"
    assert event.title == "Senior Dev" and event.degree_required is None
    assert event.model_dump(exclude={"title", "degree_required"}) == before.posting.model_dump(
        exclude={"title", "degree_required"}
    )
    assert after.posting == event and after.state is OpeningState.open
    assert before.posting.title == "Dev"  # pure: the opening given is not changed


def test_an_update_validates_the_resulting_posting_and_refuses_ids_or_unknown_fields():
    with pytest.raises(ValidationError):
        update_opening(opening(), {"required_skills": []}, routed=0)
    for field in ("opening_id", "employer_id", "state"):
        with pytest.raises(ValueError, match=field):
            update_opening(opening(), {field: "x"}, routed=0)


@pytest.mark.parametrize("state", [OpeningState.closed, OpeningState.filled])
def test_a_closed_or_filled_opening_cannot_be_updated_or_closed_again(state):
    for action in (lambda o: update_opening(o, {"title": "x"}, routed=0), lambda o: close_opening(o, FILLED, AT)):
        with pytest.raises(InvalidTransition, match=f"an opening that is {state.value}") as err:
            action(opening(state))
        assert err.value.current is state


@pytest.mark.parametrize(("reason", "state"), [(CLOSED, OpeningState.closed), (FILLED, OpeningState.filled)])
def test_closing_ends_in_closed_or_filled_and_says_so_once(reason, state):
    after, event = close_opening(opening(), reason, AT)
    assert after.state is state and after.closed_at == AT
    assert event == events.OpeningClosedV1(opening_id="opn", employer_id="emp", reason=reason, closed_at=AT)
    with pytest.raises(InvalidTransition) as err:
        close_opening(after, CLOSED, AT)
    assert err.value.current is state


def test_capacity_may_not_go_below_the_referrals_routed():
    with pytest.raises(CapacityBelowRouted) as err:
        update_opening(opening(capacity=3), {"capacity": 1}, routed=2)
    assert (err.value.capacity, err.value.routed) == (1, 2)
    _, event = update_opening(opening(capacity=3), {"capacity": 2}, routed=2)
    assert event.capacity == 2


def test_capacity_left_as_it_is_is_not_checked_against_the_routed_count():
    # A change that leaves the capacity alone is never refused because of it.
    _, event = update_opening(opening(capacity=1), {"title": "Renamed"}, routed=2)
    assert event.capacity == 1 and event.title == "Renamed"


def test_an_update_of_the_kind_of_job_is_checked_with_the_rest_of_the_posting():
    micro, _ = update_opening(opening(), {"employment_type": "micro_internship", "engagement_hours": 30}, routed=0)
    assert micro.posting.engagement_hours == 30
    with pytest.raises(ValidationError) as err:  # the hours belong to the micro-internship
        update_opening(micro, {"employment_type": "internship"}, routed=0)
    assert [e["loc"] for e in err.value.errors()] == [("engagement_hours",)]
    intern, event = update_opening(micro, {"employment_type": "internship", "engagement_hours": None}, routed=0)
    assert event.employment_type is events.EmploymentKind.internship and event.engagement_hours is None
    with pytest.raises(ValidationError) as err:  # unpaid, with the wage it had
        update_opening(intern, {"paid": False}, routed=0)
    assert [e["loc"] for e in err.value.errors()] == [("paid",)]
    unpaid, event = update_opening(intern, {"paid": False, "wage": {"amount": "0", "unit": "hour"}}, routed=0)
    assert event.paid is False and event.wage.amount == 0
