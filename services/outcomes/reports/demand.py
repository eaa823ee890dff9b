"""The demand board (issue 16 items 3 and 4): what employers ask for, without saying who, and the
hiring standards they chose to publish, under their names. Pure; docs/transparency.md, "Demand
board" and "Hiring standards", define every figure.

- **Today**: the open openings, one cell per occupation (O*NET-SOC) and employment type (`not_said`
  when the posting does not say): `openings`, `open_slots` (their capacity together), the skills
  (openings requiring and preferring each) and credentials (openings requiring each, keyed as
  credential outcomes key them: CTID, else the normalised name) and the wages, per currency and
  unit, of the paid openings: `min`, `median`, `max` over openings (each counts once).
- **Forecast**: the employers' current forecasts with slots expected, one cell per occupation,
  employment type and horizon (6 or 12 months): `slots` expected together, the skills and
  credentials (the employers expecting each, and their slots).
- **Suppression**: a cell, and every line inside it (a skill, a credential, a wage summary), is
  shown only when what it counts comes from at least `min_employers` different employers
  (default 3); below that it is left out and counted in `withheld`. No employer id or name is
  ever in a cell. Today's openings and the forecast are never added together.
- **Hiring standards**: every employer's current standards per occupation, with the name it
  published them under (public: not suppressed).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from services.outcomes.reports.credentials import normalise
from services.outcomes.reports.stats import median_money, money

MIN_EMPLOYERS = 3
NOT_SAID = "not_said"


@dataclass(frozen=True)
class Credential:
    name: str
    ctdl_id: str | None = None

    @property
    def key(self) -> str:
        return self.ctdl_id.lower() if self.ctdl_id else normalise(self.name)


@dataclass(frozen=True)
class OpenOpening:
    """An open opening as last posted or updated."""

    opening_id: str
    employer_id: str
    onet_soc_code: str
    employment_type: str | None
    capacity: int
    required_skills: tuple[str, ...]
    preferred_skills: tuple[str, ...]
    credentials: tuple[Credential, ...]
    paid: bool
    wage_amount: Decimal
    wage_unit: str
    currency: str
    title: str = ""


@dataclass(frozen=True)
class Forecast:
    """An employer's forecast for one occupation, employment type and horizon."""

    employer_id: str
    onet_soc_code: str
    employment_type: str
    horizon_months: int
    slots: int
    skills: tuple[str, ...]
    credentials: tuple[Credential, ...]
    declared_at: datetime


@dataclass(frozen=True)
class Standards:
    """An employer's published hiring standards for one occupation, or for one of its openings
    (`opening_id`: hiring_standards.published 1.1)."""

    employer_id: str
    employer_name: str
    onet_soc_code: str
    stages: tuple[str, ...]
    interview_format: str
    portfolio_expected: bool
    assessment_expected: bool
    degree_requirement_dropped: bool
    accepted_equivalents: tuple[Credential, ...]
    published_at: datetime
    opening_id: str | None = None


def current(forecasts: Iterable[Forecast]) -> list[Forecast]:
    """Each employer's latest forecast per occupation, employment type and horizon (a newer one
    replaces an older; of two at the same time the later in the input)."""
    latest: dict[tuple[str, str, str, int], Forecast] = {}
    for f in forecasts:
        key = (f.employer_id, f.onet_soc_code, f.employment_type, f.horizon_months)
        if key not in latest or latest[key].declared_at <= f.declared_at:
            latest[key] = f
    return [latest[k] for k in sorted(latest)]


class _Lines:
    """Lines of one cell (skills, credentials): the employers behind each and what it counts."""

    def __init__(self) -> None:
        self.employers: dict[str, set[str]] = defaultdict(set)
        self.counts: dict[str, Counter[str]] = defaultdict(Counter)
        self.names: dict[str, Counter[str]] = defaultdict(Counter)

    def add(self, key: str, employer: str, name: str | None = None, **counts: int) -> None:
        self.employers[key].add(employer)
        self.counts[key].update(counts)
        if name is not None:
            self.names[key][name] += 1

    def shown(self, min_employers: int, label: str, fields: tuple[str, ...]) -> tuple[list[dict[str, Any]], int]:
        """The lines from enough employers, most counted first (then by key); how many were withheld."""
        keep = [k for k in self.employers if len(self.employers[k]) >= min_employers]
        first = fields[0]
        keep.sort(key=lambda k: (-self.counts[k][first], k))
        lines = []
        for k in keep:
            line: dict[str, Any] = {label: _name(self.names[k]) if self.names[k] else k}
            if self.names[k]:
                line["key"] = k
            line.update({f: self.counts[k][f] for f in fields})
            lines.append(line)
        return lines, len(self.employers) - len(keep)


def _name(spellings: Counter[str]) -> str:
    """The most frequent spelling (ties: the first in code point order)."""
    return min(spellings, key=lambda s: (-spellings[s], s))


def _wages(openings: list[OpenOpening], min_employers: int) -> tuple[list[dict[str, Any]], int]:
    groups: dict[tuple[str, str], list[OpenOpening]] = defaultdict(list)
    for o in openings:
        if o.paid:
            groups[(o.currency, o.wage_unit)].append(o)
    shown, withheld = [], 0
    for (currency, unit), group in sorted(groups.items()):
        if len({o.employer_id for o in group}) < min_employers:
            withheld += 1
            continue
        amounts = [o.wage_amount for o in group]
        shown.append(
            {
                "currency": currency,
                "unit": unit,
                "openings": len(group),
                "min": money(min(amounts)),
                "median": money(median_money(amounts)),
                "max": money(max(amounts)),
            }
        )
    return shown, withheld


def _cells(items: Iterable[Any], key: Callable[[Any], tuple]) -> dict[tuple, list[Any]]:
    cells: dict[tuple, list[Any]] = defaultdict(list)
    for item in items:
        cells[key(item)].append(item)
    return dict(sorted(cells.items()))


def today(openings: Iterable[OpenOpening], min_employers: int = MIN_EMPLOYERS) -> tuple[list[dict[str, Any]], int]:
    """Today's cells (occupation, employment type) from enough employers, and how many cells and
    lines were withheld."""
    rows, withheld = [], 0
    cells = _cells(openings, lambda o: (o.onet_soc_code, o.employment_type or NOT_SAID))
    for (occupation, kind), group in cells.items():
        if len({o.employer_id for o in group}) < min_employers:
            withheld += 1
            continue
        skills, credentials = _Lines(), _Lines()
        for o in group:
            for s in set(o.required_skills) | set(o.preferred_skills):
                skills.add(
                    s,
                    o.employer_id,
                    required=int(s in o.required_skills),
                    preferred=int(s in o.preferred_skills and s not in o.required_skills),
                )
            for c in {c.key: c for c in o.credentials}.values():
                credentials.add(c.key, o.employer_id, c.name, openings=1)
        skill_lines, w1 = skills.shown(min_employers, "skill", ("required", "preferred"))
        credential_lines, w2 = credentials.shown(min_employers, "credential", ("openings",))
        wages, w3 = _wages(group, min_employers)
        withheld += w1 + w2 + w3
        rows.append(
            {
                "occupation": occupation,
                "employment_type": kind,
                "openings": len(group),
                "open_slots": sum(o.capacity for o in group),
                "skills": skill_lines,
                "credentials": credential_lines,
                "wages": wages,
            }
        )
    return rows, withheld


def forecast(forecasts: Iterable[Forecast], min_employers: int = MIN_EMPLOYERS) -> tuple[list[dict[str, Any]], int]:
    """The forecast's cells (occupation, employment type, horizon) over current forecasts with
    slots expected, from enough employers; how many cells and lines were withheld."""
    rows, withheld = [], 0
    expecting = [f for f in current(forecasts) if f.slots > 0]
    cells = _cells(expecting, lambda f: (f.onet_soc_code, f.employment_type, f.horizon_months))
    for (occupation, kind, horizon), group in cells.items():
        if len({f.employer_id for f in group}) < min_employers:
            withheld += 1
            continue
        skills, credentials = _Lines(), _Lines()
        for f in group:
            for s in set(f.skills):
                skills.add(s, f.employer_id, employers=1, slots=f.slots)
            for c in {c.key: c for c in f.credentials}.values():
                credentials.add(c.key, f.employer_id, c.name, employers=1, slots=f.slots)
        skill_lines, w1 = skills.shown(min_employers, "skill", ("slots", "employers"))
        credential_lines, w2 = credentials.shown(min_employers, "credential", ("slots", "employers"))
        withheld += w1 + w2
        rows.append(
            {
                "occupation": occupation,
                "employment_type": kind,
                "horizon_months": horizon,
                "slots": sum(f.slots for f in group),
                "skills": skill_lines,
                "credentials": credential_lines,
            }
        )
    return rows, withheld


def standards(published: Iterable[Standards], openings: Iterable[OpenOpening] = ()) -> list[dict[str, Any]]:
    """Every employer's current standards, by employer name and occupation (public): an
    occupation's, then those of its openings still open (with the opening's title); an opening's
    own standards no longer show once it is closed or filled, as the opening leaves the board."""
    titles = {(o.employer_id, o.opening_id): o.title for o in openings}
    return [
        {
            "employer_name": s.employer_name,
            "occupation": s.onet_soc_code,
            "opening_id": s.opening_id,
            "opening_title": titles[s.employer_id, s.opening_id] if s.opening_id else None,
            "stages": list(s.stages),
            "interview_format": s.interview_format,
            "portfolio_expected": s.portfolio_expected,
            "assessment_expected": s.assessment_expected,
            "degree_requirement_dropped": s.degree_requirement_dropped,
            "accepted_equivalents": [{"name": c.name, "ctdl_id": c.ctdl_id} for c in s.accepted_equivalents],
            "published_at": s.published_at.isoformat(),
        }
        for s in sorted(
            published, key=lambda s: (s.employer_name, s.onet_soc_code, s.opening_id or "", s.employer_id)
        )
        if s.opening_id is None or (s.employer_id, s.opening_id) in titles
    ]


def board(
    openings: Iterable[OpenOpening],
    forecasts: Iterable[Forecast],
    published: Iterable[Standards],
    min_employers: int = MIN_EMPLOYERS,
) -> dict[str, Any]:
    """The whole board: today's demand and the forecast (suppressed), and the hiring standards (public)."""
    openings = tuple(openings)
    now, withheld_now = today(openings, min_employers)
    ahead, withheld_ahead = forecast(forecasts, min_employers)
    return {
        "min_employers": min_employers,
        "today": now,
        "forecast": ahead,
        "withheld": {"today": withheld_now, "forecast": withheld_ahead},
        "hiring_standards": standards(published, openings),
    }


def forecast_by_occupation(board_forecast: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The shown forecast per occupation and horizon (employment types together), and per skill,
    for the skills-gap report's forecast columns: {occupation: {"slots": {6: n, 12: n},
    "skills": {skill: {6: slots, 12: slots}}}}. Only cells and lines the board shows."""
    out: dict[str, dict[str, Any]] = {}
    for cell in board_forecast:
        occ = out.setdefault(cell["occupation"], {"slots": {6: 0, 12: 0}, "skills": defaultdict(lambda: {6: 0, 12: 0})})
        occ["slots"][cell["horizon_months"]] += cell["slots"]
        for line in cell["skills"]:
            occ["skills"][line["skill"]][cell["horizon_months"]] += line["slots"]
    return out
