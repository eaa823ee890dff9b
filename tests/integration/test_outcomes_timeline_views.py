"""Who sees what of a referral's timeline, through outcomes' API on real PostgreSQL (issue 14:
partners saw exact wages and employers' free text there, while the closed loop deliberately
tells them only a wage band). The partner sees every event, an employer's with the closed
loop's wage band and without its words; the employer its own events as it reported them; the
operator everything. Across the running network: tests/e2e/test_routing_capacity.py."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from contracts import Envelope, build, events, latest_type, payload_of
from plumbing.auth import Principal
from services.outcomes.app import DEFINITION as OUTCOMES
from tests.integration.test_outcomes_ledger import outcomes_app
from tests.integration.test_withdraw_update_erase import T0, consumer_for, make_pool, routed, submitted  # noqa: F401

pytestmark = pytest.mark.integration

IDS = {"referral_id": "ref_v", "employer_id": "emp1", "opening_id": "opn1"}
TERMS = {"job_title": "Junior Developer", "onet_soc_code": "15-1252.00", "hours_per_week": 40,
         "employment_type": "full_time", "benefits": {"health": True}, "start_date": date(2027, 1, 4)}
SECRET = "the hiring manager's private words"


async def apply(consumer, env: Envelope) -> None:  # type: ignore[no-untyped-def]
    """As the consumer applies one event: by the handler of its type's newest version."""
    async with consumer.pool.acquire() as conn, conn.transaction():
        await consumer.handlers[latest_type(env.type)](consumer.deps.bind(conn), env, payload_of(env))


def history() -> list[events.Payload]:
    return [
        submitted("ref_v", "python", cand="cand_v"),
        routed("ref_v", cand="cand_v"),
        events.ReferralAcknowledgedV1(**IDS),
        events.InterviewScheduledV1(**IDS, interview_id="i1", scheduled_for=T0, mode=events.InterviewMode.video),
        events.InterviewCancelledV1(**IDS, interview_id="i1", cancelled_by=events.CancelledBy.employer, detail=SECRET),
        events.OfferExtendedV1(**IDS, **TERMS, offer_id="o1", wage=events.Wage(amount="58760.00", unit="year")),
        events.PlacementReportedV1(**IDS, **TERMS, wage=events.Wage(amount="28.25", unit="hour")),
        # No hours stated: banded over the placement's 40 hours (2,080.00 a week is 52.00 an hour).
        events.RetentionCheckedV1(**IDS, milestone_days=30, still_employed=True, checked_on=date(2027, 2, 3),
                                  wage=events.Wage(amount="2080.00", unit="week")),
        events.SeparationReportedV1(**IDS, separated_on=date(2027, 3, 1), reason=events.SeparationReason.other,
                                    detail=SECRET),
    ]


async def test_partners_see_wage_bands_and_no_employer_words_employers_and_operators_the_record(make_pool):  # noqa: F811
    consumer = await consumer_for(make_pool, OUTCOMES)
    for i, payload in enumerate(history()):
        await apply(consumer, build(payload, source="/test", correlation_id="c", partner_id="p1",
                                    time=T0 + timedelta(hours=i)))

    views = {}
    for who in (Principal("partner", "p1"), Principal("employer", "emp1"), Principal("operator", "ops")):
        async with outcomes_app(consumer.pool, who) as http:
            r = await http.get("/v1/referrals/ref_v/timeline")
            assert r.status_code == 200, r.text
            views[who.kind] = r.json()
    partner = {e["type"]: e["data"] for e in views["partner"]["events"]}

    assert len(partner) == len(history())  # every event, none left out
    assert SECRET not in json.dumps(views["partner"])
    assert '"wage":' not in json.dumps(views["partner"]) and "58760" not in json.dumps(views["partner"])
    assert partner["offer.extended.v1"]["wage_band"] == "$25-30/hour"  # 58,760 a year over 40 h: 28.25
    assert partner["placement.reported.v1"]["wage_band"] == "$25-30/hour"
    assert partner["retention.checked.v1"]["wage_band"] == "$50/hour and more"
    assert partner["placement.reported.v1"]["job_title"] == "Junior Developer"
    assert partner["interview.cancelled.v1"] == {**IDS, "interview_id": "i1", "cancelled_by": "employer"}
    assert partner["separation.reported.v1"]["reason"] == "other"
    # The same band as the closed loop told the partner with the hire.
    told = [json.loads(r["value"])["data"] for r in await consumer.pool.fetch(
        "SELECT value FROM outbox WHERE topic = 'talentloop.partner-status' ORDER BY id")]
    assert [t["detail"]["wage_band"] for t in told if t["status"] == "hired"] == ["$25-30/hour"]
    assert partner["referral.submitted.v2"]["skills"]  # the partner's own events as recorded
    # ... but for the network's id of the person and the sealed copies (their key id names it).
    assert not any({"candidate_id", "contact_sealed"} & data.keys() for data in partner.values())
    operator = {e["type"]: e["data"] for e in views["operator"]["events"]}
    assert operator["referral.submitted.v2"]["candidate_id"] == next(d for t, d in operator.items() if t.startswith("referral.routed"))["candidate_id"] == "cand_v"
    assert operator["referral.submitted.v2"]["contact_sealed"]

    for kind in ("employer", "operator"):
        mine = {e["type"]: e["data"] for e in views[kind]["events"]}
        assert mine["placement.reported.v1"]["wage"] == {"amount": "28.25", "unit": "hour", "currency": "USD"}
        assert mine["offer.extended.v1"]["wage"]["amount"] == "58760.00"
        assert mine["separation.reported.v1"]["detail"] == SECRET
    assert "referral.submitted.v2" not in {e["type"] for e in views["employer"]["events"]}


# An unpaid internship (offer and placement v2) with 1.2 check-ins: a stipend later, then a raise.
WBL = {"referral_id": "ref_w", "employer_id": "emp1", "opening_id": "opn1"}
SCHEDULE = events.Schedule(predictable=True, advance_notice_days=7, min_hours_per_week=15, max_hours_per_week=20)
INTERNSHIP = {"job_title": "Data Intern", "onet_soc_code": "15-2051.00", "employment_type": "internship",
              "pay_basis": "unpaid", "wage": None, "hours_per_week": 20, "schedule": SCHEDULE,
              "benefits": events.Benefits(tuition=True, other=["transit pass"]), "start_date": date(2027, 1, 4),
              "end_date": date(2027, 6, 30)}


def work_based_learning() -> list[events.Payload]:
    return [
        submitted("ref_w", "python", cand="cand_w"),
        routed("ref_w", cand="cand_w"),
        events.ReferralAcknowledgedV1(**WBL),
        events.OfferExtendedV2(**WBL, **INTERNSHIP, offer_id="o2"),
        events.PlacementReportedV2(**WBL, **INTERNSHIP),
        # 650.00 a month over 15 hours a week: 10.00 an hour.
        events.RetentionCheckedV1(**WBL, milestone_days=30, still_employed=True, checked_on=date(2027, 2, 3),
                                  pay_basis=events.PayBasis.stipend, wage=events.Wage(amount="650.00", unit="month"),
                                  hours_per_week=15, schedule=SCHEDULE),
        events.RetentionCheckedV1(**WBL, milestone_days=90, still_employed=True, checked_on=date(2027, 4, 5),
                                  pay_basis=events.PayBasis.hourly, wage=events.Wage(amount="31.37", unit="hour"),
                                  job_title="Data Analyst I", promoted=True,
                                  benefits=events.Benefits(health=True, paid_leave=True),
                                  schedule=events.Schedule(predictable=False, variable_hours=True)),
    ]


async def test_partners_see_the_kind_of_job_its_schedule_and_bands_never_a_check_ins_wage(make_pool):  # noqa: F811
    consumer = await consumer_for(make_pool, OUTCOMES)
    for i, payload in enumerate(work_based_learning()):
        await apply(consumer, build(payload, source="/test", correlation_id="c", partner_id="p1",
                                    time=T0 + timedelta(days=i)))
    views = {}
    for who in (Principal("partner", "p1"), Principal("employer", "emp1")):
        async with outcomes_app(consumer.pool, who) as http:
            r = await http.get("/v1/referrals/ref_w/timeline")
            assert r.status_code == 200, r.text
            views[who.kind] = r.json()["events"]
    partner = [(e["type"], e["data"]) for e in views["partner"]]
    seen = dict(partner)

    text = json.dumps(partner)
    assert '"wage":' not in text and "31.37" not in text and "650" not in text
    for kind in ("offer.extended.v2", "placement.reported.v2"):
        assert seen[kind]["wage_band"] == "unpaid"
        assert (seen[kind]["employment_type"], seen[kind]["pay_basis"]) == ("internship", "unpaid")
        assert seen[kind]["schedule"] == {"predictable": True, "advance_notice_days": 7, "variable_hours": False,
                                          "min_hours_per_week": 15.0, "max_hours_per_week": 20.0}
        assert seen[kind]["end_date"] == "2027-06-30" and seen[kind]["benefits"]["other"] == ["transit pass"]
    checkins = [d for t, d in partner if t.startswith("retention.checked")]
    assert [c["wage_band"] for c in checkins] == ["under $15/hour", "$30-40/hour"]
    assert [c.get("pay_basis") for c in checkins] == ["stipend", "hourly"]
    assert checkins[1]["promoted"] is True and checkins[1]["job_title"] == "Data Analyst I"
    assert checkins[1]["schedule"]["predictable"] is False and checkins[1]["schedule"]["variable_hours"] is True

    # The closed loop told the hire with the kind of job and "unpaid" for its band.
    told = [json.loads(r["value"])["data"] for r in await consumer.pool.fetch(
        "SELECT value FROM outbox WHERE topic = 'talentloop.partner-status' ORDER BY id")]
    hired = [t["detail"] for t in told if t["status"] == "hired"]
    assert [(d["wage_band"], d.get("employment_type")) for d in hired] == [("unpaid", "internship")]
    assert [t["detail"].get("employment_type") for t in told if t["status"] == "offered"] == ["internship"]

    # The employer sees its own figures; the record keeps every check-in's wage for the reports.
    mine = [d for t, d in ((e["type"], e["data"]) for e in views["employer"]) if t.startswith("retention.checked")]
    assert [c["wage"]["amount"] for c in mine] == ["650.00", "31.37"]
    record = json.loads(await consumer.pool.fetchval("SELECT record::text FROM referral_facts WHERE referral_id = 'ref_w'"))
    assert [(c["milestone_days"], c["wage_amount"], c["pay_basis"]) for c in record["checkins"]] == [
        (30, "650.00", "stipend"), (90, "31.37", "hourly")]
    assert record["placement"]["paid"] is False and record["placement"]["employment_type"] == "internship"
