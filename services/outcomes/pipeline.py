"""The funnel's definitions, one place for every figure it prints (docs/pipeline.md).

Pure: the API's counts (`store.funnel_counts`, one SQL statement) and the report's
(`reports/funnel.py`) are the same definitions, and `summarize` is the reference both are
tested against.

- **Stages are cumulative.** A referral is at stage S if it reached S or any later stage
  (`cumulative`): a placement reported without a recorded interview counts as interviewed.
  So no stage counts more than the one before it. How many referrals have an interview
  actually recorded is its own line (`interviews_recorded`).
- **Outcomes are exclusive.** Each referral has exactly one (`domain.outcome_of`), where it
  stands now, so they add up to the referrals made. `placed` has sub-lines that are not
  exclusive (retained at 90 days, at 180 days, separated).
- **Flags** stand beside them: declined at least once (by any employer, at any attempt), and
  declined then placed (by another employer: routing never sends a referral back).
- **People.** A person is a `person_key`: the network's candidate id (the same person
  referred by two partners is one person), after an erasure "erased:" and the erasure
  event's id. A person reached a stage if any of their referrals did; their outcome is the
  best of their referrals' (`OUTCOMES` is in that order); they were declined then placed
  elsewhere if one employer declined a referral of theirs and another placed them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from contracts.events import CONVERTS_FROM, CONVERTS_TO, EmploymentKind
from services.outcomes import records

DEFINITIONS = "docs/pipeline.md"  # where every number is defined (the API links it)

STAGES = records.FUNNEL
INTERVIEWS_RECORDED = "interviews_recorded"
# Exclusive, best first: a person's outcome is the first of their referrals' in this order.
OUTCOMES = (
    "placed",
    "in_progress",
    "pending",
    "offer_declined",
    "declined",
    "not_matched_after_decline",
    "not_matched_never_routed",
    "withdrawn",
)
# Sub-lines of placed (not exclusive: retained at 90 days and separated later is both).
PLACED_DETAILS = ("retained_90_days", "retained_180_days", "separated")
DECLINED_AT_LEAST_ONCE = "declined_at_least_once"
DECLINED_THEN_PLACED = "declined_then_placed"
DECLINED_THEN_PLACED_ELSEWHERE = "declined_then_placed_elsewhere"
REFERRAL_FLAGS = (DECLINED_AT_LEAST_ONCE, DECLINED_THEN_PLACED)
PEOPLE_FLAGS = (DECLINED_AT_LEAST_ONCE, DECLINED_THEN_PLACED_ELSEWHERE)
# A referral's flags as stored (referral_facts.flags, ReferralRecord.flags): both kinds.
FLAGS = REFERRAL_FLAGS + PLACED_DETAILS

ERASED_PREFIX = "erased:"
NO_EMPLOYER = "-"  # as domain.NO_EMPLOYER (which imports nothing of this module's)


@dataclass(frozen=True)
class Entry:
    """One referral as the funnel counts it."""

    person_key: str
    evidence: frozenset[str]  # stages (STAGES names) with a fact showing them
    outcome: str
    employer_id: str  # of the hire or the current routing (NO_EMPLOYER for none)
    declined_by: tuple[str, ...] = ()  # every employer that declined it (NO_EMPLOYER: one not named)
    flags: tuple[str, ...] = ()  # FLAGS that hold (`flags`)


def furthest(evidence: Iterable[str]) -> int:
    """The index in STAGES of the furthest stage with evidence (0, referred, for none)."""
    return max((STAGES.index(s) for s in evidence if s in STAGES), default=0)


def cumulative(evidence: Iterable[str]) -> tuple[str, ...]:
    """Every stage up to the furthest one reached."""
    return STAGES[:furthest(evidence) + 1]


def person_key(candidate_id: str | None, referral_id: str, erasure_id: str | None = None) -> str:
    """Who a referral is about, for counting people: after an erasure the erasure event's id
    (a rebuild replays the same event, so the same key), else the network's candidate id,
    else (no referral event seen yet) the referral itself."""
    if erasure_id is not None:
        return ERASED_PREFIX + erasure_id
    return candidate_id or f"referral:{referral_id}"


def flags(outcome: str, employer_id: str | None, declined_by: Iterable[str], details: Iterable[str] = ()) -> tuple[str, ...]:
    """A referral's flags: declined at least once, declined then placed (at another employer),
    and when placed the sub-lines that hold (`details`, of PLACED_DETAILS)."""
    declined_by = tuple(declined_by)
    held = set(details) if outcome == "placed" else set()
    if declined_by:
        held.add(DECLINED_AT_LEAST_ONCE)
        if outcome == "placed" and any(e != (employer_id or NO_EMPLOYER) for e in declined_by):
            held.add(DECLINED_THEN_PLACED)
    return tuple(f for f in FLAGS if f in held)


def placed_details(reached: Iterable[str], retention: Mapping[int, bool], separated: bool) -> tuple[str, ...]:
    """The sub-lines of placed a hire shows: retained at 90 days (the stage), still employed at
    a check-in at 180 days or later, separated."""
    held = {
        "retained_90_days": "retained_90_days" in set(reached),
        "retained_180_days": any(days >= 180 and kept for days, kept in retention.items()),
        "separated": separated,
    }
    return tuple(d for d in PLACED_DETAILS if held[d])


def of_record(record: records.ReferralRecord) -> Entry:
    """A report's record as the funnel counts it (its `person_key` set by the store)."""
    return Entry(
        person_key=record.person_key or f"referral:{record.referral_id}",
        evidence=frozenset(record.reached),
        outcome=outcome_of_record(record),
        employer_id=record.employer_id or NO_EMPLOYER,
        declined_by=record.declined_by,
        flags=record.flags,
    )


def outcome_of_record(record: records.ReferralRecord) -> str:
    """The record's outcome; for a record without one (not made by a projection), what its
    status and stages say (`domain.outcome_of`'s rule)."""
    if record.outcome is not None:
        return record.outcome
    if record.status == "closed":
        return "placed" if record.placement is not None else "offer_declined"
    if record.status == "not_matched":
        return "not_matched_after_decline" if "routed" in record.reached else "not_matched_never_routed"
    return {"hired": "placed", "retained_90_days": "placed", "withdrawn": "withdrawn", "declined": "declined",
            "submitted": "pending"}.get(record.status, "in_progress")


def best(outcomes: Iterable[str]) -> str:
    return min(outcomes, key=OUTCOMES.index)


def empty() -> dict[str, Any]:
    """A summary of nothing: every line, zero."""
    def side(flag_names: tuple[str, ...]) -> dict[str, Any]:
        return {
            "stages": dict.fromkeys(STAGES, 0),
            INTERVIEWS_RECORDED: 0,
            "outcomes": dict.fromkeys(OUTCOMES, 0),
            "placed": dict.fromkeys(PLACED_DETAILS, 0),
            "flags": dict.fromkeys(flag_names, 0),
        }

    return {"referrals": side(REFERRAL_FLAGS), "people": side(PEOPLE_FLAGS)}


def summarize(entries: Iterable[Entry]) -> dict[str, Any]:
    """Referrals and people per cumulative stage, per outcome, per sub-line of placed and per
    flag (the shape of `empty`)."""
    entries = list(entries)
    out = empty()
    refs, people = out["referrals"], out["people"]
    by_person: dict[str, list[Entry]] = {}
    for e in entries:
        by_person.setdefault(e.person_key, []).append(e)
        for s in cumulative(e.evidence):
            refs["stages"][s] += 1
        refs[INTERVIEWS_RECORDED] += "interviewed" in e.evidence
        refs["outcomes"][e.outcome] += 1
        for f in e.flags:
            (refs["placed"] if f in PLACED_DETAILS else refs["flags"])[f] += 1
    for mine in by_person.values():
        for s in STAGES[:max(furthest(e.evidence) for e in mine) + 1]:
            people["stages"][s] += 1
        people[INTERVIEWS_RECORDED] += any("interviewed" in e.evidence for e in mine)
        people["outcomes"][best(e.outcome for e in mine)] += 1
        held = {f for e in mine for f in e.flags}
        for d in PLACED_DETAILS:
            people["placed"][d] += d in held
        people["flags"][DECLINED_AT_LEAST_ONCE] += DECLINED_AT_LEAST_ONCE in held
        people["flags"][DECLINED_THEN_PLACED_ELSEWHERE] += placed_elsewhere(mine)
    return out


def placed_elsewhere(mine: list[Entry]) -> bool:
    """One employer declined a referral of this person and another placed one."""
    hires = {e.employer_id for e in mine if e.outcome == "placed"}
    declined = {d for e in mine for d in e.declined_by}
    return any(h != d for h in hires for d in declined)


def from_counts(rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """`store.funnel_counts`' rows (key, kind, name, referrals, people) as a summary per key."""
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r["key"] is None:
            continue
        summary = out.setdefault(r["key"], empty())
        for side in ("referrals", "people"):
            n = r[side]
            if n is None:
                continue
            if r["kind"] == INTERVIEWS_RECORDED:
                summary[side][INTERVIEWS_RECORDED] = n
            elif r["name"] in summary[side][r["kind"]]:
                summary[side][r["kind"]][r["name"]] = n
    return out


# --- the coalition funnel from training (issue 15 item 5, slice 6) -------------------------------
#
# People who enrolled in training, through training (cumulative, as the referral stages: a
# credential earned counts as training completed, and `completions_recorded` says how many
# completions were actually reported), then how far the same people went with their referrals,
# joined by person_key (docs/pipeline.md, "From training").

TRAINING_STAGES = ("enrolled", "completed_training", "credential_earned")
COMPLETIONS_RECORDED = "completions_recorded"
# After training, the referral stages of the same people, then 180-day retention (a sub-line of
# placed, which for one person implies 90 days only when the 90-day check-in was reported: it
# is counted as reached if they reached 90 days or were still employed at 180).
JOB_STAGES = (*STAGES, "retained_180_days")
EMPLOYMENT_TYPES = ("full_time", "part_time", "apprenticeship", "internship", "micro_internship")


@dataclass(frozen=True)
class Trainee:
    """One enrollment as the coalition funnel counts it."""

    person_key: str
    status: str  # enrolled | in_training | completed | exited (records.EnrollmentRecord)
    credential: bool  # earned at least one credential through it


@dataclass(frozen=True)
class Hire:
    """One referral of an enrolled person as the coalition funnel counts it."""

    person_key: str
    evidence: frozenset[str]  # STAGES reached
    flags: tuple[str, ...] = ()  # FLAGS (retained_180_days among them)
    employment_types: tuple[str, ...] = ()  # of its placement and of its conversion, if any


def trainee_of(person: str, record: records.EnrollmentRecord) -> Trainee:
    return Trainee(person, record.status, bool(record.credentials))


def hire_of(record: records.ReferralRecord) -> Hire:
    """A report's record (its `person_key` set by the store) as the coalition funnel counts it."""
    types = [p.employment_type for p in (record.placement, record.conversion.terms if record.conversion else None)
             if p is not None]
    return Hire(record.person_key or f"referral:{record.referral_id}", frozenset(record.reached), record.flags,
                tuple(dict.fromkeys(types)))


def empty_pipeline() -> dict[str, Any]:
    return {
        "people": {
            "training": dict.fromkeys(TRAINING_STAGES, 0),
            COMPLETIONS_RECORDED: 0,
            "jobs": dict.fromkeys(JOB_STAGES, 0),
            "placed_by_type": dict.fromkeys(EMPLOYMENT_TYPES, 0),
        },
        "enrollments": 0,
    }


def pipeline_funnel(trainees: Iterable[Trainee], hires: Iterable[Hire]) -> dict[str, Any]:
    """People who enrolled, per training stage (cumulative), and per stage their referrals
    reached (cumulative, the furthest of their referrals), per employment type they were placed
    in (not exclusive: an intern later hired full time is in both), counted once each. Referrals
    of people who never enrolled are not counted here (the referral funnel counts them)."""
    out = empty_pipeline()
    people = out["people"]
    trained: dict[str, set[str]] = {}
    for t in trainees:
        out["enrollments"] += 1
        held = trained.setdefault(t.person_key, set())
        if t.status == "completed":
            held.add(COMPLETIONS_RECORDED)
        if t.credential:
            held.add("credential_earned")
    for held in trained.values():
        furthest_training = 2 if "credential_earned" in held else 1 if COMPLETIONS_RECORDED in held else 0
        for s in TRAINING_STAGES[:furthest_training + 1]:
            people["training"][s] += 1
        people[COMPLETIONS_RECORDED] += COMPLETIONS_RECORDED in held
    mine: dict[str, list[Hire]] = {}
    for h in hires:
        if h.person_key in trained:
            mine.setdefault(h.person_key, []).append(h)
    for theirs in mine.values():
        retained_180 = any("retained_180_days" in h.flags for h in theirs)
        reached = len(JOB_STAGES) if retained_180 else max(furthest(h.evidence) for h in theirs) + 1
        for s in JOB_STAGES[:reached]:
            people["jobs"][s] += 1
        for kind in {k for h in theirs for k in h.employment_types}:
            if kind in people["placed_by_type"]:
                people["placed_by_type"][kind] += 1
    return out


@dataclass(frozen=True)
class Enrolled:
    """One enrollment as the reports' coalition funnel groups it (by provider, program and
    credential: reports/coalition.py)."""

    trainee: Trainee
    provider: str
    program: str
    credentials: tuple[str, ...] = ()  # names of the credentials earned through it


def enrolled_of(person: str, record: records.EnrollmentRecord) -> Enrolled:
    return Enrolled(trainee_of(person, record), record.provider, record.program,
                    tuple(dict.fromkeys(c.name for c in record.credentials if not c.erased)))


# --- conversions (issue 15 item 2) ---------------------------------------------------------------
#
# A person placed in work-based learning who then gets a full-time or part-time job has
# converted: at the same employer, when that employer reports it on the same referral
# (placement.converted: `ReferralRecord.conversion`); **at another employer**, when a different
# referral of the same person (person_key) is placed full time or part time at a different
# employer starting on or after the work-based learning's start (`conversions_elsewhere`).
# docs/pipeline.md, "Conversions".

# The kinds a conversion goes from and to (the contract's, for either employer).
WORK_BASED_LEARNING = tuple(kind.value for kind in EmploymentKind if kind in CONVERTS_FROM)
HIRED_INTO = tuple(kind.value for kind in EmploymentKind if kind in CONVERTS_TO)


@dataclass(frozen=True)
class Job:
    """One placed referral as conversions count it."""

    referral_id: str
    person_key: str
    employer_id: str
    employment_type: str  # of the placement as reported
    start_date: date
    converted: bool = False  # converted into a hire at the same employer (placement.converted)


def job_of(record: records.ReferralRecord) -> Job | None:
    """A report's placed record (its `person_key` set by the store) as a Job; None unplaced."""
    p = record.placement
    if p is None:
        return None
    return Job(record.referral_id, record.person_key or f"referral:{record.referral_id}", p.employer_id,
               p.employment_type, p.start_date, record.conversion is not None)


def conversions_elsewhere(jobs: Iterable[Job]) -> dict[str, str]:
    """Work-based learning referral id -> the referral id of the person's later hire at another
    employer, **at most one per person**: their first work-based learning placement (start date,
    then referral id) not converted at its own employer that a full-time or part-time placement
    of another referral, at a different employer, starting on or after it, follows (the first
    such hire). A person converted at the same employer on one placement and hired elsewhere
    after another is counted in both."""
    by_person: dict[str, list[Job]] = {}
    for j in jobs:
        by_person.setdefault(j.person_key, []).append(j)
    out: dict[str, str] = {}
    for mine in by_person.values():
        ordered = sorted(mine, key=lambda j: (j.start_date, j.referral_id))
        hires = [j for j in ordered if j.employment_type in HIRED_INTO]
        for learning in (j for j in ordered if j.employment_type in WORK_BASED_LEARNING and not j.converted):
            hire = next((h for h in hires if h.referral_id != learning.referral_id
                         and h.employer_id != learning.employer_id and h.start_date >= learning.start_date), None)
            if hire is not None:
                out[learning.referral_id] = hire.referral_id
                break
    return out


def hires_elsewhere(placed: Iterable[records.ReferralRecord]) -> dict[str, records.ReferralRecord]:
    """`conversions_elsewhere` over report records: work-based learning referral id -> the record
    of the hire at another employer."""
    placed = list(placed)
    by_id = {r.referral_id: r for r in placed}
    jobs = [j for r in placed if (j := job_of(r)) is not None]
    return {learning: by_id[hire] for learning, hire in conversions_elsewhere(jobs).items()}
