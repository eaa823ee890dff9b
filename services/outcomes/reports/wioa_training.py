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
  module_completed as a Training Milestone, 1809; `other` is not one), over enrollments that
  began by `as_of`. Milestones are kept without their dates, so there is no program-year window.

Suppression (`threshold`, a provider's report): by groups in people, as the funnels'
(reports/groups.py); a group or total of 1 to `threshold` people is suppressed whole.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from services.outcomes.records import EnrollmentRecord
from services.outcomes.reports.groups import people, suppressed_groups
from services.outcomes.reports.stats import rate
from services.outcomes.reports.wioa import _indicator, _pirl, one_year_after

DIMENSIONS = ("provider", "program")
# Training progress that is a WIOA measurable skill gain, by PIRL type.
MSG_MILESTONES = {"skills_gain": 1810, "exam_passed": 1810, "module_completed": 1809}
Participation = tuple[str, EnrollmentRecord]  # (person_key, enrollment), as store.enrollment_people gives


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


def skill_gain(record: EnrollmentRecord) -> bool:
    return any(m in MSG_MILESTONES for m in record.milestones)


CREDENTIAL_METHOD = (
    "Enrollments that ended (completed, or exited) with a credential earned through them (credential.earned)"
    " awarded on or after enrollment and at most one year after exit, over those that ended whose year after exit"
    " has passed. Proxy: every credential is taken as a recognized one (PIRL 1800's type is not reported), a"
    " secondary diploma's employment-or-education condition is not applied, and no exit is excluded (WIOA"
    " excludes exits for medical treatment, institutionalization, death or reserve duty)."
)
MSG_METHOD = (
    "Enrollments with a reported training milestone that is a skill gain (skills_gain or exam_passed: Skills"
    " Progression; module_completed: Training Milestone), over enrollments begun by as_of. Proxy: the"
    " provider's report, not a documented assessment, and no program-year window (milestones carry no date here)."
)


def _counts(enrollments: list[Participation], as_of: date | None) -> dict[str, Any]:
    cohort = [r for _, r in enrollments if exit_on(r) is not None]
    measured = [r for r in cohort if as_of is None or one_year_after(exit_on(r)) <= as_of]
    got = [r for r in measured if attained(r)]
    begun = [r for _, r in enrollments if as_of is None or r.enrolled_on is None or r.enrolled_on <= as_of]
    gained = [r for r in begun if skill_gain(r)]
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
                       not_yet_measurable=len(enrollments) - len(begun), proxy=True),
        ],
    }


def _person(p: Participation) -> str:
    return p[0]


def summarize(enrollments: list[Participation], as_of: date | None, threshold: int | None = None) -> dict[str, Any]:
    """One group's indicators; with a `threshold`, suppressed whole at 1 to `threshold` people."""
    counts = _counts(enrollments, as_of)
    if threshold is None or not 1 <= counts["people"] <= threshold:
        return {"suppressed": False, **counts}
    blank = {k: None for k in ("numerator", "denominator", "value", "not_yet_measurable")}
    return {"suppressed": True, **dict.fromkeys(("enrollments", "people", "exit_cohort", "not_in_cohort")),
            "indicators": [{**i, **blank} for i in counts["indicators"]]}


def _key(dimension: str):
    if dimension not in DIMENSIONS:
        raise ValueError(f"unknown dimension {dimension!r}; one of {DIMENSIONS}")
    return lambda p: (getattr(p[1], dimension),)


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
