"""Skills-based routing across the running network: an employer's requirements and the
opening's lifecycle (gateway -> Kafka -> routing), explanations and re-routing."""

from __future__ import annotations

from typing import Any

from contracts import Envelope, topics
from tests.e2e.helpers import Api, opening_body, poll, referral_body, unique
from tests.kafka_helpers import read_topic

EMPLOYER = "civic-data-labs"
PARTNER = "northside-tech-collective"


async def decision_of(api: Api, referral_id: str, *, attempt: int = 1) -> Envelope:
    async def decided() -> Envelope | None:
        records = await read_topic(api.net.bootstrap, topics.ROUTING.name, timeout=3.0)
        found = [Envelope.from_bytes(r.value) for r in records if r.key == referral_id.encode()]
        return next((e for e in found if e.data.get("attempt", 1) == attempt), None)

    return await poll(f"routing's decision {attempt} on {referral_id}", decided)


async def gateway(api: Api, method: str, path: str, body: dict[str, Any] | None = None):  # type: ignore[no-untyped-def]
    return await api.http.request(method, api.url("employer_gateway", path), json=body,
                                  headers=api.net.auth(f"employer:{EMPLOYER}"))


async def wait_catalogue(api: Api, opening_id: str, check) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    async def seen() -> dict[str, Any] | None:
        o = await api.wait_in_catalogue(opening_id)
        return o if check(o) else None

    return await poll(f"routing's catalogue to show {opening_id} changed", seen)


async def test_requirements_updates_and_closing_reach_routing_and_its_explanations(api: Api) -> None:
    skill = unique("req")
    body = {**opening_body([skill]), "required_credentials": [{"name": f"Cert {skill}"}], "degree_required": "associate"}
    opening_id = await api.open_opening(EMPLOYER, body)

    lacking = await api.refer(PARTNER, referral_body([skill]))
    unmatched = await decision_of(api, lacking)
    assert unmatched.type == "referral.unmatched.v1"
    assert unmatched.data["nearest"][0]["missing_requirements"] == [f"credential: Cert {skill}", "degree: associate or higher"]

    holder = referral_body([skill])
    holder["credentials"] = [{"name": f"Cert {skill}", "status": "completed"}]
    holder["highest_degree"] = "bachelor"
    holder["location"] = "Bronx, NY"
    routed = await decision_of(api, await api.refer(PARTNER, holder))
    assert routed.type == "referral.routed.v1" and routed.data["opening_id"] == opening_id
    details = routed.data["details"]
    assert details["credentials_matched"] == [f"Cert {skill}"] and details["location"] == "same_location"
    assert "meets the associate degree requirement" in routed.data["explanation"]

    # The employer drops the credential requirement: routing follows, and the waiting referral
    # is routed again (its second attempt).
    r = await gateway(api, "PATCH", f"/v1/openings/{opening_id}", {"required_credentials": [], "degree_required": None})
    assert r.status_code == 200, r.text
    again = await decision_of(api, lacking, attempt=2)
    assert again.type == "referral.routed.v1" and again.data["opening_id"] == opening_id

    r = await gateway(api, "POST", f"/v1/openings/{opening_id}/close", {"reason": "filled"})
    assert r.status_code == 200, r.text
    await wait_catalogue(api, opening_id, lambda o: o["state"] == "filled")
    late = await decision_of(api, await api.refer(PARTNER, referral_body([skill])))
    assert late.type == "referral.unmatched.v1"


async def test_a_skills_gap_observation_is_published_per_decision(api: Api) -> None:
    skill, missing = unique("have"), unique("lack")
    await api.open_opening(EMPLOYER, {**opening_body([skill, missing]), "onet_soc_code": "15-2051.00"})
    referral_id = await api.refer(PARTNER, referral_body([skill]))

    async def observed() -> list[Envelope] | None:
        records = await read_topic(api.net.bootstrap, topics.SKILLS_GAP.name, timeout=3.0)
        found = [Envelope.from_bytes(r.value) for r in records]
        ours = [e for e in found if e.data["referral_id"] == referral_id]
        return ours or None

    [gap] = await poll("a skills-gap observation", observed)
    assert gap.subject == referral_id and gap.type == "skills.gap_observed.v2"
    [nearest] = [c for c in gap.data["comparisons"] if c["onet_soc_code"] == "15-2051.00"]
    assert nearest["missing_required"] == [missing.casefold()]


async def test_a_decline_and_a_closed_opening_route_the_referral_again_elsewhere(api: Api) -> None:
    other = "harborview-health"
    skill = unique("again")
    first = await api.open_opening(EMPLOYER, opening_body([skill], capacity=5))
    second = await api.open_opening(other, opening_body([skill], capacity=2))
    referral_id = await api.refer(PARTNER, referral_body([skill]))
    routed = await decision_of(api, referral_id)
    assert (routed.data["opening_id"], routed.data["employer_id"]) == (first, EMPLOYER)  # more slots left
    await api.wait_in_inbox(EMPLOYER, referral_id, first)

    r = await api.act(EMPLOYER, referral_id, "decline", {"reason": "requirements_not_met"})
    assert r.status_code == 200, r.text
    again = await decision_of(api, referral_id, attempt=2)
    assert (again.type, again.data["opening_id"], again.data["employer_id"]) == ("referral.routed.v1", second, other)
    assert (await api.wait_in_inbox(other, referral_id, second))["state"] == "routed"
    in_review = await api.wait_timeline(referral_id, lambda t: t["status"] == "in_review" and len(t["events"]) >= 4,
                                        "routed again, in review")
    assert in_review["anomalies"] == [] and "declined" not in in_review["stages"]

    # The second employer closes its opening: the referral is declined there too and, with no
    # other opening for it, waits unmatched (attempt 3).
    r = await api.http.post(api.url("employer_gateway", f"/v1/openings/{second}/close"), json={"reason": "closed"},
                            headers=api.net.auth(f"employer:{other}"))
    assert r.status_code == 200 and r.json()["declined_referrals"] == [referral_id], r.text
    waiting = await decision_of(api, referral_id, attempt=3)
    assert waiting.type == "referral.unmatched.v1"
    done = await api.wait_timeline(referral_id, lambda t: t["status"] == "not_matched", "waiting again")
    assert [e["type"].rsplit(".", 1)[0] for e in done["events"]].count("referral.declined") == 2

    # The first employer sees its own part only.
    r = await api.timeline(referral_id, f"employer:{EMPLOYER}")
    assert r.status_code == 200 and "status" not in r.json()
    assert {e["data"].get("employer_id") for e in r.json()["events"]} == {EMPLOYER}
