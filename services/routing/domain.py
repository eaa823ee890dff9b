"""Skills-based matching: pure functions from a referral and open openings to a decision.

Skills are compared by their id in the skills vocabulary, so "JS" on a referral matches
"JavaScript" on an opening; a skill the vocabulary lacks is compared by its normalized text.

Rules (first version; issue 5 deepens them):
- A candidate is routed only to an opening whose required skills they all have and
  which has capacity left. Missing a required skill is never outweighed by anything.
- Score = 0.7 x required coverage (always 1.0 when eligible) + 0.3 x preferred coverage,
  so among eligible openings preferred skills decide. Ties go to the opening with more
  capacity left, then to the smaller opening id, so the decision is deterministic.
- A referral naming a target occupation (O*NET-SOC) is matched within it; one naming a
  target opening goes there whenever it is eligible for it.
- Otherwise the referral is unmatched, with the required skills it lacks for the three
  nearest openings (most required skills covered), which feeds the skills-gap report.

After the first decision (see `decides_again` and `releases_slot`):
- An update of an unmatched referral is decided again with the updated skills; a routed
  referral stays where it is (the employer may already be acting on it).
- A withdrawal (or the candidate's erasure) frees the slot a routed referral took, and a
  withdrawn referral is never decided again.
"""

from __future__ import annotations

from dataclasses import dataclass

from contracts import vocabulary

REQUIRED_WEIGHT = 0.7
PREFERRED_WEIGHT = 0.3
NEAREST = 3


def canonical_skill(text: str) -> str:
    """The skills vocabulary's id for `text` (any alias or spelling), else the normalized text."""
    found = vocabulary.skills().lookup(text)
    return found.id if found else " ".join(text.casefold().split())


@dataclass(frozen=True)
class Opening:
    opening_id: str
    employer_id: str
    title: str
    onet_soc_code: str
    required: frozenset[str]
    preferred: frozenset[str]
    remaining: int


@dataclass(frozen=True)
class Candidate:
    referral_id: str
    skills: frozenset[str]
    target_onet_soc_code: str | None = None
    target_opening_id: str | None = None


@dataclass(frozen=True)
class Routed:
    opening: Opening
    score: float
    matched: list[str]
    missing_preferred: list[str]
    explanation: str


@dataclass(frozen=True)
class Near:
    opening: Opening
    missing_required: list[str]


@dataclass(frozen=True)
class Unmatched:
    reason: str
    nearest: list[Near]

    @property
    def missing_skills(self) -> list[str]:
        return sorted({s for n in self.nearest for s in n.missing_required})


def skills(values: list[str]) -> frozenset[str]:
    return frozenset(canonical_skill(v) for v in values if v.strip())


def decide(candidate: Candidate, openings: list[Opening]) -> Routed | Unmatched:
    pool = [o for o in openings if _in_target(candidate, o)]
    if not pool:
        what = f"occupation {candidate.target_onet_soc_code}" if candidate.target_onet_soc_code else "any occupation"
        return Unmatched(f"no open opening for {what}", [])

    eligible = [o for o in pool if o.remaining > 0 and o.required <= candidate.skills]
    if eligible:
        best = min(eligible, key=lambda o: (_target_rank(candidate, o), -_score(candidate, o), -o.remaining, o.opening_id))
        return _routed(candidate, best)

    nearest = sorted(pool, key=lambda o: (-len(o.required & candidate.skills), len(o.required), o.opening_id))[:NEAREST]
    full = [o for o in pool if o.remaining <= 0 and o.required <= candidate.skills]
    reason = (
        "openings that fit are full" if full else "missing required skills for every open opening"
    )
    return Unmatched(reason, [Near(o, sorted(o.required - candidate.skills)) for o in nearest])


def _in_target(candidate: Candidate, opening: Opening) -> bool:
    code = candidate.target_onet_soc_code
    return code is None or opening.onet_soc_code[:7] == code[:7]


def _target_rank(candidate: Candidate, opening: Opening) -> int:
    return 0 if opening.opening_id == candidate.target_opening_id else 1


def _score(candidate: Candidate, opening: Opening) -> float:
    preferred = len(opening.preferred & candidate.skills) / len(opening.preferred) if opening.preferred else 1.0
    return round(REQUIRED_WEIGHT + PREFERRED_WEIGHT * preferred, 4)


def _routed(candidate: Candidate, opening: Opening) -> Routed:
    matched = sorted((opening.required | opening.preferred) & candidate.skills)
    missing = sorted(opening.preferred - candidate.skills)
    have_pref = len(opening.preferred) - len(missing)
    explanation = (
        f"Has all {len(opening.required)} required skills for '{opening.title}'"
        f" and {have_pref} of {len(opening.preferred)} preferred"
        + (f"; lacks preferred: {', '.join(missing)}" if missing else "")
        + f". {opening.remaining - 1} slot(s) left after this referral."
    )
    return Routed(opening, _score(candidate, opening), matched, missing, explanation)


# Outcomes of a stored decision. WITHDRAWN_UNSEEN: withdrawn (or erased) before any decision.
ROUTED, UNMATCHED, WITHDRAWN_UNSEEN = "routed", "unmatched", "withdrawn"


def decides_again(outcome: str, withdrawn: bool) -> bool:
    """Does an update of the referral's profile lead to a new decision?"""
    return outcome == UNMATCHED and not withdrawn


def releases_slot(outcome: str, withdrawn: bool) -> bool:
    """Does withdrawing the referral give its opening a slot back? (Once: a second withdrawal does not.)"""
    return outcome == ROUTED and not withdrawn
