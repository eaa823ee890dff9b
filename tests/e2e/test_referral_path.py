"""The referral path across the four services, each a separate OS process, over HTTP and Kafka.

Every test makes its own openings with skill names nobody else uses, so no other test's
referrals compete for them and the assertions do not depend on test order.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from contracts import Envelope, latest_type, topics
from tests.e2e.helpers import OPERATOR, Api, assert_problem, opening_body, poll, referral_body, unique
from tests.kafka_helpers import read_topic

pytestmark = pytest.mark.e2e

PARTNER, OTHER_PARTNER = "forge-coding-bootcamp", "northside-tech-collective"
EMPLOYER, OTHER_EMPLOYER = "civic-data-labs", "harborview-health"

# The lifecycle of a hired referral, in the order the events happened. Intake publishes the
# newest version of referral.submitted (v2 since the contracts evolved; v1 is upcast), and the
# gateway the newest placement.reported (v2 since issue 15).
HIRED_PATH = [
    latest_type("referral.submitted.v1"),
    "referral.routed.v1",
    "referral.acknowledged.v1",
    "interview.scheduled.v1",
    "interview.completed.v1",
    latest_type("placement.reported.v1"),
]


def family(event_type: str) -> str:
    return event_type.rsplit(".", 1)[0]


def placement_body() -> dict[str, Any]:
    return {
        "job_title": "Junior Technologist",
        "onet_soc_code": "15-1252.00",
        "wage": {"amount": "32.75", "unit": "hour"},
        "hours_per_week": 40,
        "employment_type": "full_time",
        "benefits": {"health": True, "retirement": True, "paid_leave": True},
        "start_date": (date.today() + timedelta(days=14)).isoformat(),
    }


def interview_body() -> dict[str, Any]:
    return {"scheduled_for": (datetime.now(UTC) + timedelta(days=3)).isoformat(), "mode": "video"}


async def routed_referral(api: Api, employer: str, partner: str) -> tuple[str, str, dict[str, Any]]:
    """A fresh opening at `employer` and a referral from `partner` routed to it: (opening, referral, inbox item)."""
    required = [unique("req"), unique("req")]
    opening_id = await api.open_opening(employer, opening_body(required))
    referral_id = await api.refer(partner, referral_body(required))
    item = await api.wait_in_inbox(employer, referral_id, opening_id)
    return opening_id, referral_id, item


async def test_referral_from_opening_to_placement(api: Api) -> None:
    required, preferred = [unique("req"), unique("req")], [unique("pref"), unique("pref")]
    body = opening_body(required, preferred)
    opening_id = await api.open_opening(EMPLOYER, body)

    referral_id = await api.refer(PARTNER, referral_body([*required, preferred[0], "communication"]))
    assert referral_id.startswith("ref_")

    # Routing matched it to the opening; the employer's inbox shows why.
    item = await api.wait_in_inbox(EMPLOYER, referral_id, opening_id)
    assert item["opening_id"] == opening_id
    assert item["partner_id"] == PARTNER
    assert item["state"] == "routed"
    assert item["score"] == pytest.approx(0.85)  # 0.7 (all required) + 0.3 x 1 of 2 preferred
    assert sorted(item["matched_skills"]) == sorted([*required, preferred[0]])
    assert item["missing_skills"] == [preferred[1]]
    assert body["title"] in item["explanation"] and item["explanation"]

    # The employer works the referral, all over HTTP.
    r = await api.act(EMPLOYER, referral_id, "acknowledge")
    assert r.status_code == 200, r.text
    assert (r.json()["state"], r.json()["event"]["type"]) == ("acknowledged", "referral.acknowledged.v1")

    r = await api.act(EMPLOYER, referral_id, "interviews", interview_body())
    assert r.status_code == 201, r.text
    assert r.json()["state"] == "interviewing"
    interview_id = r.json()["interview_id"]

    r = await api.act(EMPLOYER, referral_id, f"interviews/{interview_id}/outcome", {"outcome": "advanced"})
    assert r.status_code == 200, r.text
    assert r.json()["event"]["type"] == "interview.completed.v1"

    r = await api.act(EMPLOYER, referral_id, "placement", placement_body())
    assert r.status_code == 200, r.text
    assert (r.json()["state"], r.json()["event"]["type"]) == ("placed", HIRED_PATH[-1])

    # Outcomes' ledger closes the loop.
    timeline = await api.wait_timeline(
        referral_id, lambda t: len(t["events"]) >= len(HIRED_PATH) and t["status"] == "hired", "hired, six events"
    )
    types = [e["type"] for e in timeline["events"]]
    assert [family(t) for t in types] == [family(t) for t in HIRED_PATH], types
    assert types == HIRED_PATH
    assert timeline["status"] == "hired"
    assert timeline["stages"] == ["referred", "routed", "acknowledged", "interviewed", "offered", "placed"]
    assert timeline["anomalies"] == []
    assert all(e["data"]["referral_id"] == referral_id for e in timeline["events"])
    routed = timeline["events"][1]["data"]
    assert (routed["opening_id"], routed["employer_id"], routed["partner_id"]) == (opening_id, EMPLOYER, PARTNER)
    completed, placed = timeline["events"][4]["data"], timeline["events"][5]["data"]
    assert (completed["interview_id"], completed["outcome"]) == (interview_id, "advanced")
    assert placed["job_title"] == "Junior Technologist" and placed["employment_type"] == "full_time"
    occurred = [e["occurred_at"] for e in timeline["events"]]
    assert [datetime.fromisoformat(t) for t in occurred] == sorted(datetime.fromisoformat(t) for t in occurred)

    # The referring partner sees the same timeline; another partner cannot tell it exists.
    r = await api.timeline(referral_id, f"partner:{PARTNER}")
    assert r.status_code == 200, r.text
    assert [e["event_id"] for e in r.json()["events"]] == [e["event_id"] for e in timeline["events"]]
    assert r.json()["status"] == "hired"
    assert_problem(await api.timeline(referral_id, f"partner:{OTHER_PARTNER}"), 404, "not-found")

    # The employer sees its own part only: everything carrying its id, not the submission.
    r = await api.timeline(referral_id, f"employer:{EMPLOYER}")
    assert r.status_code == 200, r.text
    employer_events = r.json()["events"]
    assert [e["type"] for e in employer_events] == HIRED_PATH[1:]
    assert all(e["data"]["employer_id"] == EMPLOYER for e in employer_events)
    assert not any(family(e["type"]) == "referral.submitted" for e in employer_events)
    assert_problem(await api.timeline(referral_id, f"employer:{OTHER_EMPLOYER}"), 404, "not-found")

    # Intake's record is the partner's alone; the gateway's inbox shows the final state.
    r = await api.http.get(api.url("intake", f"/v1/referrals/{referral_id}"), headers=api.net.auth(f"partner:{PARTNER}"))
    assert r.status_code == 200 and r.json()["referral_id"] == referral_id, r.text
    r = await api.http.get(api.url("intake", f"/v1/referrals/{referral_id}"),
                           headers=api.net.auth(f"partner:{OTHER_PARTNER}"))
    assert_problem(r, 404, "not-found")
    r = await api.http.get(api.url("employer_gateway", "/v1/referrals"), params={"status": "placed", "opening_id": opening_id},
                           headers=api.net.auth(f"employer:{EMPLOYER}"))
    assert r.status_code == 200, r.text
    assert [i["referral_id"] for i in r.json()["items"]] == [referral_id]


async def test_unmatched_referral_reports_missing_skills(api: Api) -> None:
    have, lack = unique("req"), unique("req")
    opening_id = await api.open_opening(OTHER_EMPLOYER, opening_body([have, lack]))
    # Covers one of the opening's two required skills (the nearest opening) and fits nothing.
    referral_id = await api.refer(PARTNER, referral_body([have, unique("other")]))

    timeline = await api.wait_timeline(referral_id, lambda t: t["status"] != "submitted", "a routing decision")
    assert timeline["status"] == "not_matched", timeline
    assert timeline["stages"] == ["referred", "unmatched"]
    unmatched = [e for e in timeline["events"] if e["type"] == "referral.unmatched.v1"]
    assert len(unmatched) == 1, timeline["events"]
    data = unmatched[0]["data"]
    assert lack in data["missing_skills"] and have not in data["missing_skills"], data
    assert data["reason"]
    nearest = {n["opening_id"]: n for n in data["nearest"]}
    assert nearest[opening_id]["missing_skills"] == [lack]
    assert data["nearest"][0]["opening_id"] == opening_id  # the only opening it covers a required skill of
    assert not any(family(e["type"]) == "referral.routed" for e in timeline["events"])


async def test_employer_state_machine_over_http(api: Api) -> None:
    employer = "bluewave-fintech"
    _, referral_id, item = await routed_referral(api, employer, PARTNER)
    assert item["state"] == "routed"

    r = await api.act(employer, referral_id, "placement", placement_body())
    doc = assert_problem(r, 409, "invalid-transition")
    assert doc["current_state"] == "routed"

    r = await api.act(employer, referral_id, f"interviews/int_{uuid.uuid4().hex}/outcome", {"outcome": "advanced"})
    assert_problem(r, 404, "not-found")

    r = await api.act(employer, referral_id, "decline", {"reason": "other"})
    assert_problem(r, 422, "validation")

    # Another employer cannot act on it; the referral is untouched by all of the above.
    assert_problem(await api.act(EMPLOYER, referral_id, "acknowledge"), 404, "not-found")
    r = await api.act(employer, referral_id, "acknowledge")
    assert r.status_code == 200 and r.json()["state"] == "acknowledged", r.text
    doc = assert_problem(await api.act(employer, referral_id, "acknowledge"), 409, "invalid-transition")
    assert doc["current_state"] == "acknowledged"


async def test_intake_input_errors(api: Api) -> None:
    url = api.url("intake", "/v1/referrals")
    good = referral_body([unique()])

    r = await api.http.post(url, json=good)
    assert_problem(r, 401, "unauthorized")
    assert r.headers.get("www-authenticate") == "Bearer"
    assert_problem(await api.http.post(url, json=good, headers={"Authorization": "Bearer tl_par_not-a-key"}), 401)

    r = await api.http.post(url, json=good, headers=api.net.auth(f"employer:{EMPLOYER}"))
    assert_problem(r, 403, "forbidden")

    bad = referral_body([])
    bad["candidate"]["email"] = "not-an-email"
    doc = assert_problem(await api.submit(PARTNER, bad), 422, "validation")
    fields = {e["field"] for e in doc["errors"]}
    assert "skills" in fields, doc
    assert "candidate.email" in fields, doc

    doc = assert_problem(await api.submit(PARTNER, referral_body([unique()], share=False)), 422, "consent-required")
    assert "consent" in doc["detail"]


async def test_idempotent_submission(api: Api) -> None:
    key = f"e2e-{uuid.uuid4().hex}"
    body = referral_body([unique()])
    first = await api.submit(PARTNER, body, {"Idempotency-Key": key})
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    again = await api.submit(PARTNER, body, {"Idempotency-Key": key})
    assert again.status_code == 201, again.text
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.json() == first.json()
    referral_id = first.json()["referral_id"]

    changed = {**body, "skills": [unique()]}
    assert_problem(await api.submit(PARTNER, changed, {"Idempotency-Key": key}), 422, "idempotency-key-reused")
    # Keys are scoped to the caller: another partner's same key is a new request.
    other = await api.submit(OTHER_PARTNER, body, {"Idempotency-Key": key})
    assert other.status_code == 201 and other.json()["referral_id"] != referral_id, other.text

    # A referral submitted after the replay; once it is on Kafka, everything before it is too
    # (the outbox relay publishes in insertion order and waits for every ack).
    sentinel = await api.refer(PARTNER, referral_body([unique()]))

    async def sentinel_published() -> list | None:
        records = await read_topic(api.net.bootstrap, topics.REFERRALS.name, timeout=5.0)
        return records if any(r.key == sentinel.encode() for r in records) else None

    records = await poll("the sentinel referral on Kafka", sentinel_published)
    ours = [Envelope.from_bytes(r.value) for r in records if r.key == referral_id.encode()]
    assert len(ours) == 1, [e.id for e in ours]
    assert family(ours[0].type) == "referral.submitted" and ours[0].subject == referral_id


async def test_funnel_is_scoped_to_the_caller(api: Api) -> None:
    partner, employer = "riverbend-community-college", "bluewave-fintech"
    _, referral_id, _ = await routed_referral(api, employer, partner)
    elsewhere = await api.refer(OTHER_PARTNER, referral_body([unique()]))
    await api.wait_timeline(referral_id, lambda t: "routed" in t["stages"], "routed")
    await api.wait_timeline(elsewhere, lambda t: t["status"] == "not_matched", "unmatched")

    operator = await api.funnel()
    assert operator["scope"] == OPERATOR and operator["definitions"] == "docs/pipeline.md"
    stages, outcomes = operator["stages"], operator["outcomes"]
    assert stages[:2] == ["referred", "routed"] and "placed" in stages
    assert {"not_matched_never_routed", "not_matched_after_decline", "declined", "placed"} <= set(outcomes)
    total = operator["total"]["referrals"]
    counts = [total["stages"][s] for s in stages]
    assert counts == sorted(counts, reverse=True) and total["stages"]["routed"] >= 1  # cumulative
    assert sum(total["outcomes"].values()) == total["stages"]["referred"]  # exclusive
    people = operator["total"]["people"]
    assert 1 <= people["stages"]["referred"] <= total["stages"]["referred"]
    assert partner in operator["by_partner"] and employer in operator["by_employer"]
    assert operator["by_partner"][partner]["referrals"]["stages"]["routed"] >= 1
    assert operator["by_employer"][employer]["referrals"]["stages"]["routed"] >= 1
    assert sum(p["referrals"]["stages"]["referred"] for p in operator["by_partner"].values()) == (
        total["stages"]["referred"])

    mine = await api.funnel(f"partner:{partner}")
    assert mine["scope"] == f"partner:{partner}"
    assert list(mine["by_partner"]) == [partner]
    assert mine["by_partner"][partner] == mine["total"]
    # other partners referred too
    assert mine["total"]["referrals"]["stages"]["referred"] < total["stages"]["referred"]
    assert mine["coalition"]["referrals"]["stages"]["referred"] >= total["stages"]["referred"]

    theirs = await api.funnel(f"employer:{employer}")
    assert list(theirs["by_employer"]) == [employer]
    assert theirs["total"]["referrals"]["stages"]["routed"] >= 1
