"""WIOA Credential Attainment and Measurable Skill Gains over training enrollments (issue 15).

WIOA sec. 116(b)(2)(A)(i)(IV) and (V); methods as in TEGL 10-16 (Change 2). Both indicators are
over participants in education or training, which the ledger now holds as enrollments
(`records.EnrollmentRecord`, projected from training.* and credential.earned). The unit counted
is the **enrollment** (one participant's period of participation in one program, as PIRL counts
periods of participation); `people` says how many people they are.

- Exit (PIRL 901) = the enrollment's end: `completed_on` when its status is completed, else
  `exited_on` when it is exited (projection: the status is the later of the two). Enrollments
  still enrolled or in training are not in the exit cohort (`not_in_cohort`).
- Credential Attainment: exiters with a credential earned through the enrollment
  (credential.earned) awarded during participation (on or after `enrolled_on`) or within one
  year after exit, over exiters whose year after exit has passed by `as_of` (the others are
  `not_yet_measurable`; `as_of` None measures every exiter).
- Measurable Skill Gains: enrollments with at least one reported milestone that is a WIOA skill
  gain type (`MSG_MILESTONES`: skills_gain and exam_passed as Skills Progression, PIRL 1810;
  module_completed as a Training Milestone, 1809; `other` is not one). With `as_of`, over the
  program year (1 July to 30 June) holding it, up to `as_of`: enrollments in training during it
  (begun by `as_of`, not exited before the year began), with a skill gain dated in it (the
  training.progressed event's `as_of`, `Participation.gains_on`). Without `as_of`: every
  enrollment, with a skill gain at any time.

Suppression (`threshold`, a provider's report): by groups in people, as the funnels'
(reports/groups.py); a group or total of 1 to `threshold` people is suppressed whole.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from services.outcomes.records import EnrollmentRecord
from services.outcomes.reports.groups import people, suppressed_groups
from services.outcomes.reports.stats import rate
from services.outcomes.reports.wioa import _indicator, _pirl, one_year_after

DIMENSIONS = ("provider", "program")
# Training progress that is a WIOA measurable skill gain, by PIRL type.
MSG_MILESTONES = {"skills_gain": 1810, "exam_passed": 1810, "module_completed": 1809}


@dataclass(frozen=True)
class Participation:
    """One enrollment as the indicators count it (reports/inputs.training_participations)."""

    person_key: str
    record: EnrollmentRecord
    # The days of its skill-gain milestones (MSG_MILESTONES), from its training.progressed events;
    # None when not read: then a milestone counts on any day.
    gains_on: tuple[date, ...] | None = None


def program_year(day: date) -> tuple[date, date]:
    """The WIOA program year holding `day`: 1 July to 30 June."""
    start = date(day.year if day.month >= 7 else day.year - 1, 7, 1)
    return start, date(start.year + 1, 6, 30)


def exit_on(record: EnrollmentRecord) -> date | None:
    """The enrollment's exit date (PIRL 901), None while it lasts."""
    if record.status == "completed":
        return record.completed_on
    if record.status == "exited":
        return record.exited_on
    return None


def attained(record: EnrollmentRecord) -> bool:
    """A credential earned through it during participation or within one year after exit."""
    ended = exit_on(record)
    return ended is not None and any(
        (record.enrolled_on is None or c.awarded_on >= record.enrolled_on) and c.awarded_on <= one_year_after(ended)
        for c in record.credentials
    )


def skill_gain(p: Participation, since: date | None = None, until: date | None = None) -> bool:
    """A skill-gain milestone reported for it, dated from `since` to `until` when given."""
    if p.gains_on is None or since is None or until is None:
        return any(m in MSG_MILESTONES for m in p.record.milestones)
    return any(since <= day <= until for day in p.gains_on)


def in_training_during(record: EnrollmentRecord, since: date, until: date) -> bool:
    """Begun by `until` and not exited before `since`."""
    ended = exit_on(record)
    return (record.enrolled_on is None or record.enrolled_on <= until) and (ended is None or ended >= since)


CREDENTIAL_METHOD = (
    "Enrollments that ended (completed, or exited) with a credential earned through them (credential.earned)"
    " awarded on or after enrollment and at most one year after exit, over those that ended whose year after exit"
    " has passed. Proxy: every credential is taken as a recognized one (PIRL 1800's type is not reported), a"
    " secondary diploma's employment-or-education condition is not applied, and no exit is excluded (WIOA"
    " excludes exits for medical treatment, institutionalization, death or reserve duty)."
)
MSG_METHOD = (
    "Enrollments with a reported training milestone that is a skill gain (skills_gain or exam_passed: Skills"
    " Progression; module_completed: Training Milestone) dated in the program year (1 July - 30 June) holding as_of,"
    " up to as_of, over enrollments in training during it (without as_of: every enrollment, a gain on any day)."
    " Proxy: the provider's report, not a documented assessment."
)


def _counts(enrollments: list[Participation], as_of: date | None) -> dict[str, Any]:
    cohort = [p.record for p in enrollments if exit_on(p.record) is not None]
    measured = [r for r in cohort if as_of is None or one_year_after(exit_on(r)) <= as_of]
    got = [r for r in measured if attained(r)]
    since = program_year(as_of)[0] if as_of is not None else None
    begun = [p for p in enrollments if since is None or in_training_during(p.record, since, as_of)]
    gained = [p for p in begun if skill_gain(p, since, as_of)]
    return {
        "enrollments": len(enrollments),
        "people": people(enrollments, _person),
        "exit_cohort": len(cohort),
        "not_in_cohort": len(enrollments) - len(cohort),
        "indicators": [
            _indicator("credential_attainment", "Credential Attainment Rate", len(got), len(measured),
                       rate(len(got), len(measured)), CREDENTIAL_METHOD,
                       _pirl("exit", "credential_type", "credential_date"),
                       not_yet_measurable=len(cohort) - len(measured), proxy=True),
            _indicator("measurable_skill_gains", "Measurable Skill Gains", len(gained), len(begun),
                       rate(len(gained), len(begun)), MSG_METHOD,
                       _pirl("msg_training_milestone", "msg_skills_progression"),
                       not_yet_measurable=None, outside_program_year=len(enrollments) - len(begun), proxy=True),
        ],
    }


# An indicator's figures (blanked when its group is suppressed).
COUNTS = {"numerator", "denominator", "value", "not_yet_measurable", "outside_program_year"}


def _person(p: Participation) -> str:
    return p.person_key


def summarize(enrollments: list[Participation], as_of: date | None, threshold: int | None = None) -> dict[str, Any]:
    """One group's indicators; with a `threshold`, suppressed whole at 1 to `threshold` people."""
    counts = _counts(enrollments, as_of)
    if threshold is None or not 1 <= counts["people"] <= threshold:
        return {"suppressed": False, **counts}
    return {"suppressed": True, **dict.fromkeys(("enrollments", "people", "exit_cohort", "not_in_cohort")),
            "indicators": [{**i, **dict.fromkeys(COUNTS & i.keys())} for i in counts["indicators"]]}


def _key(dimension: str):
    if dimension not in DIMENSIONS:
        raise ValueError(f"unknown dimension {dimension!r}; one of {DIMENSIONS}")
    return lambda p: (getattr(p.record, dimension),)


def training_indicators(enrollments: Iterable[Participation], as_of: date | None = None,
                        threshold: int | None = None) -> dict[str, Any]:
    """The two indicators in total and by provider and program (suppressed by groups with a
    `threshold`)."""
    enrollments = list(enrollments)
    return {
        "as_of": as_of.isoformat() if as_of else None,
        "unit": "enrollment",
        "total": summarize(enrollments, as_of, threshold),
        "by": {d: [{"group": g, **summarize(es, as_of, threshold)}
                   for g, es in suppressed_groups(enrollments, _key(d), _person, threshold)] for d in DIMENSIONS},
        "suppression_threshold": threshold,
    }
