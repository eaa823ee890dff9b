"""The whole path of issue 15 through the running services, on real Kafka and PostgreSQL: a
training provider's CSV of completions (Riverbend's registrar, its training adapter), another
partner's referral of a completer (Northside; the same contact, so intake knows them as the same
person), routing, an internship placement, its conversion to full time, and a raise at the
90-day check-in. An operator's journey of the person shows every step in order; the referring
partner hears back (`referral.status_changed`, GET /v1/partner/referrals) and so does the
training provider, whose participant let it hear what came of them (`participant.status_changed`,
GET /v1/partner/participants), each with a wage band, never the wage. The referring partner
also asks a community organisation (support's directory) for bus fare for the person, which is
delivered: it hears each status (`service.status_changed`, GET /v1/partner/service-requests) and
the journey shows the request. Then a rebuild from offset 0 is hash-equal."""

from __future__ import annotations

import contextlib
import uuid
from datetime import date, timedelta
from typing import Any

from contracts import Envelope, topics
from services.outcomes import rebuild
from talentloop import samples
from tests.e2e.helpers import (
    OPERATOR,
    Api,
    business_today,
    opening_body,
    poll,
    referral_body,
    unique,
    utc_today,
)
from tests.e2e.test_outcomes_rebuild import live_hash
from tests.kafka_helpers import read_topic

PROVIDER = "riverbend-community-college"  # its training CSV adapter
PARTNER = "northside-tech-collective"
EMPLOYER = "civic-data-labs"
COMMUNITY = "forge-coding-bootcamp"  # here a service provider in support's directory


async def bus_fare(api: Api, referral: str) -> str:
    """The referring partner asks the community organisation for transportation for the person it
    referred; the organisation accepts and delivers. Returns the request id."""
    r = await api.http.post(api.url("support", "/v1/service-provider"),
                            json={"name": "Forge Rides", "service_types": ["transportation", "technology"]},
                            headers=api.net.auth(f"partner:{COMMUNITY}"))
    assert r.status_code in (200, 201), r.text
    body = {"provider_id": COMMUNITY, "service_type": "transportation", "referral_id": referral,
            "reason": "Bus fare for the first weeks", "amount_requested": {"amount": "60.00"}}

    async def asked() -> str | None:  # support learns whose referral it is from talentloop.referrals
        r = await api.http.post(api.url("support", "/v1/service-requests"), json=body,
                                headers={**api.net.auth(f"partner:{PARTNER}"), "Idempotency-Key": f"fare-{referral}"})
        if r.status_code == 404:
            return None
        assert r.status_code == 201, r.text
        return r.json()["request_id"]

    request_id = await poll("the service request", asked)
    provider = api.net.auth(f"partner:{COMMUNITY}")
    for action, step in (("accept", None), ("deliver", {"delivered_on": business_today().isoformat(),
                                                       "value": {"amount": "55.00"}})):
        r = await api.http.post(api.url("support", f"/v1/service-requests/{request_id}/{action}"), json=step,
                                headers=provider)
        assert r.status_code == 200, f"{action}: {r.text}"
    return request_id


async def register_and_complete(api: Api, person: samples.Person, program_id: str, enrollment: str) -> None:
    """The provider's program, then its registrar's CSV: the person completed it with a credential
    and released their outcomes to the college (OUTCOME_RELEASE=Y)."""
    program = {"program_id": program_id, "name": "IT Support", "modality": "in_person", "length_weeks": 16,
               "cost_to_participant": {"amount": "0"}, "funding_sources": ["wioa"]}
    r = await api.http.post(api.url("intake", "/v1/programs"), json=program, headers=api.net.auth(f"partner:{PROVIDER}"))
    assert r.status_code == 201, r.text
    done = date.today() - timedelta(days=130)
    record = {"program_id": program_id, "status": "completed", "enrolled_on": (done - timedelta(days=112)).isoformat(),
              "completed_on": done.isoformat(),
              "credentials": [{"name": "CompTIA A+", "awarded_on": done.isoformat()}],
              "consent": {"aggregate_reports": True, "share_outcomes_with_provider": True,
                          "given_at": f"{(done - timedelta(days=112)).isoformat()}T00:00:00Z"}}
    text = samples.csv_text(samples.RIVERBEND_TRAINING_COLUMNS, [samples.riverbend_training_row(person, record, enrollment)])
    r = await api.http.post(api.url("intake", "/v1/imports/training"),
                            files={"file": ("term.csv", text.encode(), "text/csv")},
                            headers=api.net.auth(f"partner:{PROVIDER}"))
    assert r.status_code == 201 and r.json()["accepted"] == 1, r.text


async def as_partner(api: Api, partner: str, path: str) -> dict[str, Any]:
    r = await api.http.get(api.url("outcomes", path), headers=api.net.auth(f"partner:{partner}"))
    assert r.status_code == 200, r.text
    return r.json()


async def told(api: Api, key: str, event_type: str, status: str) -> list[Envelope]:
    """The closed loop's events about `key` on talentloop.partner-status, once one tells `status`."""
    async def arrived() -> list[Envelope] | None:
        records = await read_topic(api.net.bootstrap, topics.PARTNER_STATUS.name)
        found = [Envelope.from_bytes(r.value) for r in records if r.key == key.encode()]
        found = [e for e in found if e.type == event_type]
        return found if any(e.data["status"] == status for e in found) else None

    return await poll(f"{event_type} about {key}: {status}", arrived)


async def test_a_completer_referred_placed_converted_and_raised_and_everyone_hears_back(api: Api, stack) -> None:  # type: ignore[no-untyped-def]
    run = uuid.uuid4().hex[:8]
    person = samples.person(1, run=f"tp{run}")
    program_id, enrollment_ref = f"RCC-TP-{run}", f"TP-{run}"
    await register_and_complete(api, person, program_id, enrollment_ref)

    skill = unique("tp")
    opening = await api.open_opening(EMPLOYER, {**opening_body([skill], capacity=2), "employment_type": "internship"})
    body = referral_body([skill]) | {"candidate": {"given_name": person.given, "family_name": person.family,
                                                   "email": person.email}}
    referral = await api.refer(PARTNER, body)
    await api.wait_in_inbox(EMPLOYER, referral, opening)

    start = date.today() - timedelta(days=100)
    internship = {"job_title": "IT Support Intern", "onet_soc_code": "15-1232.00", "employment_type": "internship",
                  "wage": {"amount": "18.00", "unit": "hour"}, "hours_per_week": 20, "start_date": start.isoformat(),
                  "end_date": (start + timedelta(days=90)).isoformat()}
    full_time = {"converted_on": (start + timedelta(days=60)).isoformat(), "job_title": "IT Support Specialist",
                 "onet_soc_code": "15-1232.00", "employment_type": "full_time",
                 "wage": {"amount": "22.00", "unit": "hour"}, "hours_per_week": 40,
                 "benefits": {"health": True, "paid_leave": True}}
    check_in = {"milestone_days": 90, "still_employed": True, "checked_on": utc_today().isoformat(),
                "wage": {"amount": "24.00", "unit": "hour"}}
    for action, step in (("acknowledge", None), ("placement", internship), ("conversion", full_time),
                         ("retention", check_in)):
        r = await api.act(EMPLOYER, referral, action, step, headers={"Idempotency-Key": f"{referral}-{action}"})
        assert r.status_code == 200, f"{action}: {r.text}"
    seen = await api.wait_timeline(referral, lambda t: t["status"] == "retained_90_days", "retained 90 days")
    request_id = await bus_fare(api, referral)

    # The operator's journey of the person: the training, then the referral, every step in order.
    candidate = next(e["data"]["candidate_id"] for e in seen["events"] if e["type"].startswith("referral.submitted"))
    steps = ["training.enrolled", "training.completed", "credential.earned", "referral.submitted", "referral.routed",
             "referral.acknowledged", "placement.reported", "placement.converted", "retention.checked"]

    async def journey() -> dict[str, Any] | None:
        r = await api.http.get(api.url("outcomes", f"/v1/people/{candidate}/journey"), headers=api.net.auth(OPERATOR))
        assert r.status_code == 200, r.text
        found = r.json()
        return found if {e["type"].rsplit(".", 1)[0] for e in found["events"]} >= {*steps, "service.delivered"} else None

    whole = await poll("the person's whole journey", journey)
    assert [e["enrollment_id"] for e in whole["enrollments"]] and [r["referral_id"] for r in whole["referrals"]] == [
        referral]
    (enrollment,) = whole["enrollments"]
    assert (enrollment["provider_id"], enrollment["status"]) == (PROVIDER, "completed")
    order = [e["type"].rsplit(".", 1)[0] for e in whole["events"] if e["type"].rsplit(".", 1)[0] in steps]
    # The registrar's row reports completion and credential together (one time: arrival order);
    # everything of the training comes before the referral, whose steps come in their order.
    assert order[0] == steps[0] and set(order[1:3]) == set(steps[1:3]) and order[3:] == steps[3:], order
    times = [e["occurred_at"] for e in whole["events"]]
    assert times == sorted(times)
    assert {e["kind"] for e in whole["events"]} == {"enrollment", "referral", "service_request"}
    (fare,) = whole["service_requests"]
    assert (fare["request_id"], fare["requester_id"], fare["referral_id"], fare["status"]) == (
        request_id, PARTNER, referral, "delivered")
    assert [e["type"].rsplit(".", 1)[0] for e in whole["events"] if e["kind"] == "service_request"] == [
        "service.requested", "service.accepted", "service.delivered"]
    r = await api.http.get(api.url("outcomes", f"/v1/people/{candidate}/journey"),
                           headers=api.net.auth(f"partner:{PARTNER}"))
    assert r.status_code == 403  # operators only

    # The referring partner hears back...
    mine = (await as_partner(api, PARTNER, "/v1/partner/referrals?status=retained_90_days"))["items"]
    assert referral in {i["referral_id"] for i in mine}
    heard = await told(api, referral, "referral.status_changed.v1", "retained_90_days")
    assert {e.data["partner_id"] for e in heard} == {PARTNER}
    # It hears of its service request too...
    fares = await told(api, request_id, "service.status_changed.v1", "delivered")
    # Each change once, each from the status told before (events outcomes applies in one batch
    # make one change, as a referral's do), ending delivered.
    statuses = [e.data["status"] for e in fares]
    assert [e.data["previous_status"] for e in fares] == [None, *statuses[:-1]]
    assert statuses[-1] == "delivered" and statuses == [s for s in ("requested", "accepted", "delivered") if s in statuses]
    assert fares[-1].data["detail"]["value"] == {"amount": "55.00", "currency": "USD"}
    listed = (await as_partner(api, PARTNER, "/v1/partner/service-requests?status=delivered"))["items"]
    assert request_id in {i["request_id"] for i in listed}
    # ...and so does the training provider, about its enrollment, with the same band.
    eid = enrollment["enrollment_id"]
    provider_heard = await told(api, eid, "participant.status_changed.v1", "retained_90_days")
    assert {(e.data["referral_id"], e.data["partner_id"], e.data["program_id"]) for e in provider_heard} == {
        (referral, PROVIDER, program_id)}
    # Enrolled before the referral: the provider hears each change the referring partner hears, once.
    assert [(e.data["previous_status"], e.data["status"], e.data["detail"]) for e in provider_heard] == [
        (e.data["previous_status"], e.data["status"], e.data["detail"]) for e in heard]

    async def retained_for_provider() -> dict[str, Any] | None:
        page = await as_partner(api, PROVIDER, "/v1/partner/participants?status=retained_90_days")
        return next((i for i in page["items"] if i["enrollment_id"] == eid), None)

    participant = await poll("the provider's participant retained", retained_for_provider)
    (theirs,) = participant["referrals"]
    assert (theirs["referral_id"], theirs["status"], theirs["detail"]["employment_type"]) == (
        referral, "retained_90_days", "full_time")
    assert theirs["detail"]["wage_band"] == "$20-25/hour" and "wage" not in theirs["detail"]

    # Rebuilt from offset 0, the ledger and every projection equal the live ones.
    result = await rebuild.rebuild(api.net.bootstrap, stack.database_url, schema="outcomes_rebuild_training",
                                   batch=500, workers=1)
    async def live_equal_to_rebuilt() -> dict[str, str] | None:  # the live consumers may still be applying
        live = await live_hash(stack.database_url)
        return live if live == result.hashes["rebuilt"] else None

    if not result.equal:
        with contextlib.suppress(TimeoutError):  # then the assertion below shows both
            result.hashes["live"] = await poll("the live projections equal the rebuilt", live_equal_to_rebuilt)
    assert result.hashes["rebuilt"] == result.hashes["live"], result.as_dict()
    assert {"enrollment_facts", "service_requests"} <= set(result.hashes["live"])
