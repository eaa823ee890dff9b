"""An employer's referrals through the employer gateway's public API, with the organisation's own
key (docs/portals.md, "An employer's screens"): the referrals routed to it, one referral, and
the lifecycle steps. The gateway decides what is allowed (another employer's referral is its
404, a step out of order its 409); the portal turns forms into the gateway's bodies and shows
the gateway's problem details as they are."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from services.portal import domain
from services.portal.application import Portal, Refused, audit_answer, one_of_ours, paged, segment, send_once
from services.portal.domain import Member
from services.portal.messages import (
    BENEFITS,
    CANCELLED_BY,
    EMPLOYMENT_KINDS,
    INTERVIEW_MODES,
    INTERVIEW_OUTCOMES,
    MILESTONES,
    N_,
    WAGE_UNITS,
    YES_NO,
)
from services.portal.present import REASONS

ROUTED_MAX = 5000

Form = Mapping[str, Any]  # the submitted form: field -> str, and `benefit` -> list of str


class Invalid(Exception):
    """A form the portal can already tell is incomplete: `code` is a message id (messages.CODES,
    or PROBLEMS below), `field` the form's field to mark, when there is one."""

    def __init__(self, code: str, field: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.field = field


# --- reading -----------------------------------------------------------------------------------


async def routed(p: Portal, member: Member) -> list[dict[str, Any]]:
    """Every referral routed to the organisation (the gateway's inbox, in pages of 500), each with
    `due` (when it goes stale unanswered) and `overdue`; those due soonest first, then the newest."""
    now = p.network_clock()
    items = await paged(p, member, "employer_gateway", "/v1/referrals", ROUTED_MAX)
    for item in items:
        _with_due(p, item, now)
    items.sort(key=lambda i: i["updated_at"], reverse=True)
    items.sort(key=lambda i: i["due"] or "~")  # stable: the due ones first, by deadline
    return items


async def one(p: Portal, member: Member, referral_id: str) -> dict[str, Any] | None:
    """One referral routed to the organisation, None when it is not theirs (or does not exist)."""
    found = await one_of_ours(p, member, "employer_gateway", f"/v1/referrals/{segment(referral_id)}")
    return None if found is None else _with_due(p, found, p.network_clock())


def _with_due(p: Portal, item: dict[str, Any], now: datetime) -> dict[str, Any]:
    due = domain.answer_due(item["state"], datetime.fromisoformat(item["routed_at"]), p.calendar, p.stale_business_days)
    item["due"] = due.isoformat() if due else None
    item["overdue"] = due is not None and now >= due
    return item


# --- acting ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """A lifecycle step: the gateway's path under the referral, and the body from the form."""

    path: Callable[[Form], str]
    body: Callable[[Form, ZoneInfo], dict[str, Any] | None]


def _field(form: Form, name: str, required: bool = True) -> str | None:
    value = form.get(name)
    value = value.strip() if isinstance(value, str) else ""
    if not value:
        if required:
            raise Invalid("required", name)
        return None
    return value


def _choice(form: Form, name: str, choices: Mapping[str, str]) -> str:
    value = _field(form, name)
    if value not in choices:
        raise Invalid("required", name)
    return value


def _when(form: Form, tz: ZoneInfo) -> str:
    """A `datetime-local` field, read in the network's business time zone."""
    value = _field(form, "scheduled_for")
    try:
        local = datetime.fromisoformat(value or "")
    except ValueError:
        raise Invalid("bad_time", "scheduled_for") from None
    return (local if local.tzinfo else local.replace(tzinfo=tz)).isoformat()


def _interview(form: Form) -> str:
    return quote(_field(form, "interview_id") or "", safe="")


def _terms(form: Form) -> dict[str, Any]:
    """An offer's or placement's terms: the job, its start, wage, hours, benefits and schedule."""
    return _job(form, EMPLOYMENT_KINDS, start="start_date")


def _conversion(form: Form, tz: ZoneInfo) -> dict[str, Any]:
    """A placed intern's (or apprentice's) new terms as a full-time or part-time hire, from the
    day they begin (the gateway keeps the placement's start date)."""
    return _job(form, CONVERTS_TO, start="converted_on")


def _job(form: Form, kinds: Mapping[str, str], start: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "job_title": _field(form, "job_title"),
        "onet_soc_code": _field(form, "onet_soc_code"),
        "employment_type": _choice(form, "employment_type", kinds),
        start: _field(form, start),
        **_pay(form),
    }
    chosen = form.get("benefit") or []
    body["benefits"] = {name: name in chosen for name in BENEFITS}
    schedule = _schedule_kind(form)
    if schedule is not None:
        body["schedule"] = schedule
    return body


def _schedule_kind(form: Form) -> dict[str, Any] | None:
    """Whether the hours are predictable or variable, where the form says."""
    schedule = _optional(form, "schedule", SCHEDULES)
    if schedule is None:
        return None
    return {"predictable": schedule == "predictable", "variable_hours": schedule == "variable"}


def _pay(form: Form) -> dict[str, Any]:
    """The wage (an amount and its unit) and the hours a week, each where the form gives it."""
    pay: dict[str, Any] = {}
    amount = _field(form, "wage_amount", required=False)
    if amount is not None:
        pay["wage"] = {"amount": amount, "unit": _choice(form, "wage_unit", WAGE_UNITS)}
    hours = _field(form, "hours_per_week", required=False)
    if hours is not None:
        pay["hours_per_week"] = hours
    return pay


def _retention(form: Form, tz: ZoneInfo) -> dict[str, Any]:
    """A check-in, with what the job is by now where the form says: the wage and how it is paid,
    the hours, a new job title, whether they were promoted, the schedule and the benefits (each
    left blank: not said, and the gateway keeps none; benefits are said when one is ticked or
    named)."""
    body: dict[str, Any] = {
        "milestone_days": int(_choice(form, "milestone_days", MILESTONES)),
        "still_employed": _choice(form, "still_employed", YES_NO) == "yes",
        "checked_on": _field(form, "checked_on"),
        **_pay(form),
    }
    said = {
        "job_title": _field(form, "job_title", required=False),
        "promoted": None if (promoted := _optional(form, "promoted", YES_NO)) is None else promoted == "yes",
        "pay_basis": _optional(form, "pay_basis", PAY_BASES),
        "schedule": _schedule_kind(form),
        "benefits": _benefits(form),
    }
    return {**body, **{k: v for k, v in said.items() if v is not None}}


def _ending(reasons: Mapping[str, str], day: str | None = None) -> Callable[[Form, ZoneInfo], dict[str, Any]]:
    """An offer turned down or a separation: a reason, a note and, for a separation, its day."""

    def body(form: Form, tz: ZoneInfo) -> dict[str, Any]:
        when = {day: _field(form, day)} if day else {}
        return {**when, "reason": _choice(form, "reason", reasons), "detail": _field(form, "detail", required=False)}

    return body


# The gateway's vocabularies for the steps that end an offer or an employment
# (contracts/events.py OfferDeclineReason, SeparationReason; conversions go to full or part time).
OFFER_DECLINE_REASONS = {
    "compensation": N_("The pay"),
    "schedule": N_("The schedule"),
    "location": N_("Where the job is"),
    "accepted_other_offer": N_("Took another offer"),
    "no_longer_interested": N_("No longer interested"),
    "other": N_("Another reason"),
}
SEPARATION_REASONS = {
    "resigned": N_("Resigned"),
    "dismissed": N_("Dismissed"),
    "laid_off": N_("Laid off"),
    "contract_ended": N_("The contract ended"),
    "other": N_("Another reason"),
}
# How a job is paid (contracts/events.py PayBasis), which a check-in may say changed.
PAY_BASES = {
    "hourly": N_("By the hour"),
    "salary": N_("A salary"),
    "stipend": N_("A stipend"),
    "project_fee": N_("A fee for the project"),
    "unpaid": N_("Unpaid"),
}
CONVERTS_FROM = ("internship", "micro_internship", "apprenticeship")
CONVERTS_TO = {k: v for k, v in EMPLOYMENT_KINDS.items() if k in ("full_time", "part_time")}


def _offer(form: Form) -> str:
    return quote(_field(form, "offer_id") or "", safe="")


STEPS: dict[str, Step] = {
    "acknowledge": Step(lambda f: "acknowledge", lambda f, tz: None),
    "decline": Step(
        lambda f: "decline",
        lambda f, tz: {"reason": _choice(f, "reason", REASONS), "detail": _field(f, "detail", required=False)},
    ),
    "schedule": Step(
        lambda f: "interviews",
        lambda f, tz: {"scheduled_for": _when(f, tz), "mode": _choice(f, "mode", INTERVIEW_MODES)},
    ),
    "reschedule": Step(
        lambda f: f"interviews/{_interview(f)}/reschedule",
        lambda f, tz: {"scheduled_for": _when(f, tz), "mode": _choice(f, "mode", INTERVIEW_MODES)},
    ),
    "cancel": Step(
        lambda f: f"interviews/{_interview(f)}/cancel",
        lambda f, tz: {
            "cancelled_by": _choice(f, "cancelled_by", CANCELLED_BY),
            "detail": _field(f, "detail", required=False),
        },
    ),
    "outcome": Step(
        lambda f: f"interviews/{_interview(f)}/outcome",
        lambda f, tz: {"outcome": _choice(f, "outcome", INTERVIEW_OUTCOMES)},
    ),
    "offer": Step(lambda f: "offers", lambda f, tz: _terms(f)),
    "placement": Step(lambda f: "placement", lambda f, tz: _terms(f)),
    "offer_declined": Step(lambda f: f"offers/{_offer(f)}/declined", _ending(OFFER_DECLINE_REASONS)),
    "retention": Step(lambda f: "retention", _retention),
    "conversion": Step(lambda f: "conversion", _conversion),
    "separation": Step(lambda f: "separation", _ending(SEPARATION_REASONS, "separated_on")),
}


# The steps each state offers on the referral's page (the gateway's `ALLOWED`, which still
# decides: a step out of order is its 409, shown on the page). Interviews' own steps
# (reschedule, cancel, outcome) sit on each open interview while the referral is interviewing,
# and "turned down" on each offer while the referral is offered.
OFFERED_IN: dict[str, tuple[str, ...]] = {
    "routed": ("acknowledge", "decline"),
    "acknowledged": ("schedule", "offer", "placement", "decline"),
    "interviewing": ("schedule", "offer", "placement", "decline"),
    "offered": ("offer_declined", "placement", "decline"),
    "placed": ("retention", "conversion", "separation"),
}


def converts(referral: Mapping[str, Any]) -> bool:
    """Whether a placed referral's employment may still be converted: the gateway takes one
    conversion per employment, of an internship, micro-internship or apprenticeship whose terms
    it kept. The page offers the form only then (the gateway's 409 says so otherwise)."""
    employment = referral.get("employment") or {}
    terms = employment.get("terms") or {}
    return employment.get("converted_on") is None and terms.get("employment_type") in CONVERTS_FROM


@dataclass(frozen=True)
class Done:
    """The gateway's answer: `problem` is its problem detail's message when it refused."""

    problem: str | None
    status: int = 200
    correlation_id: str | None = None
    answer: Any = None
    details: Mapping[str, Any] = field(default_factory=dict)  # the problem detail as the gateway sent it


async def act(p: Portal, member: Member, referral_id: str, step_name: str, form: Form) -> Done:
    """Take one lifecycle step on a referral routed to the organisation. The form's own id is the
    Idempotency-Key, so a double click acts once."""
    step = STEPS[step_name]
    path = f"/v1/referrals/{segment(referral_id)}/{step.path(form)}"
    body = step.body(form, p.calendar.tz)
    return await _send(p, member, "POST", path, body, form, referral_id, {"step": step_name})


async def _send(
    p: Portal, member: Member, method: str, path: str, body: Any, form: Form, target: str | None, what: dict[str, Any]
) -> Done:
    """One change at the gateway, with the form's own id as its Idempotency-Key (a double click
    acts once); audited as `employer_step` when the gateway took it."""
    answer = await send_once(p, member, "employer_gateway", method, path, body, _field(form, "form_id", required=False))
    if answer.status == 404:
        raise Refused("not_found")
    if answer.status >= 400:
        problem = answer.json() if _is_json(answer.response) else {}
        return Done(problem_message(problem), answer.status, details=problem)
    await audit_answer(p, member, "employer_step", target, answer, what)
    return Done(None, answer.status, answer.correlation_id, answer.json() if _is_json(answer.response) else None)


# --- openings ----------------------------------------------------------------------------------

CLOSE_REASONS = ("closed", "filled")

# The gateway's vocabularies for a posting (contracts/events.py DegreeLevel) and the portal's own
# problems with the opening's form (messages.CODES has the ones the other forms share).
DEGREES = {
    "associate": N_("Associate degree"),
    "bachelor": N_("Bachelor's degree"),
    "master": N_("Master's degree"),
    "doctorate": N_("Doctorate"),
}
SCHEDULES = {
    "predictable": N_("Predictable: regular hours known ahead"),
    "variable": N_("Variable: hours change from week to week"),
}
PROBLEMS = {
    "bad_hours": N_("Enter a number of hours, such as 37.5."),
    "nothing_changed": N_("Nothing was changed."),
    "schedule_details": N_("Choose whether the schedule is predictable or variable, or leave its details empty."),
}
# A posting's fields as the opening's form names them; the gateway's field names (its problem
# details' `errors[].field`, such as `wage.amount`) map onto them to mark the field.
POSTING_FIELDS = (
    "title",
    "onet_soc_code",
    "required_skills",
    "preferred_skills",
    "capacity",
    "wage_amount",
    "wage_unit",
    "unpaid",
    "location",
    "remote",
    "employment_type",
    "apprenticeship_registered",
    "engagement_hours",
    "degree_required",
    "required_credentials",
    "schedule",
    "advance_notice_days",
    "min_hours_per_week",
    "max_hours_per_week",
    "benefit",
    "benefits_other",
)
SCHEDULE_DETAILS = ("advance_notice_days", "min_hours_per_week", "max_hours_per_week")


async def openings(p: Portal, member: Member) -> list[dict[str, Any]]:
    """The organisation's openings as the gateway keeps them, open ones first, newest first."""
    assert p.services is not None
    answer = await p.services.call(member, "employer_gateway", "GET", "/v1/openings")
    if answer.status != 200:
        raise Refused("service_refused")
    items = sorted(answer.json(), key=lambda o: o["posted_at"], reverse=True)
    return sorted(items, key=lambda o: o["state"] != "open")


def _list(form: Form, name: str) -> list[str]:
    return [s.strip() for s in (_field(form, name, required=False) or "").split(",") if s.strip()]


def _number(form: Form, name: str, kind: Callable[[str], Any], code: str, required: bool = False) -> Any:
    value = _field(form, name, required=required)
    if value is None:
        return None
    try:
        return kind(value)
    except ValueError:
        raise Invalid(code, name) from None


def _optional(form: Form, name: str, choices: Mapping[str, str]) -> str | None:
    return None if _field(form, name, required=False) is None else _choice(form, name, choices)


def posting(form: Form, current: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The whole posting the opening's form describes (the gateway's OpeningIn), "not said" as
    None. The form cannot show what `current` keeps beside it (the wage's currency, credentials'
    CTDL ids), which is kept."""
    required = _list(form, "required_skills")
    if not required:
        raise Invalid("required", "required_skills")
    unpaid = form.get("unpaid") == "yes"
    wage: dict[str, Any] = {
        "amount": _field(form, "wage_amount", required=not unpaid) or "0",
        "unit": _choice(form, "wage_unit", WAGE_UNITS),
    }
    if current is not None:
        wage["currency"] = current["wage"].get("currency", "USD")
    kept = {c["name"]: c.get("ctdl_id") for c in (current or {}).get("required_credentials") or []}
    registered = _optional(form, "apprenticeship_registered", YES_NO)
    return {
        "title": _field(form, "title"),
        "onet_soc_code": _field(form, "onet_soc_code"),
        "required_skills": required,
        "preferred_skills": _list(form, "preferred_skills"),
        "capacity": _number(form, "capacity", int, "bad_number", required=True),
        "wage": wage,
        "paid": not unpaid,
        "location": _field(form, "location"),
        "remote": form.get("remote") == "yes",
        "employment_type": _optional(form, "employment_type", EMPLOYMENT_KINDS),
        "apprenticeship_registered": None if registered is None else registered == "yes",
        "engagement_hours": _number(form, "engagement_hours", int, "bad_number"),
        "degree_required": _optional(form, "degree_required", DEGREES),
        "required_credentials": [{"name": n, "ctdl_id": kept.get(n)} for n in _list(form, "required_credentials")],
        "schedule": _schedule(form),
        "benefits": _benefits(form),
    }


def _schedule(form: Form) -> dict[str, Any] | None:
    details = {
        "advance_notice_days": _number(form, "advance_notice_days", int, "bad_number"),
        "min_hours_per_week": _number(form, "min_hours_per_week", float, "bad_hours"),
        "max_hours_per_week": _number(form, "max_hours_per_week", float, "bad_hours"),
    }
    kind = _optional(form, "schedule", SCHEDULES)
    if kind is None:
        if any(v is not None for v in details.values()):
            raise Invalid("schedule_details", "schedule")
        return None
    return {"predictable": kind == "predictable", "variable_hours": kind == "variable", **details}


def _benefits(form: Form) -> dict[str, Any] | None:
    """The benefits ticked (and others, in a few words each); none at all: not said."""
    chosen, other = form.get("benefit") or [], _list(form, "benefits_other")
    if not chosen and not other:
        return None
    return {**{name: name in chosen for name in BENEFITS}, "other": other}


def new_opening(form: Form) -> dict[str, Any]:
    """The gateway's OpeningIn from the posting form, without what is not said (its defaults)."""
    return {k: v for k, v in posting(form).items() if v is not None and v != []}


def opening_changes(current: Mapping[str, Any], form: Form) -> dict[str, Any]:
    """The gateway's OpeningPatch: the fields whose value the form changes (null: no longer
    said). Invalid("nothing_changed") when it changes none."""
    wanted = posting(form, current)
    changes = {k: v for k, v in wanted.items() if _comparable(k, v) != _comparable(k, current.get(k))}
    if not changes:
        raise Invalid("nothing_changed")
    return changes


def _comparable(name: str, value: Any) -> Any:
    """A posting's field as the form and the gateway may both write it: an amount as a number,
    hours as floats, no benefits as none said."""
    if value is None:
        return None
    if name == "wage":
        return (Decimal(str(value["amount"])), value["unit"], value.get("currency", "USD"))
    if name == "schedule":
        hours = ("min_hours_per_week", "max_hours_per_week")
        return {
            k: (None if value.get(k) is None else float(value[k])) if k in hours else value.get(k)
            for k in ("predictable", "variable_hours", "advance_notice_days", *hours)
        }
    if name == "benefits":
        said = {k: v for k, v in value.items() if v}
        return said or None
    if name == "required_credentials":
        return [(c["name"], c.get("ctdl_id")) for c in value]
    return value


def form_values(opening: Mapping[str, Any]) -> dict[str, Any]:
    """The opening's form filled in with the opening as it is (the inverse of `posting`)."""
    schedule = opening.get("schedule") or {}
    benefits = opening.get("benefits") or {}
    registered = opening.get("apprenticeship_registered")
    return {
        "title": opening["title"],
        "onet_soc_code": opening["onet_soc_code"],
        "required_skills": ", ".join(opening["required_skills"]),
        "preferred_skills": ", ".join(opening.get("preferred_skills") or []),
        "capacity": str(opening["capacity"]),
        "wage_amount": str(opening["wage"]["amount"]),
        "wage_unit": opening["wage"]["unit"],
        "unpaid": "" if opening.get("paid", True) else "yes",
        "location": opening["location"],
        "remote": "yes" if opening.get("remote") else "",
        "employment_type": opening.get("employment_type") or "",
        "apprenticeship_registered": "" if registered is None else ("yes" if registered else "no"),
        "engagement_hours": _text(opening.get("engagement_hours")),
        "degree_required": opening.get("degree_required") or "",
        "required_credentials": ", ".join(c["name"] for c in opening.get("required_credentials") or []),
        "schedule": "" if not schedule else ("predictable" if schedule.get("predictable") else "variable"),
        **{k: _text(schedule.get(k)) for k in SCHEDULE_DETAILS},
        "benefit": [k for k in BENEFITS if benefits.get(k)],
        "benefits_other": ", ".join(benefits.get("other") or []),
    }


def _text(value: Any) -> str:
    """A number as the form shows it: 20.0 as 20, none as empty."""
    if value is None:
        return ""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def form_field(gateway_field: str) -> str | None:
    """The opening form's field for a field the gateway names in a problem (`wage.amount`,
    `schedule.max_hours_per_week`, `required_skills.2`), None when the form has none."""
    head, _, rest = gateway_field.partition(".")
    if head == "wage":
        return "wage_unit" if rest.startswith("unit") else "wage_amount"
    if head == "schedule":
        detail = rest.partition(".")[0]
        return detail if detail in SCHEDULE_DETAILS else "schedule"
    if head == "benefits":
        return "benefits_other" if rest.startswith("other") else "benefit"
    if head == "paid":
        return "unpaid"
    return head if head in POSTING_FIELDS else None


def marked(problem: Mapping[str, Any]) -> dict[str, str]:
    """The opening form's fields a gateway's problem detail is about, each with its message."""
    fields: dict[str, str] = {}
    for error in problem.get("errors") or []:
        name = form_field(str(error.get("field", ""))) if isinstance(error, dict) else None
        if name is not None and name not in fields:
            fields[name] = str(error.get("message", ""))
    if str(problem.get("type", "")).endswith("capacity-below-routed"):
        fields.setdefault("capacity", str(problem.get("detail", "")))
    return fields


async def post_opening(p: Portal, member: Member, form: Form) -> Done:
    return await _send(p, member, "POST", "/v1/openings", new_opening(form), form, None, {"step": "post_opening"})


async def change_opening(p: Portal, member: Member, opening_id: str, form: Form) -> Done:
    """Change an opening to what its form says: only the fields that differ from the opening as
    the gateway has it now are sent (PATCH), so what the form cannot show stays as it is."""
    current = next((o for o in await openings(p, member) if o["opening_id"] == opening_id), None)
    if current is None:
        raise Refused("not_found")
    path = f"/v1/openings/{segment(opening_id)}"
    changes = opening_changes(current, form)
    return await _send(p, member, "PATCH", path, changes, form, opening_id, {"step": "change_opening"})


async def close_opening(p: Portal, member: Member, opening_id: str, form: Form) -> Done:
    reason = _field(form, "reason")
    if reason not in CLOSE_REASONS:
        raise Invalid("required", "reason")
    path = f"/v1/openings/{segment(opening_id)}/close"
    return await _send(p, member, "POST", path, {"reason": reason}, form, opening_id, {"step": "close_opening"})


def problem_message(problem: Mapping[str, Any]) -> str:
    """A problem detail as one line: its detail (or title), and its field errors."""
    errors = problem.get("errors") or []
    fields = "; ".join(f"{e.get('field', '')}: {e.get('message', '')}" for e in errors if isinstance(e, dict))
    head = str(problem.get("detail") or problem.get("title") or "")
    return f"{head} ({fields})" if fields and fields not in head else head


def _is_json(response: Any) -> bool:
    return "json" in response.headers.get("content-type", "")
