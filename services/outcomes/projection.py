"""A referral as the ledger shows it: derived from all its ledger events, in any order.

Pure: `project` takes the referral's events (as stored, maybe redacted) and returns its
stages and partner status (`domain.derive`), the record the reports read
(`records.ReferralRecord`, without demographics, which stay sealed) and what the referring
partner is told (`PartnerStatus`). The same events give the same projection whatever order
they arrived in, which is what makes a rebuild from Kafka equal the live projection.

`project` reads only the data keys in `INPUT_KEYS`, so the live service keeps each referral's
events in that compact form (`compact`, `dump_input`) beside its projection and projects a
batch's new events with the kept ones instead of reading every ledger row of the referral
again (services/outcomes/store.py, `project_appended`). Two conditions keep the compact form
exact, and where either fails the store derives from the ledger rows instead: no two events
of the referral share their time and type (`has_ties`: only then does the order look at the
whole data, which the compact form has not kept), and every new value survives the ledger's
jsonb as it is (`jsonb_exact`: a float pydantic writes in exponent notation, or -0.0, comes
back from jsonb as another number).
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from pydantic_core import from_json, to_json

from contracts.events import v1_pay_basis
from services.outcomes import domain, pipeline
from services.outcomes.records import (
    ERASED_CREDENTIAL,
    Checkin,
    Conversion,
    Credential,
    EarnedCredentialRecord,
    EnrollmentRecord,
    Placement,
    ReferralRecord,
)
from services.outcomes.records_json import isoformat

# What `project` derives changed (2: outcomes, flags and people for the funnel, issue 15):
# rows projected under an older version are projected again when the service starts
# (services/outcomes/app.py), and a rebuild writes this version too.
VERSION = 2


# Not frozen: a frozen dataclass sets each field through object.__setattr__, which made
# creating one three times as costly, and every projection makes one per event it reads.
# Nothing changes an event once made (it could not be hashed either way: its data is a dict).
@dataclass(slots=True)
class LedgerEvent:
    event_type: str
    occurred_at: datetime
    employer_id: str | None
    data: dict[str, Any]
    partner_id: str | None = None  # the envelope's
    # The type without its version, found once: `project` asks for it again and again.
    family: str = field(init=False, repr=False, compare=False)

    # Written out (dataclasses keeps an __init__ the class defines): the one dataclasses writes
    # then calls __post_init__, a second call for every event read or kept.
    def __init__(self, event_type: str, occurred_at: datetime, employer_id: str | None, data: dict[str, Any],
                 partner_id: str | None = None) -> None:
        self.event_type = event_type
        self.occurred_at = occurred_at
        self.employer_id = employer_id
        self.data = data
        self.partner_id = partner_id
        family = _FAMILY.get(event_type)
        if family is None:
            family = _FAMILY[event_type] = event_type.rsplit(".", 1)[0]
        self.family = family


# event type -> its family (a few dozen types; every event read or kept makes a LedgerEvent)
_FAMILY: dict[str, str] = {}


@dataclass(frozen=True)
class PartnerStatus:
    """What the referring partner sees (LIFECYCLE.md statuses), with why."""

    status: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class Projection:
    derived: domain.Derived
    facts: list[domain.Fact]
    record: ReferralRecord
    partner_status: PartnerStatus
    candidate_id: str | None
    demographics_sealed: dict[str, Any] | None


def facts_of(events: Iterable[LedgerEvent]) -> list[domain.Fact]:
    events = list(events)
    return _facts(events, [domain.fact_of_family(e.family, e.data) for e in events])


def _facts(events: list[LedgerEvent], names: list[str | None]) -> list[domain.Fact]:
    """The events' facts (`names`: each event's fact name, or None), each once, in a fixed order."""
    return _scoped_in_order((name, e.employer_id, e.data.get("attempt"))
                            for e, name in zip(events, names, strict=True) if name is not None)


def _scoped_in_order(scopes: Iterable[tuple[str, str | None, Any]]) -> list[domain.Fact]:
    """Each (fact name, employer, attempt) as its fact, each once, in a fixed order."""
    return sorted({domain.scoped(name, employer, attempt) for name, employer, attempt in scopes}, key=_fact_order)


def _facts_and_derived(events: list[LedgerEvent],
                        names: list[str | None]) -> tuple[list[domain.Fact], domain.Derived]:
    """`_facts` and `domain.derive` of them, remembered by each event's (fact name, employer,
    attempt): both are pure functions of those, which are few values shared by many referrals,
    and every projection derives them again. The attempt's type is in the key (1 and True are
    equal keys, not equal facts). What it returns is only read: the referrals with the same
    facts share it."""
    key = tuple((name, e.employer_id, attempt := e.data.get("attempt"), type(attempt))
                for e, name in zip(events, names, strict=True) if name is not None)
    try:
        return _derived_of(key)
    except TypeError:  # an unhashable value in odd data: made, not remembered
        return _derived_of.__wrapped__(key)


@functools.lru_cache(maxsize=16_384)
def _derived_of(key: tuple[tuple[str, str | None, Any, type], ...]) -> tuple[list[domain.Fact], domain.Derived]:
    facts = _scoped_in_order((name, employer, attempt) for name, employer, attempt, _ in key)
    return facts, domain.derive(facts)


def _fact_order(f: domain.Fact) -> tuple[str, str, int]:
    return f.name, f.employer_id or "", f.attempt or 0


def _ordered(events: Iterable[LedgerEvent]) -> list[LedgerEvent]:
    """A total order that does not depend on arrival: time, then type, then content.

    The content's key (the repr of the whole data) is costly and only needed where time and
    type tie, so it is computed for those events only; the order is the same as sorting by
    all three at once (both sorts are stable)."""
    out = sorted(events, key=_time_and_type)
    keys = [_time_and_type(e) for e in out]
    if len(set(keys)) == len(keys):
        return out
    i = 0
    while i < len(out) - 1:
        j = i + 1
        while j < len(out) and keys[j] == keys[i]:
            j += 1
        if j - i > 1:
            out[i:j] = sorted(out[i:j], key=_content)
        i = j
    return out


# The same order for the other things kept in the ledger (service requests).
in_order = _ordered


# An event's (time, type), read in C: every projection orders its events by it.
_time_and_type: Callable[[LedgerEvent], tuple[datetime, str]] = operator.attrgetter("occurred_at", "event_type")


def _content(e: LedgerEvent) -> str:
    return repr(sorted(e.data.items()))


def has_ties(events: Iterable[LedgerEvent]) -> bool:
    """Whether two events share their time and type (their order then depends on their data)."""
    keys = list(map(_time_and_type, events))
    return len(set(keys)) != len(keys)


def _latest(events: list[LedgerEvent], *families: str, employer: str | None = None) -> LedgerEvent | None:
    for e in reversed(events):
        if e.family in families and (employer is None or e.employer_id == employer):
            return e
    return None


# Every key of an event's data that `project` reads (tests/unit/test_outcomes_projection.py
# proves it on every event type): what the compact form keeps.
# The v2 placement's and the 1.2 check-in's keys (pay_basis, apprenticeship_registered,
# engagement_hours, end_date, schedule, promoted) are carried by no older event, so compact
# events kept before them are still exact; so are a conversion's (converted_on,
# from_employment_type: placement.converted is newer still); so are skills.gap_observed v2's
# `comparisons` (kept as which opening, in which occupation: `compact_data`).
INPUT_KEYS = frozenset({
    "apprenticeship_registered", "attempt", "benefits", "candidate_id", "checked_on", "comparisons", "consent",
    "converted_on", "credentials", "demographics_sealed", "employer_id", "employment_type", "end_date",
    "engagement_hours", "from_employment_type", "highest_degree", "hours_per_week", "job_title", "milestone_days",
    "missing_skills", "onet_soc_code", "opening_id", "partner_id", "pay_basis", "promoted", "reason", "schedule",
    "separated_on", "skills", "start_date", "still_employed", "target_onet_soc_code", "training", "wage",
})


def compact(event: LedgerEvent) -> LedgerEvent:
    """The event with only the data `project` reads."""
    return LedgerEvent(event.event_type, event.occurred_at, event.employer_id, compact_data(event.data),
                       event.partner_id)


def compact_data(data: dict[str, Any]) -> dict[str, Any]:
    """Of an event's data, what `project` reads: the keys in `INPUT_KEYS`, and of a skills-gap
    observation's comparisons (v2) only which opening, in which occupation (`_occupation`)."""
    out = {k: v for k, v in data.items() if k in INPUT_KEYS}
    comparisons = out.get("comparisons")
    if comparisons:
        out["comparisons"] = [{"opening_id": c.get("opening_id"), "onet_soc_code": c.get("onet_soc_code")}
                              for c in comparisons]
    return out


def jsonb_exact(value: Any) -> bool:
    """Whether `value` (parsed JSON) comes back from a jsonb column as the same Python value.

    jsonb keeps numbers as numeric: a float that pydantic writes in exponent notation (below
    1e-5, from 1e16) comes back as a plain decimal (an int, if it has no fraction), and -0.0
    as 0.0. Everything else JSON holds comes back equal (objects maybe in another key order,
    which `project` does not look at). The bounds here are narrower than pydantic's, to be safe."""
    # A walk with a stack, not a recursion of generators: every new event's data goes through
    # here. Anything but a float, dict, list or tuple (str, int, bool, None) comes back as it is.
    kind = type(value)
    if kind is float:
        return _float_exact(value)
    if kind is not dict and kind is not list and kind is not tuple:
        return True
    todo = [value]
    while todo:
        item = todo.pop()
        for v in item.values() if type(item) is dict else item:
            kind = type(v)
            if kind is float:
                if not _float_exact(v):
                    return False
            elif kind is dict or kind is list or kind is tuple:
                todo.append(v)
    return True


def _float_exact(value: float) -> bool:
    return math.isfinite(value) and (1e-4 <= abs(value) < 1e15 or (value == 0.0 and math.copysign(1.0, value) > 0))


def dump_input(event: LedgerEvent) -> str:
    """One compact event as kept (plain JSON: written and read by Python only, so exact).

    pydantic_core's encoder and parser (Rust) take a third and a half of the time json's do
    on these lists; what they write differs from json.dumps only in form (UTF-8 instead of
    \\u escapes, `1e16` for `1e+16`), and every value comes back as it went in, type and
    float bits included (tests/unit/test_outcomes_records_json.py). Rows written by json.dumps
    before read back the same way."""
    return to_json(
        [event.event_type, isoformat(event.occurred_at), event.employer_id, event.partner_id, event.data]).decode()


def dump_inputs(events: Iterable[LedgerEvent]) -> str:
    """Events as `load_inputs` reads them: a JSON array of `dump_input`s."""
    return "[" + ",".join(map(dump_input, events)) + "]"


def load_inputs(text: str) -> list[LedgerEvent]:
    return [
        LedgerEvent(event_type, _utc(datetime.fromisoformat(at)), employer_id, data, partner_id)
        for event_type, at, employer_id, partner_id, data in from_json(text)
    ]


def _utc(at: datetime) -> datetime:
    """`at.astimezone(UTC)`, without making a copy of a time already in UTC (as kept ones are)."""
    return at if at.tzinfo is UTC else at.astimezone(UTC)


_FACT_OF_FAMILY = domain.FACT_OF_FAMILY
_CHECKIN = "retention.checked"  # the one family whose fact depends on the data (`domain.fact_of_family`)


def project(referral_id: str, events: Iterable[LedgerEvent]) -> Projection:
    ordered = _ordered(events)
    # `domain.fact_of_family`, whose data matters for a check-in only, without a call an event.
    names = [_FACT_OF_FAMILY.get(e.family) if e.family != _CHECKIN else domain.fact_of_family(e.family, e.data)
             for e in ordered]
    facts, derived = _facts_and_derived(ordered, names)
    submitted = _latest(ordered, "referral.submitted")
    profile = _latest(ordered, "referral.submitted", "referral.updated")
    placement_event = _latest(ordered, "placement.reported")
    hired_at = placement_event.employer_id if placement_event else None
    converted = _latest(ordered, "placement.converted", employer=hired_at) if hired_at else None
    employer = hired_at or derived.employer_id
    reached, retention = _reached(ordered, names), _retention(ordered, hired_at)
    separated_on = _separated_on(ordered, hired_at)
    details = pipeline.placed_details(reached, retention, separated_on is not None)
    record = ReferralRecord(
        referral_id=referral_id,
        partner_id=_partner(ordered),
        referred_at=submitted.occurred_at if submitted else ordered[0].occurred_at,
        occupation=_occupation(ordered, placement_event, employer, submitted),
        employer_id=employer,
        reached=reached,
        status=derived.status,
        exit=_exit(derived, facts),
        placement=_placement(placement_event),
        retention=retention,
        separated_on=separated_on,
        checkins=_checkins(ordered, hired_at),
        conversion=_conversion(converted),
        aggregate_consent=bool(submitted and (submitted.data.get("consent") or {}).get("aggregate_reports")),
        skills_added=_skills_added(submitted, profile),
        outcome=derived.outcome,
        declined_by=derived.declined_by,
        flags=pipeline.flags(derived.outcome, employer, derived.declined_by, details),
        **_profile(profile),
    )
    return Projection(
        derived=derived,
        facts=facts,
        record=record,
        partner_status=PartnerStatus(derived.status, _why(derived, ordered, employer, record)),
        candidate_id=(submitted or profile).data.get("candidate_id") if (submitted or profile) else None,
        demographics_sealed=submitted.data.get("demographics_sealed") if submitted else None,
    )


def _partner(events: list[LedgerEvent]) -> str:
    return next((e.partner_id or e.data["partner_id"] for e in events if e.partner_id or e.data.get("partner_id")), "")


def _reached(events: list[LedgerEvent], names: list[str | None]) -> dict[str, datetime]:
    """When each funnel stage was first reached (by its evidence: a later stage's fact
    shows an earlier stage was reached by then); `names`: each event's fact, or None."""
    reached: dict[str, datetime] = {}
    for e, name in zip(events, names, strict=True):
        if name is None:
            continue
        for stage in _EVIDENCED[name]:
            if stage not in reached:
                reached[stage] = e.occurred_at
    return {stage: reached[stage] for stage in domain.FUNNEL if stage in reached}


# fact name -> the funnel stages it is evidence of (in funnel order)
_EVIDENCED: dict[str, tuple[str, ...]] = {
    name: tuple(stage for stage in domain.FUNNEL if name in domain.EVIDENCE[stage])
    for name in {*domain.FACT_OF_FAMILY.values(), domain.RETAINED_90}
}


def _exit(derived: domain.Derived, facts: list[domain.Fact]) -> str | None:
    for stage, exit_ in (("withdrawn", "withdrawn"), ("declined", "declined"), ("unmatched", "unmatched"),
                         ("closed", "offer_declined")):
        if stage in derived.stages:
            return exit_
    return "separated" if any(f.name == "separated" for f in facts) else None


def _occupation(
    events: list[LedgerEvent], placement: LedgerEvent | None, employer: str | None, submitted: LedgerEvent | None
) -> str | None:
    """The placement's occupation, else the routed opening's (from routing's skills-gap
    observation of that decision), else the target the partner named."""
    if placement is not None:
        return placement.data.get("onet_soc_code")
    routed = _latest(events, "referral.routed", employer=employer) if employer else None
    if routed is not None:
        opening_id = routed.data.get("opening_id")
        for e in reversed(events):
            if e.family == "skills.gap_observed":
                # v1: one opening compared with, in the data; v2: one or more, as comparisons.
                for c in e.data.get("comparisons") or (e.data,):
                    if c.get("opening_id") == opening_id:
                        return c.get("onet_soc_code")
    return submitted.data.get("target_onet_soc_code") if submitted else None


def _placement(event: LedgerEvent | None) -> Placement | None:
    """The placement's terms, from a v1 or a v2 placement.reported (the ledger keeps both as
    received): a v1 one as its upcast v2 form (`pay_basis` hourly for an hourly wage, else
    salary; no schedule), so the same hire gives the same record either way."""
    if event is None:
        return None
    d = event.data
    wage, benefits, schedule = d.get("wage"), d.get("benefits") or {}, d.get("schedule") or {}
    hours, basis = d.get("hours_per_week"), d.get("pay_basis")
    if basis is None and wage is not None:  # v1
        basis = v1_pay_basis(wage["unit"]).value
    end = d.get("end_date")
    return Placement(
        employer_id=d["employer_id"],
        job_title=d["job_title"],
        onet_soc_code=d["onet_soc_code"],
        wage_amount=Decimal(str(wage["amount"])) if wage else Decimal(0),
        wage_unit=wage["unit"] if wage else "hour",
        currency=wage.get("currency", "USD") if wage else "USD",
        hours_per_week=None if hours is None else float(hours),
        employment_type=d["employment_type"],
        health=bool(benefits.get("health")),
        retirement=bool(benefits.get("retirement")),
        paid_leave=bool(benefits.get("paid_leave")),
        start_date=date.fromisoformat(d["start_date"]),
        pay_basis=basis,
        paid=basis != "unpaid",
        apprenticeship_registered=d.get("apprenticeship_registered"),
        engagement_hours=d.get("engagement_hours"),
        end_date=date.fromisoformat(end) if end else None,
        dental=bool(benefits.get("dental")),
        vision=bool(benefits.get("vision")),
        tuition=bool(benefits.get("tuition")),
        childcare=bool(benefits.get("childcare")),
        other_benefits=tuple(benefits.get("other") or ()),
        predictable_schedule=schedule.get("predictable"),
        advance_notice_days=schedule.get("advance_notice_days"),
        variable_hours=schedule.get("variable_hours", False) if schedule else None,
        min_hours_per_week=_float_or_none(schedule.get("min_hours_per_week")),
        max_hours_per_week=_float_or_none(schedule.get("max_hours_per_week")),
    )


def _conversion(event: LedgerEvent | None) -> Conversion | None:
    """A conversion at the hire's employer (the latest, if ever more than one): its terms read as
    a v2 placement's, since placement.converted carries the same terms."""
    if event is None:
        return None
    terms = _placement(event)
    assert terms is not None
    return Conversion(
        converted_on=date.fromisoformat(event.data["converted_on"]),
        from_employment_type=event.data["from_employment_type"],
        to_employment_type=terms.employment_type,
        terms=terms,
    )


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


def _retention(events: list[LedgerEvent], employer: str | None) -> dict[int, bool]:
    checks = [e for e in events if e.family == "retention.checked" and e.employer_id == employer]
    return {int(e.data["milestone_days"]): bool(e.data["still_employed"]) for e in checks}


def _checkins(events: list[LedgerEvent], employer: str | None) -> tuple[Checkin, ...]:
    """Every check-in with the hire's employer as it was reported (1.1: wage and hours; 1.2
    also the title, promotion, pay basis, benefits and schedule), in the ledger's order."""
    out = []
    for e in events:
        if e.family != "retention.checked" or e.employer_id != employer:
            continue
        d = e.data
        wage, benefits, schedule = d.get("wage"), d.get("benefits"), d.get("schedule")
        out.append(Checkin(
            milestone_days=int(d["milestone_days"]),
            still_employed=bool(d["still_employed"]),
            checked_on=date.fromisoformat(d["checked_on"]),
            wage_amount=Decimal(str(wage["amount"])) if wage else None,
            wage_unit=wage["unit"] if wage else None,
            currency=wage.get("currency", "USD") if wage else None,
            hours_per_week=_float_or_none(d.get("hours_per_week")),
            job_title=d.get("job_title"),
            promoted=d.get("promoted"),
            pay_basis=d.get("pay_basis"),
            health=benefits.get("health", False) if benefits else None,
            paid_leave=benefits.get("paid_leave", False) if benefits else None,
            retirement=benefits.get("retirement", False) if benefits else None,
            predictable_schedule=schedule.get("predictable") if schedule else None,
            advance_notice_days=schedule.get("advance_notice_days") if schedule else None,
            variable_hours=schedule.get("variable_hours", False) if schedule else None,
        ))
    return tuple(out)


def _separated_on(events: list[LedgerEvent], employer: str | None) -> date | None:
    separation = _latest(events, "separation.reported", employer=employer)
    if separation is not None:
        return date.fromisoformat(separation.data["separated_on"])
    ended = [e for e in events if e.family == "retention.checked" and e.employer_id == employer
             and not e.data.get("still_employed", True)]
    return date.fromisoformat(ended[0].data["checked_on"]) if ended else None


def _profile(profile: LedgerEvent | None) -> dict[str, Any]:
    """Training, degree and credentials as the partner last stated them (gone once redacted)."""
    if profile is None:
        return {}
    training = profile.data.get("training") or {}
    completed = training.get("completed_on")
    return {
        "program": training.get("program"),
        "provider": training.get("provider"),
        "training_completed_on": date.fromisoformat(completed) if completed else None,
        "highest_degree": profile.data.get("highest_degree"),
        "credentials": tuple(
            Credential(c["name"], c.get("status", "completed"),
                       date.fromisoformat(c["awarded_on"]) if c.get("awarded_on") else None)
            for c in profile.data.get("credentials") or []
        ),
    }


def _skill_keys(event: LedgerEvent | None) -> set[str]:
    if event is None:
        return set()
    return {s.get("id") or " ".join(str(s.get("text", "")).casefold().split())
            for s in event.data.get("skills") or [] if isinstance(s, dict)}


def _skills_added(submitted: LedgerEvent | None, profile: LedgerEvent | None) -> int:
    """Skills in the latest profile that the referral did not have when submitted."""
    if submitted is None or profile is None or profile is submitted:
        return 0
    return len(_skill_keys(profile) - _skill_keys(submitted))


def _why(derived: domain.Derived, events: list[LedgerEvent], employer: str | None, record: ReferralRecord) -> dict:
    """The details a partner needs with the status (LIFECYCLE.md: missing skills, the decline
    reason, the kind of job offered, the job's title, kind, wage band and benefits, after a
    conversion the new job's, why it closed)."""
    status = derived.status
    if status == "not_matched":
        unmatched = _latest(events, "referral.unmatched")
        return {"missing_skills": unmatched.data.get("missing_skills", []) if unmatched else []}
    if status == "declined":
        declined = _latest(events, "referral.declined", employer=employer)
        return {"reason": declined.data.get("reason")} if declined else {}
    if status == "offered":
        offer = _latest(events, "offer.extended", employer=employer)
        return {"employment_type": offer.data["employment_type"]} if offer and offer.data.get("employment_type") else {}
    if status in ("hired", "retained_90_days") and record.placement is not None:
        p = record.current_placement  # after a conversion, the job as it is now (its kind, band, benefits)
        assert p is not None
        why = {"job_title": p.job_title, "employment_type": p.employment_type}
        band = placement_band(p)
        if band is not None:
            why["wage_band"] = band
        why["benefits"] = {"health": p.health, "retirement": p.retirement, "paid_leave": p.paid_leave}
        why["start_date"] = isoformat(p.start_date)
        return why
    if status == "closed":
        ended = _latest(events, "offer.declined", "separation.reported")
        if ended is not None:
            return {"reason": f"{'offer declined' if ended.family == 'offer.declined' else 'separated'}: "
                              f"{ended.data.get('reason')}"}
        return {"reason": "separated"}
    if status == "withdrawn":
        withdrawn = _latest(events, "referral.withdrawn")
        return {"reason": withdrawn.data.get("reason")} if withdrawn else {}
    return {}


WAGE_BANDS = (Decimal(15), Decimal(20), Decimal(25), Decimal(30), Decimal(40), Decimal(50))


UNPAID = "unpaid"  # the band of an unpaid placement or check-in


def placement_band(p: Placement) -> str | None:
    """The band a partner is told of a hire's pay: "unpaid", a range of the hourly wage, or
    None when the hourly wage cannot be told (a salary without hours)."""
    if not p.paid:
        return UNPAID
    hourly = p.hourly_wage
    return None if hourly is None else wage_band(hourly)


def wage_band(hourly: Decimal) -> str:
    """A range, not the exact wage: what the partner needs to know about a hire."""
    low = Decimal(0)
    for high in WAGE_BANDS:
        if hourly < high:
            return f"${low}-{high}/hour" if low else f"under ${high}/hour"
        low = high
    return f"${low}/hour and more"


def without_demographics(record: ReferralRecord) -> ReferralRecord:
    return record if record.demographics is None else replace(record, demographics=None)


# --- enrollments (issue 15 slice 6) -----------------------------------------------------------

# Bump when what `project_enrollment` derives changes: rows of an older one are stale.
ENROLLMENT_VERSION = 1


@dataclass(frozen=True)
class EnrollmentProjection:
    record: EnrollmentRecord
    demographics_sealed: dict[str, Any] | None  # only with consent to aggregate reports


def project_enrollment(enrollment_id: str, provider: str, program: str,
                       events: Iterable[LedgerEvent]) -> EnrollmentProjection:
    """An enrollment from its training events (as stored, maybe redacted), in any order.

    Completion and exit are both kept when both were reported; the status is the later of the
    two (completion when on the same day: a participant who finished the program completed it).
    Progress alone makes the status in_training."""
    enrolled_on: date | None = None
    candidate_id: str | None = None
    consent = shared = False
    sealed: dict[str, Any] | None = None
    completed_on: date | None = None
    exited: tuple[date, str] | None = None
    credentials: dict[tuple[str, str | None, str | None, date], None] = {}
    percent: int | None = None
    milestones: list[str] = []
    for e in _ordered(events):
        d = e.data
        candidate_id = d.get("candidate_id") or candidate_id
        if e.family == "training.enrolled":
            enrolled_on = date.fromisoformat(d["enrolled_on"])
            consent = bool((d.get("consent") or {}).get("aggregate_reports"))
            shared = bool((d.get("consent") or {}).get("share_outcomes_with_provider"))
            sealed = d.get("demographics_sealed") if consent else None
        elif e.family == "training.progressed":
            milestones.append(d["milestone"])
            if d.get("percent_complete") is not None:
                percent = d["percent_complete"]
        elif e.family == "training.completed":
            on = date.fromisoformat(d["completed_on"])
            completed_on = on if completed_on is None else min(completed_on, on)
        elif e.family == "training.exited":
            exited = (date.fromisoformat(d["exited_on"]), d["reason"])
        elif e.family == "credential.earned":
            # Redacted by an erasure: the credential is gone, that one was earned stays.
            c = d.get("credential") or {"name": ERASED_CREDENTIAL}
            credentials[(c["name"], c.get("issuer"), c.get("ctdl_id"), date.fromisoformat(d["awarded_on"]))] = None
    if completed_on is not None and (exited is None or completed_on >= exited[0]):
        status = "completed"
    elif exited is not None:
        status = "exited"
    else:
        status = "in_training" if milestones else "enrolled"
    record = EnrollmentRecord(
        enrollment_id=enrollment_id,
        provider=provider,
        program=program,
        candidate_id=candidate_id,
        enrolled_on=enrolled_on,
        status=status,
        completed_on=completed_on,
        exited_on=exited[0] if exited else None,
        exit_reason=exited[1] if exited else None,
        credentials=tuple(EarnedCredentialRecord(*k) for k in sorted(credentials, key=lambda k: (k[3], k[0], k[1] or "", k[2] or ""))),
        percent_complete=percent,
        milestones=tuple(milestones),
        aggregate_consent=consent,
        outcomes_shared=shared,
    )
    return EnrollmentProjection(record, sealed)
