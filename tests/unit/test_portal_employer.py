"""The employer's screens' pure parts (services/portal/employing.py, domain.answer_due): the
gateway's bodies from the forms, the problem detail as one line, the deadline before a
referral goes stale, and the steps each state offers matching the gateway's own rules."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.responses import Response

from contracts.events import CONVERTS_FROM, CONVERTS_TO, OfferDeclineReason, PayBasis, SeparationReason
from plumbing.business_days import BusinessDays
from services.employer_gateway.api import OpeningIn, OpeningPatch, RetentionIn
from services.employer_gateway.domain import ALLOWED
from services.portal import domain, employing, i18n, messages, pages_employer, web

CHICAGO = ZoneInfo("America/Chicago")


def body(step: str, form: dict) -> dict | None:  # type: ignore[type-arg]
    return employing.STEPS[step].body(form, CHICAGO)


def test_bodies_for_the_gateway() -> None:
    assert body("acknowledge", {}) is None
    assert body("decline", {"reason": "no_capacity", "detail": " "}) == {"reason": "no_capacity", "detail": None}
    # A datetime-local is read in the network's business time zone.
    assert body("schedule", {"scheduled_for": "2026-12-03T10:30", "mode": "video"}) == {
        "scheduled_for": "2026-12-03T10:30:00-06:00",
        "mode": "video",
    }
    assert employing.STEPS["reschedule"].path({"interview_id": "int/1"}) == "interviews/int%2F1/reschedule"
    assert body("outcome", {"outcome": "advanced"}) == {"outcome": "advanced"}
    terms = body(
        "placement",
        {
            "job_title": "Data analyst",
            "onet_soc_code": "15-2051.00",
            "employment_type": "full_time",
            "start_date": "2027-01-04",
            "wage_amount": "31.50",
            "wage_unit": "hour",
            "hours_per_week": "40",
            "schedule": "predictable",
            "benefit": ["health", "paid_leave"],
        },
    )
    assert terms is not None
    assert terms["wage"] == {"amount": "31.50", "unit": "hour"} and terms["hours_per_week"] == "40"
    assert terms["schedule"] == {"predictable": True, "variable_hours": False}
    assert [k for k, v in terms["benefits"].items() if v] == ["health", "paid_leave"]
    assert body("retention", {"milestone_days": "90", "still_employed": "no", "checked_on": "2027-04-04"}) == {
        "milestone_days": 90,
        "still_employed": False,
        "checked_on": "2027-04-04",
    }


def test_bodies_that_end_an_offer_or_an_employment_and_a_conversion() -> None:
    assert employing.STEPS["offer_declined"].path({"offer_id": "off/1"}) == "offers/off%2F1/declined"
    assert body("offer_declined", {"offer_id": "off_1", "reason": "schedule", "detail": "nights"}) == {
        "reason": "schedule",
        "detail": "nights",
    }
    assert body("separation", {"separated_on": "2027-03-01", "reason": "laid_off", "detail": ""}) == {
        "separated_on": "2027-03-01",
        "reason": "laid_off",
        "detail": None,
    }
    assert employing.STEPS["conversion"].path({}) == "conversion"
    converted = body(
        "conversion",
        {
            "job_title": "Junior data analyst",
            "onet_soc_code": "15-2051.00",
            "employment_type": "full_time",
            "converted_on": "2027-02-01",
            "wage_amount": "60000",
            "wage_unit": "year",
            "benefit": ["health"],
        },
    )
    assert converted is not None
    assert converted["converted_on"] == "2027-02-01" and "start_date" not in converted
    assert converted["employment_type"] == "full_time" and converted["wage"] == {"amount": "60000", "unit": "year"}
    assert [k for k, v in converted["benefits"].items() if v] == ["health"]


def test_a_retention_check_in_with_what_changed() -> None:
    check_in = {"milestone_days": "180", "still_employed": "yes", "checked_on": "2027-07-01"}
    # Nothing said about changes: none sent (the gateway keeps the placement's terms).
    assert body("retention", {**check_in, "wage_amount": " ", "promoted": "", "job_title": ""}) == {
        "milestone_days": 180,
        "still_employed": True,
        "checked_on": "2027-07-01",
    }
    changed = {"wage_amount": "34", "wage_unit": "hour", "hours_per_week": "38", "job_title": "Analyst II"}
    assert body("retention", {**check_in, **changed, "promoted": "yes"}) == {
        "milestone_days": 180,
        "still_employed": True,
        "checked_on": "2027-07-01",
        "wage": {"amount": "34", "unit": "hour"},
        "hours_per_week": "38",
        "job_title": "Analyst II",
        "promoted": True,
    }
    assert body("retention", {**check_in, "promoted": "no"})["promoted"] is False  # type: ignore[index]
    # How the job is by now: paid by salary, a variable schedule, its benefits (named ones too).
    now = {
        "pay_basis": "salary",
        "wage_amount": "62000",
        "wage_unit": "year",
        "schedule": "variable",
        "benefit": ["health", "tuition"],
        "benefits_other": "transit pass, gym",
    }
    sent = body("retention", {**check_in, **now})
    assert sent is not None and sent["pay_basis"] == "salary" and sent["wage"] == {"amount": "62000", "unit": "year"}
    assert sent["schedule"] == {"predictable": False, "variable_hours": True}
    assert [k for k, v in sent["benefits"].items() if v is True] == ["health", "tuition"]
    assert sent["benefits"]["other"] == ["transit pass", "gym"]
    taken = RetentionIn.model_validate(sent)  # the gateway's check-in takes it as it is
    assert (taken.pay_basis, taken.schedule.variable_hours, taken.benefits.tuition) == ("salary", True, True)  # type: ignore[union-attr]
    unpaid = body("retention", {**check_in, "pay_basis": "unpaid", "schedule": "predictable", "benefit": []})
    assert unpaid == {
        **body("retention", check_in),
        "pay_basis": "unpaid",
        "schedule": {"predictable": True, "variable_hours": False},
    }  # type: ignore[dict-item]
    assert RetentionIn.model_validate(unpaid).wage is None


# A placed referral as the gateway's list and page give it (with the portal's deadline).
PLACED = {
    "referral_id": "ref_1",
    "state": "placed",
    "score": 0.5,
    "matched_skills": [],
    "missing_skills": [],
    "employment": {"start_date": "2027-01-04"},
    "due": None,
    "overdue": False,
    "updated_at": "2027-01-04T10:00:00+00:00",
}


def options(html: str, select_id: str) -> dict[str, str]:
    """A rendered `<select>`'s options: value -> words (but "not said", the empty value)."""
    found = re.search(rf'<select id="{select_id}"[^>]*>(.*?)</select>', html, re.S)
    assert found is not None, select_id
    return {v: w for v, w in re.findall(r'<option value="([^"]*)">([^<]*)</option>', found.group(1)) if v}


def rendered(template: str, language: str = "en", **context: Any) -> str:
    """An employer's page as `web.page` renders it, with the pages' shared vocabularies."""
    return web.TEMPLATES.get_template(template).render(
        _=i18n.gettext_for(language),
        lang=language,
        member=domain.Member("u1", "o1", "employer", "staff"),
        user=None,
        csrf_token="x",
        path="/",
        form_id="f",
        **pages_employer.VOCABULARIES,
        **context,
    )


@pytest.mark.parametrize("language", ["en", "es"])
def test_the_forms_offer_the_gateways_pay_bases_and_the_schedules(language: str) -> None:
    assert set(employing.PAY_BASES) == {b.value for b in PayBasis}
    _ = i18n.gettext_for(language)
    words = {
        name: {k: _(v) for k, v in vocabulary.items()}
        for name, vocabulary in [("pay_bases", employing.PAY_BASES), ("schedules", employing.SCHEDULES)]
    }
    referral = PLACED
    placed = rendered("routed_referral.html", language, referral=referral)
    assert options(placed, "retention-pay_basis") == words["pay_bases"]
    assert options(placed, "retention-schedule") == words["schedules"]
    hiring = rendered("routed_referral.html", language, referral={**referral, "state": "acknowledged"})
    assert options(hiring, "offer-schedule") == options(hiring, "placement-schedule") == words["schedules"]
    posting = rendered("openings.html", language, openings=[], form_values=employing.form_values)
    assert options(posting, "opening-schedule") == words["schedules"]


async def test_each_employer_page_passes_each_name_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pages pass names of their own beside the shared VOCABULARIES: a name in both is a
    TypeError at the call, a 500 (the openings page once had `schedules` twice). So each page is
    called here, its template rendered with what it passed."""
    referral = dict(PLACED)
    shown: dict[str, str] = {}
    who = domain.Member("u1", "o1", "employer", "staff")

    async def page(request: Any, template: str, status: int = 200, **context: Any) -> Response:
        shown[template] = web.TEMPLATES.get_template(template).render(
            _=i18n.gettext_for("en"), member=who, user=None, csrf_token="x", path="/", lang="en", **context
        )
        return Response(shown[template], status)

    async def routed(p: Any, who: Any) -> list[dict[str, Any]]:
        return [referral]

    async def one(p: Any, who: Any, referral_id: str) -> dict[str, Any]:
        return referral

    async def openings(p: Any, who: Any) -> list[dict[str, Any]]:
        return []

    monkeypatch.setattr(web, "page", page)
    monkeypatch.setattr(employing, "routed", routed)
    monkeypatch.setattr(employing, "one", one)
    monkeypatch.setattr(employing, "openings", openings)
    request: Any = SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(portal_app=None)))
    await pages_employer.routed(request, who)
    await pages_employer.referral(request, who, "ref_1")
    await pages_employer._openings_page(request, who, problem="p", failed=None)
    assert set(shown) == {"routed.html", "routed_referral.html", "openings.html"}
    assert 'data-referral="ref_1"' in shown["routed.html"] and 'id="form-retention"' in shown["routed_referral.html"]
    assert 'id="post-opening"' in shown["openings.html"]


def test_a_conversion_is_offered_once_and_only_for_work_that_converts() -> None:
    def placed(kind: str | None, converted_on: str | None = None) -> dict:  # type: ignore[type-arg]
        terms = None if kind is None else {"employment_type": kind}
        return {"state": "placed", "employment": {"terms": terms, "converted_on": converted_on}}

    assert employing.converts(placed("internship")) and employing.converts(placed("apprenticeship"))
    assert not employing.converts(placed("internship", "2027-02-01"))
    assert not employing.converts(placed("full_time")) and not employing.converts(placed(None))
    assert set(employing.CONVERTS_FROM) == {k.value for k in CONVERTS_FROM}
    assert set(employing.CONVERTS_TO) == {k.value for k in CONVERTS_TO}


def test_the_reasons_offered_are_the_contracts() -> None:
    assert set(employing.OFFER_DECLINE_REASONS) == {r.value for r in OfferDeclineReason}
    assert set(employing.SEPARATION_REASONS) == {r.value for r in SeparationReason}


@pytest.mark.parametrize(
    ("step", "form", "code"),
    [
        ("decline", {"reason": "because"}, "required"),
        ("schedule", {"scheduled_for": "tomorrow", "mode": "video"}, "bad_time"),
        ("schedule", {"mode": "video"}, "required"),
        ("offer", {"job_title": "x", "onet_soc_code": "15-2051.00", "employment_type": "full_time"}, "required"),
        ("retention", {"milestone_days": "45", "still_employed": "yes", "checked_on": "2027-01-01"}, "required"),
        ("offer_declined", {"offer_id": "off_1", "reason": "too_far"}, "required"),
        (
            "retention",
            {"milestone_days": "30", "still_employed": "yes", "checked_on": "2027-01-01", "wage_amount": "30"},
            "required",
        ),
        (
            "retention",
            {"milestone_days": "30", "still_employed": "yes", "checked_on": "2027-01-01", "promoted": "maybe"},
            "required",
        ),
        (
            "retention",
            {"milestone_days": "30", "still_employed": "yes", "checked_on": "2027-01-01", "pay_basis": "weekly"},
            "required",
        ),
        (
            "retention",
            {"milestone_days": "30", "still_employed": "yes", "checked_on": "2027-01-01", "schedule": "sometimes"},
            "required",
        ),
        ("separation", {"reason": "resigned"}, "required"),
        ("separation", {"separated_on": "2027-03-01", "reason": "quit"}, "required"),
        (
            "conversion",
            {
                "job_title": "x",
                "onet_soc_code": "15-2051.00",
                "employment_type": "internship",
                "converted_on": "2027-02-01",
            },
            "required",
        ),
        ("conversion", {"job_title": "x", "onet_soc_code": "15-2051.00", "employment_type": "full_time"}, "required"),
    ],
)
def test_incomplete_forms_never_reach_the_gateway(step: str, form: dict, code: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(employing.Invalid) as refused:
        body(step, form)
    assert refused.value.code == code


def test_the_problem_detail_as_one_line() -> None:
    assert employing.problem_message(
        {"title": "Conflict", "detail": "cannot acknowledge a referral in state placed"}
    ) == ("cannot acknowledge a referral in state placed")
    assert employing.problem_message(
        {
            "title": "Request is not valid",
            "detail": "1 field error(s)",
            "errors": [{"field": "wage.amount", "message": "bad"}],
        }
    ) == ("1 field error(s) (wage.amount: bad)")


def test_the_answer_is_due_n_business_days_after_routing() -> None:
    calendar = BusinessDays(ZoneInfo("UTC"), frozenset({date(2026, 12, 25)}))
    friday = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)
    assert domain.answer_due("routed", friday, calendar, 2) == datetime(2026, 12, 8, 15, 0, tzinfo=UTC)
    assert domain.answer_due("acknowledged", friday, calendar, 2) is None


def test_the_steps_offered_are_the_gateways() -> None:
    gateway = {
        "acknowledge": "acknowledge",
        "decline": "decline",
        "schedule": "schedule_interview",
        "offer": "extend_offer",
        "placement": "report_placement",
        "retention": "check_retention",
        "offer_declined": "record_offer_declined",
        "conversion": "convert",
        "separation": "report_separation",
    }
    # Every referral-level step the portal has is offered somewhere (an interview's own steps sit
    # on the interview, while interviewing: the gateway's rule for them is that state alone).
    assert set(gateway) | {"reschedule", "cancel", "outcome"} == set(employing.STEPS)
    for action in ("reschedule_interview", "cancel_interview", "record_interview_outcome"):
        assert {s.value for s in ALLOWED[action]} == {"interviewing"}
    for state, steps in employing.OFFERED_IN.items():
        for step in steps:
            assert state in {s.value for s in ALLOWED[gateway[step]]}, (state, step)
    for step, action in gateway.items():
        offered = {state for state, steps in employing.OFFERED_IN.items() if step in steps}
        assert offered == {s.value for s in ALLOWED[action]}, step


FORM = {
    "title": "Data analyst",
    "onet_soc_code": "15-2051.00",
    "required_skills": "SQL, Python ,",
    "preferred_skills": "",
    "capacity": "3",
    "wage_amount": "31.50",
    "wage_unit": "hour",
    "location": "Bronx, NY",
}


def test_an_opening_from_the_posting_form() -> None:
    assert employing.new_opening(FORM) == {
        "title": "Data analyst",
        "onet_soc_code": "15-2051.00",
        "required_skills": ["SQL", "Python"],
        "capacity": 3,
        "wage": {"amount": "31.50", "unit": "hour"},
        "paid": True,
        "location": "Bronx, NY",
        "remote": False,
    }
    every = {
        **FORM,
        "employment_type": "apprenticeship",
        "apprenticeship_registered": "yes",
        "degree_required": "associate",
        "required_credentials": "CompTIA A+, OSHA 10",
        "schedule": "variable",
        "min_hours_per_week": "20",
        "max_hours_per_week": "37.5",
        "advance_notice_days": "14",
        "benefit": ["health", "tuition"],
        "benefits_other": "Transit pass",
        "remote": "yes",
    }
    posted = employing.new_opening(every)
    assert posted["employment_type"] == "apprenticeship" and posted["apprenticeship_registered"] is True
    assert posted["degree_required"] == "associate" and posted["remote"] is True
    assert posted["required_credentials"] == [
        {"name": "CompTIA A+", "ctdl_id": None},
        {"name": "OSHA 10", "ctdl_id": None},
    ]
    assert posted["schedule"] == {
        "predictable": False,
        "variable_hours": True,
        "advance_notice_days": 14,
        "min_hours_per_week": 20.0,
        "max_hours_per_week": 37.5,
    }
    assert posted["benefits"]["health"] and posted["benefits"]["tuition"] and not posted["benefits"]["dental"]
    assert posted["benefits"]["other"] == ["Transit pass"]
    unpaid = employing.new_opening({**FORM, "wage_amount": "", "unpaid": "yes"})
    assert unpaid["wage"]["amount"] == "0" and unpaid["paid"] is False
    for body in (posted, unpaid):
        OpeningIn.model_validate(body)  # the gateway takes them as they are


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"capacity": "three"}, "bad_number", "capacity"),
        ({"required_skills": " , "}, "required", "required_skills"),
        ({"wage_amount": ""}, "required", "wage_amount"),
        ({"title": " "}, "required", "title"),
        ({"employment_type": "gig"}, "required", "employment_type"),
        ({"max_hours_per_week": "forty"}, "bad_hours", "max_hours_per_week"),
        ({"engagement_hours": "1.5"}, "bad_number", "engagement_hours"),
        ({"min_hours_per_week": "10"}, "schedule_details", "schedule"),
    ],
)
def test_an_incomplete_posting_is_refused_at_its_field(change: dict, code: str, field: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(employing.Invalid) as refused:
        employing.new_opening({**FORM, **change})
    assert (refused.value.code, refused.value.field) == (code, field)
    assert code in {**employing.PROBLEMS, **messages.CODES}


def test_an_openings_changes_are_the_fields_its_form_changes() -> None:
    opening = {
        **employing.new_opening(FORM),
        "opening_id": "op_1",
        "preferred_skills": [],
        "wage": {"amount": "31.50", "unit": "hour", "currency": "CAD"},
        "required_credentials": [{"name": "OSHA 10", "ctdl_id": "ce-123"}],
        "degree_required": None,
        "employment_type": "full_time",
        "apprenticeship_registered": None,
        "engagement_hours": None,
        "schedule": {
            "predictable": True,
            "variable_hours": False,
            "advance_notice_days": 7,
            "min_hours_per_week": 40.0,
            "max_hours_per_week": None,
        },
        "benefits": {
            "health": False,
            "dental": False,
            "vision": False,
            "paid_leave": False,
            "retirement": False,
            "tuition": False,
            "childcare": False,
            "other": [],
        },
        "state": "open",
    }
    shown = employing.form_values(opening)
    assert shown["wage_amount"] == "31.50" and shown["min_hours_per_week"] == "40" and shown["benefit"] == []
    with pytest.raises(employing.Invalid) as unchanged:  # the form as shown changes nothing
        employing.opening_changes(opening, shown)
    assert unchanged.value.code == "nothing_changed"
    edited = {**shown, "wage_amount": "33", "employment_type": "", "preferred_skills": "Tableau", "benefit": ["dental"]}
    edited |= {
        "required_credentials": "OSHA 10, CPR",
        "schedule": "",
        "advance_notice_days": "",
        "min_hours_per_week": "",
    }
    changes = employing.opening_changes(opening, edited)
    assert changes == {
        "wage": {"amount": "33", "unit": "hour", "currency": "CAD"},  # the currency the form does not show, kept
        "preferred_skills": ["Tableau"],
        "employment_type": None,  # no longer said
        "required_credentials": [{"name": "OSHA 10", "ctdl_id": "ce-123"}, {"name": "CPR", "ctdl_id": None}],
        "schedule": None,
        "benefits": {**{k: k == "dental" for k in messages.BENEFITS}, "other": []},
    }
    assert OpeningPatch.model_validate(changes).model_fields_set == set(changes)  # the gateway takes it


def test_the_gateways_problem_marks_the_form_fields() -> None:
    problem = {
        "type": "about:blank",
        "errors": [
            {"field": "wage.amount", "message": "an amount has at most two decimals"},
            {"field": "schedule.max_hours_per_week", "message": "max_hours_per_week is below min_hours_per_week"},
            {"field": "paid", "message": "paid false needs wage.amount 0"},
            {"field": "required_skills.2", "message": "too long"},
            {"field": "", "message": "nothing to update"},
        ],
    }
    assert employing.marked(problem) == {
        "wage_amount": "an amount has at most two decimals",
        "max_hours_per_week": "max_hours_per_week is below min_hours_per_week",
        "unpaid": "paid false needs wage.amount 0",
        "required_skills": "too long",
    }
    below = {"type": "https://talentloop.example.org/problems/capacity-below-routed", "detail": "3 routed"}
    assert employing.marked(below) == {"capacity": "3 routed"}
    assert (
        employing.form_field("benefits.other.0") == "benefits_other"
        and employing.form_field("wage.unit") == "wage_unit"
    )
