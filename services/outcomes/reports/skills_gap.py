"""Skills gap by occupation: what openings demand, and what candidates who did not get
through were missing.

- Demanded: over the openings of the occupation (`OpeningRecord.onet_soc_code`), for each skill
  the openings requiring it (`required`) and preferring it (`preferred`); share = openings that
  require or prefer it / openings of the occupation. Ranked by required, then preferred.
  For a reader who is not an operator, the demand board's non-disclosure rule (`min_employers`,
  the board's `TALENTLOOP_DEMAND_MIN_EMPLOYERS`): an occupation's `openings` only when its openings
  come from at least that many employers (else null: fewer than that many, maybe none), and a
  skill only when the openings naming it do; what is left out is counted in `withheld`, never
  shown as 0. Operators (`min_employers` None) see every opening.
- Missing: over the skills-gap observations of the occupation where the candidate did not get
  through (`outcome == "unmatched"`, or routed and then `declined`), for each skill the
  candidates missing it as a requirement (`missing_required`) and as a preference
  (`missing_preferred`). A candidate counts once per skill and occupation however many
  observations show the gap (one referral is decided again after a decline); observations
  without a referral id (erased) count one each. share = candidates missing the skill (either
  way) / candidates counted for the occupation. Ranked by missing_required, then
  missing_preferred.
- Forecast (issue 16): beside them, never added to them, what employers declare they will need
  (the demand board's forecast, `demand.forecast_by_occupation`: only cells and lines from enough
  employers): `forecast_slots` per horizon (6 and 12 months; null when the board shows no forecast
  for it) and `forecast_skills`, each skill with the slots of the forecasts naming it per horizon,
  ranked by the 12 months' slots, then the 6 months', then the skill.
Ties are broken by the skill id, so the ranking is stable.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from services.outcomes.records import GapRecord, OpeningRecord
from services.outcomes.reports.stats import rate


def demanded(
    openings: Iterable[OpeningRecord], top: int = 10, min_employers: int | None = None
) -> tuple[dict[str, dict], dict[str, int]]:
    """The demand side by occupation, and how many occupations and skills `min_employers` withheld."""
    by_occupation: dict[str, list[OpeningRecord]] = defaultdict(list)
    for o in openings:
        by_occupation[o.onet_soc_code].append(o)
    enough = min_employers or 1
    out, withheld = {}, {"occupations": 0, "skills": 0}
    for occupation, group in by_occupation.items():
        if len({o.employer_id for o in group}) < enough:
            withheld["occupations"] += 1
            continue
        required: dict[str, int] = defaultdict(int)
        preferred: dict[str, int] = defaultdict(int)
        mentioned: dict[str, int] = defaultdict(int)
        employers: dict[str, set[str]] = defaultdict(set)
        for o in group:
            for s in set(o.required_skills):
                required[s] += 1
            for s in set(o.preferred_skills):
                preferred[s] += 1
            for s in set(o.required_skills) | set(o.preferred_skills):
                mentioned[s] += 1
                employers[s].add(o.employer_id)
        shown = [s for s in mentioned if len(employers[s]) >= enough]
        withheld["skills"] += len(mentioned) - len(shown)
        ranked = sorted(shown, key=lambda s: (-required[s], -preferred[s], s))[:top]
        out[occupation] = {
            "openings": len(group),
            "skills": [
                {
                    "skill": s,
                    "required": required[s],
                    "preferred": preferred[s],
                    "share": rate(mentioned[s], len(group)),
                }
                for s in ranked
            ],
        }
    return out, withheld


def not_through(gap: GapRecord) -> bool:
    return gap.outcome == "unmatched" or gap.declined


def missing(gaps: Iterable[GapRecord], top: int = 10) -> dict[str, dict]:
    # (occupation, candidate) -> the skills missing as requirement / preference in any observation
    candidates: dict[tuple[str, str], tuple[set[str], set[str]]] = {}
    for i, g in enumerate(gaps):
        if not not_through(g):
            continue
        who = g.referral_id or f"observation-{i}"
        req, pref = candidates.setdefault((g.onet_soc_code, who), (set(), set()))
        req.update(g.missing_required)
        pref.update(g.missing_preferred)
    by_occupation: dict[str, list[tuple[set[str], set[str]]]] = defaultdict(list)
    for (occupation, _), sets in candidates.items():
        by_occupation[occupation].append(sets)
    out = {}
    for occupation, people in by_occupation.items():
        required: dict[str, int] = defaultdict(int)
        preferred: dict[str, int] = defaultdict(int)
        either: dict[str, int] = defaultdict(int)
        for req, pref in people:
            for s in req:
                required[s] += 1
            for s in pref:
                preferred[s] += 1
            for s in req | pref:
                either[s] += 1
        ranked = sorted(either, key=lambda s: (-required[s], -preferred[s], s))[:top]
        out[occupation] = {
            "candidates": len(people),
            "skills": [
                {
                    "skill": s,
                    "missing_required": required[s],
                    "missing_preferred": preferred[s],
                    "share": rate(either[s], len(people)),
                }
                for s in ranked
            ],
        }
    return out


def _forecast_columns(shown: dict[str, Any] | None, top: int) -> dict[str, Any]:
    if shown is None:
        return {"forecast_slots": {"6_months": None, "12_months": None}, "forecast_skills": []}
    ranked = sorted(shown["skills"], key=lambda s: (-shown["skills"][s][12], -shown["skills"][s][6], s))[:top]
    return {
        "forecast_slots": {f"{h}_months": shown["slots"][h] or None for h in (6, 12)},
        "forecast_skills": [
            {"skill": s, "slots_6_months": shown["skills"][s][6], "slots_12_months": shown["skills"][s][12]}
            for s in ranked
        ],
    }


def skills_gap(
    gaps: Iterable[GapRecord],
    openings: Iterable[OpeningRecord],
    top: int = 10,
    forecast: dict[str, dict[str, Any]] | None = None,
    min_employers: int | None = None,
) -> dict:
    """`forecast`: the board's shown forecast by occupation (`demand.forecast_by_occupation`);
    `min_employers`: the board's rule for a reader who is not an operator (None: exact)."""
    (demand, withheld), gap = demanded(openings, top, min_employers), missing(gaps, top)
    forecast = forecast or {}
    return {
        "top": top,
        "min_employers": min_employers,
        "withheld": withheld,
        "occupations": [
            {
                "occupation": occ,
                "openings": demand[occ]["openings"] if occ in demand else None if min_employers else 0,
                "demanded": demand.get(occ, {}).get("skills", []),
                "candidates_not_through": gap.get(occ, {}).get("candidates", 0),
                "missing": gap.get(occ, {}).get("skills", []),
                **_forecast_columns(forecast.get(occ), top),
            }
            for occ in sorted(set(demand) | set(gap) | set(forecast))
        ],
    }
