"""Credential and program outcomes (issue 16 item 1; docs/transparency.md, "Credential and program
outcomes").

A **program** is one a training provider registered (program.registered / program.updated:
`Program`); a **credential** is identified by its Credential Engine CTID where one is known, else
by its normalised name (`normalise`; a name-only credential whose normalised name belongs to
exactly one CTID seen anywhere is that credential). An enrollment is in a credential's group when
its program is registered as leading to the credential, or when the credential was earned
through it.

Every figure of a group is over its **participants**: the people (`pipeline.person_key`) with an
enrollment in it. The people counts are `pipeline.pipeline_funnel`'s, the coalition funnel's
(docs/pipeline.md, "From training"): completed training (a credential earned counts as training
completed), credential earned (in a credential's group: *that* credential), placed and retained
at 90 and 180 days from the referrals of the same people (the furthest any of them reached).
Rates are over participants, people still in training included (`still_in_training` says how
many). Wages and the good-job rate are the good-jobs report's (reports/good_jobs.py), over the
placements (placed referrals) of the participants: the median hourly wage at placement and at
the 90- and 180-day check-ins, the configured good-job rule. Time to placement: per placed
participant with an ended enrollment in the group, the days from its end (its first, if
several) to the start of their first placement, 0 when the placement started first; the median
over them. Cost: what the program charges a participant (program.registered's
`cost_to_participant`); for a credential, the lowest and highest over the programs leading to it
(in one currency, else none).

Which referrals count is the viewer's (`seen`): an operator's every referral of a participant;
a training provider's, as its coalition funnel's (store.pipeline_report_inputs): its own
referrals, and another partner's only of a participant who let it hear what came of them
(`EnrollmentRecord.outcomes_shared`).

Suppression (`threshold`, a non-operator's report): by groups in people as every grouped report
(reports/groups.py): a group of 1 to `threshold` people is combined with the other small ones
(groups.SMALL_GROUPS), and a combined row still that small has every figure None. Medians of
wages only over at least `min_wages` placements (as the good-jobs report's wage growth).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Set
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from services.outcomes import pipeline
from services.outcomes.records import EnrollmentRecord, ReferralRecord
from services.outcomes.reports.good_jobs import GoodJobPolicy, wage_growth
from services.outcomes.reports.good_jobs import summarize as good_job_summary
from services.outcomes.reports.groups import SMALL_GROUPS, people, suppressed_groups
from services.outcomes.reports.stats import median_days, money, rate
from services.outcomes.reports.wioa_training import exit_on

DEFINITIONS = "docs/transparency.md#credential-and-program-outcomes"
CTID_PREFIX = "ctid:"
NOT_KEPT = re.compile(r"[^\w+#]|_")  # read as a space in a credential's name
NAME_PREFIX = "name:"
# Every figure of a row, in order (the CSV's columns); None when the row is suppressed.
FIGURES = (
    "participants",
    "still_in_training",
    "completed_training",
    "completion_rate",
    "credential_earned",
    "credential_attainment",
    "placed",
    "placement_rate",
    "retained_90_days",
    "retained_180_days",
    "median_days_to_placement",
    "placements",
    "median_hourly_at_placement",
    "median_hourly_90_days",
    "median_hourly_180_days",
    "good_jobs_assessed",
    "good_jobs",
    "good_job_rate",
)


@dataclass(frozen=True)
class Program:
    """A program as its provider last registered or updated it (the `programs` table)."""

    program_id: str
    provider: str
    name: str
    credential_name: str | None = None
    credential_ctid: str | None = None
    onet_soc_codes: tuple[str, ...] = ()
    cost: Decimal | None = None  # to the participant, after any funding
    currency: str = "USD"


@dataclass(frozen=True)
class Enrollment:
    person_key: str
    record: EnrollmentRecord


@dataclass(frozen=True)
class Inputs:
    """What credential and program outcomes (and peer benchmarks) read, in one snapshot
    (reports/inputs.credential_inputs): every program, every enrollment, and every referral of an
    enrolled person (its `person_key` set)."""

    programs: tuple[Program, ...] = ()
    enrollments: tuple[Enrollment, ...] = ()
    referrals: tuple[ReferralRecord, ...] = ()


def normalise(name: str) -> str:
    """A credential's name for matching: Unicode NFKC, case folded, every character other than a
    letter, a digit, `+` or `#` read as a space (so "CompTIA A+" and "comptia  a+" match, and "C++"
    stays apart from "C"), runs of spaces as one, no space at either end."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    return " ".join(NOT_KEPT.sub(" ", folded).split())


class Credentials:
    """Credential keys: the CTID where known, else the normalised name, a name matched to the one
    CTID it was seen with."""

    def __init__(self, named: Iterable[tuple[str, str | None]]) -> None:
        named = list(named)
        self._keys: dict[str, str] = {}
        ctids: dict[str, set[str]] = {}
        for name, ctid in named:
            if ctid:
                ctids.setdefault(normalise(name), set()).add(ctid.strip().lower())
        self._by_name = {n: next(iter(c)) for n, c in ctids.items() if len(c) == 1}
        labels: dict[str, Counter[str]] = {}
        for name, ctid in named:
            labels.setdefault(self.key(name, ctid), Counter())[name] += 1
        # The name a credential is shown with: the most frequent spelling, then the first in order.
        self.names = {k: min(c, key=lambda n: (-c[n], n)) for k, c in labels.items()}

    def key(self, name: str, ctid: str | None) -> str:
        if ctid:
            return CTID_PREFIX + ctid.strip().lower()
        if name not in self._keys:  # a report asks for the same few names thousands of times
            found = self._by_name.get(normalise(name))
            self._keys[name] = CTID_PREFIX + found if found else NAME_PREFIX + normalise(name)
        return self._keys[name]


def credentials_of(inputs: Inputs) -> Credentials:
    return Credentials(
        [(p.credential_name, p.credential_ctid) for p in inputs.programs if p.credential_name]
        + [(c.name, c.ctdl_id) for e in inputs.enrollments for c in e.record.credentials if not c.erased]
    )


def shared_with(enrollments: Iterable[Enrollment]) -> set[tuple[str, str]]:
    """(provider, person) pairs where the person let the provider hear what came of them."""
    return {(e.record.provider, e.person_key) for e in enrollments if e.record.outcomes_shared}


def seen(
    referrals: Iterable[ReferralRecord], provider: str | None, shared: set[tuple[str, str]]
) -> dict[str, list[ReferralRecord]]:
    """A person's referrals that count for a viewer: every one for an operator (None); for a
    provider its own, and another partner's only of a person who shared their outcomes with it."""
    out: dict[str, list[ReferralRecord]] = {}
    for r in referrals:
        key = r.person_key or f"referral:{r.referral_id}"
        if provider is None or r.partner_id == provider or (provider, key) in shared:
            out.setdefault(key, []).append(r)
    return out


def _days_to_placement(mine: list[Enrollment], refs: Mapping[str, list[ReferralRecord]]) -> list[int]:
    ends: dict[str, object] = {}
    for e in mine:
        ended = exit_on(e.record)
        if ended is not None and (e.person_key not in ends or ended < ends[e.person_key]):
            ends[e.person_key] = ended
    out = []
    for person, ended in sorted(ends.items()):
        starts = [r.placement.start_date for r in refs.get(person, ()) if r.placement is not None]
        if starts:
            out.append(max(0, (min(starts) - ended).days))
    return out


def figures(
    mine: list[Enrollment],
    refs: Mapping[str, list[ReferralRecord]],
    policy: GoodJobPolicy,
    earned: Any = None,
    min_wages: int = 1,
) -> dict[str, Any]:
    """One group's figures (FIGURES). `earned(enrollment)`: whether it counts as a credential
    earned (default: any credential earned through it, the coalition funnel's)."""
    earned = earned or (lambda e: bool(e.record.credentials))
    keys = {e.person_key for e in mine}
    theirs = [r for p in sorted(keys) for r in refs.get(p, ())]
    funnel = pipeline.pipeline_funnel(
        (pipeline.Trainee(e.person_key, e.record.status, earned(e)) for e in mine),
        (pipeline.hire_of(r) for r in theirs),
    )
    training, jobs = funnel["people"]["training"], funnel["people"]["jobs"]
    n = training["enrolled"]
    ended = {e.person_key for e in mine if exit_on(e.record) is not None}
    placed = [r for r in theirs if r.placement is not None]
    jobs_summary = good_job_summary(placed, policy)
    wages = jobs_summary["wages"]
    growth = {
        p["milestone_days"]: p for p in wage_growth(placed, policy.currency, min_wages) if p["point"] == "milestone"
    }
    return {
        "participants": n,
        "still_in_training": len(keys - ended - {e.person_key for e in mine if e.record.status == "completed"}),
        "completed_training": training["completed_training"],
        "completion_rate": rate(training["completed_training"], n),
        "credential_earned": training["credential_earned"],
        "credential_attainment": rate(training["credential_earned"], n),
        "placed": jobs["placed"],
        "placement_rate": rate(jobs["placed"], n),
        "retained_90_days": jobs["retained_90_days"],
        "retained_180_days": jobs["retained_180_days"],
        "median_days_to_placement": median_days(_days_to_placement(mine, refs)),
        "placements": len(placed),
        "median_hourly_at_placement": wages["median_hourly"] if wages["placements"] >= min_wages else None,
        "median_hourly_90_days": growth[90]["median_hourly_at_checkin"],
        "median_hourly_180_days": growth[180]["median_hourly_at_checkin"],
        "good_jobs_assessed": jobs_summary["assessed"],
        "good_jobs": jobs_summary["good_jobs"],
        "good_job_rate": jobs_summary["good_job_rate"],
    }


def _row(mine: list[Enrollment], refs, policy, threshold: int | None, min_wages: int, earned=None) -> dict[str, Any]:
    if threshold is not None and 1 <= people(mine, _person) <= threshold:
        return {"suppressed": True, **dict.fromkeys(FIGURES)}
    return {"suppressed": False, **figures(mine, refs, policy, earned, min_wages)}


def _person(e: Enrollment) -> str:
    return e.person_key


def _cost_range(programs: list[Program]) -> dict[str, Any]:
    priced = [p for p in programs if p.cost is not None]
    currencies = {p.currency for p in priced}
    if len(currencies) != 1:
        return {"cost_low": None, "cost_high": None, "currency": None}
    return {
        "cost_low": money(min(p.cost for p in priced)),
        "cost_high": money(max(p.cost for p in priced)),
        "currency": currencies.pop(),
    }


def credential_outcomes(
    inputs: Inputs,
    policy: GoodJobPolicy,
    provider: str | None = None,
    threshold: int | None = None,
    min_wages: int = 1,
    nameable: Callable[[str, Set[str]], bool] | None = None,
) -> dict[str, Any]:
    """Every credential's and every program's outcomes as `provider` (None: an operator) sees
    them: its own programs and enrollments, the referrals `seen` counts; suppressed by groups with
    a `threshold` (and `nameable`: groups.suppressed_groups)."""
    creds = credentials_of(inputs)
    programs = {p.program_id: p for p in inputs.programs if provider is None or p.provider == provider}
    mine = [e for e in inputs.enrollments if provider is None or e.record.provider == provider]
    refs = seen(inputs.referrals, provider, shared_with(mine))

    def keys_of(e: Enrollment) -> tuple[str, ...]:
        p = programs.get(e.record.program)
        keys = [creds.key(p.credential_name, p.credential_ctid)] if p is not None and p.credential_name else []
        keys += [creds.key(c.name, c.ctdl_id) for c in e.record.credentials if not c.erased]
        return tuple(dict.fromkeys(keys))

    credentials_by_enrollment = {e.record.enrollment_id: keys_of(e) for e in mine}

    def leads_to(e: Enrollment) -> tuple[str, ...]:
        return credentials_by_enrollment[e.record.enrollment_id]

    credential_rows = []
    grouped = suppressed_groups(mine, leads_to, _person, threshold, nameable)
    named = {key for key, _ in grouped}
    # Registered as leading to a credential, with no participant yet: a row of zeros.
    grouped += [
        (k, [])
        for k in sorted(
            {creds.key(p.credential_name, p.credential_ctid) for p in programs.values() if p.credential_name}
            - named
            - {k for e in mine for k in leads_to(e)}
        )
    ]
    for key, group in grouped:
        # The combined row's credentials are those not named one by one.
        keys = {k for e in group for k in leads_to(e)} - named if key == SMALL_GROUPS else {key}

        def earned(e: Enrollment, keys: set[str] = keys) -> bool:
            return any(creds.key(c.name, c.ctdl_id) in keys for c in e.record.credentials if not c.erased)

        leading = [
            p for p in programs.values() if p.credential_name and creds.key(p.credential_name, p.credential_ctid) == key
        ]
        credential_rows.append(
            {
                "credential": key,
                "name": creds.names.get(key, key),
                "ctid": key.removeprefix(CTID_PREFIX) if key.startswith(CTID_PREFIX) else None,
                "programs": len(leading),
                **_cost_range(leading),
                **_row(group, refs, policy, threshold, min_wages, earned),
            }
        )
    program_rows = []
    grouped = suppressed_groups(mine, lambda e: (e.record.program,), _person, threshold, nameable)
    enrolled_in = {e.record.program for e in mine}
    grouped += [(program_id, []) for program_id in sorted(programs) if program_id not in enrolled_in]
    for program_id, group in grouped:
        p = programs.get(program_id)
        program_rows.append(
            {
                "program": program_id,
                "name": p.name if p else None,
                "provider": p.provider if p else (group[0].record.provider if program_id != SMALL_GROUPS else None),
                "credential": creds.key(p.credential_name, p.credential_ctid) if p and p.credential_name else None,
                "onet_soc_codes": list(p.onet_soc_codes) if p else [],
                "cost": money(p.cost) if p and p.cost is not None else None,
                "currency": p.currency if p and p.cost is not None else None,
                **_row(group, refs, policy, threshold, min_wages),
            }
        )
    return {
        "credentials": credential_rows,
        "programs": program_rows,
        "currency": policy.currency,
        "suppression_threshold": threshold,
        "groups_overlap": True,
        "definitions": DEFINITIONS,
    }
