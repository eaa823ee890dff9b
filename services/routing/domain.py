"""Skills-based matching: pure functions from a referral and open openings to a decision.

Skills are compared by their id in the skills vocabulary, so "JS" on a referral matches
"JavaScript" on an opening; a skill the vocabulary lacks is compared by its normalized text.

Rules (docs/routing.md explains them for partners and employers):
- **Mandatory requirements are never traded away.** A candidate is routed only to an open
  opening with a slot left whose required skills they all have, whose required
  credentials they hold (a completed credential with the same CTDL id, or the same name
  when the opening gives no id), and whose degree requirement, set only when the employer
  marks a degree mandatory, they meet or exceed.
- **Score** (0..1, deterministic): 0.6 x required-skill coverage (1 when eligible) + 0.2 x
  preferred-skill coverage + 0.1 x required-credential coverage + 0.1 x location (remote
  or the same location: 1; candidate's location unknown: 0.5; elsewhere: 0). Among
  eligible openings the named target opening wins, then the higher score, then the
  opening with more slots left, then the smaller opening id.
- **Fair share.** While an opening is young (FAIR_SHARE_HOLD after posting), no partner
  may take more than FAIR_SHARE of its slots (rounded up, at least one), so one large
  partner cannot fill a scarce opening before the others refer anyone. After the hold the
  remaining slots are open to all. A candidate held back by the rule goes to their next
  best opening, or waits unmatched with that reason.
- A referral naming a target occupation (O*NET-SOC) is matched within it.
- Otherwise the referral is unmatched, with what it lacks (skills, credentials, degree)
  for the three nearest openings, which feeds the skills-gap report.

After the first decision (see `decides_again` and `releases_slot`):
- An update of an unmatched referral is decided again with the updated profile; a routed
  referral stays where it is (the employer may already be acting on it).
- A withdrawal (or the candidate's erasure) frees the slot a routed referral took, and a
  withdrawn referral is never decided again. A placed referral keeps its slot for good (the
  person holds the job; the gateway keeps the placement when the partner withdraws), also
  when routing learns of the placement only after the withdrawal (`after_placement`).
- The candidate turning the offer down ends the referral there and frees its slot; it is not
  decided again (`after_offer_declined`).
- An employer's decline (including the declines a closed opening makes) frees the slot
  and the referral is decided again, as a new attempt, among the other employers'
  openings: a referral never goes back to an employer it has been routed to
  (`after_decline`). With no routing attempts left it stays declined.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

from pydantic import BaseModel

from contracts import bounds, events, vocabulary

WEIGHTS = {"skills": 0.6, "preferred": 0.2, "credentials": 0.1, "location": 0.1}
NEAREST = bounds.NEAREST_MAX  # what referral.unmatched may carry
FAIR_SHARE = 0.5
FAIR_SHARE_HOLD = timedelta(days=3)


def canonical_skill(text: str) -> str:
    """The skills vocabulary's id for `text` (any alias or spelling), else the normalized text."""
    found = vocabulary.skills().lookup(text)
    return found.id if found else events.text_key(text)


@dataclass(frozen=True)
class Opening:
    opening_id: str
    employer_id: str
    title: str
    onet_soc_code: str
    required: frozenset[str]
    preferred: frozenset[str]
    remaining: int
    capacity: int = 0
    location: str = ""
    remote: bool = False
    credentials: tuple[events.CredentialRequirement, ...] = ()
    degree: events.DegreeLevel | None = None
    posted_at: datetime | None = None
    taken_by: Mapping[str, int] = field(default_factory=dict)  # partner -> slots held


@dataclass(frozen=True)
class Candidate:
    referral_id: str
    skills: frozenset[str]
    target_onet_soc_code: str | None = None
    target_opening_id: str | None = None
    partner_id: str = ""
    credentials: frozenset[str] = frozenset()  # CTDL ids and normalized names of completed credentials
    degree: events.DegreeLevel | None = None
    location: str | None = None
    excluded: frozenset[str] = frozenset()  # openings this referral may not go to (e.g. a lost race)
    excluded_employers: frozenset[str] = frozenset()  # employers it was routed to before (they declined)


@dataclass(frozen=True)
class Routed:
    opening: Opening
    score: float
    matched: list[str]
    missing_preferred: list[str]
    explanation: str
    details: events.MatchDetails


@dataclass(frozen=True)
class Near:
    opening: Opening
    missing_required: list[str]
    missing_requirements: list[str] = field(default_factory=list)
    # What this nearest opening puts in a decision's events, made once (`decision_events`):
    # "nearest" -> its NearestOpening; "comparison" -> its part of a skills-gap observation,
    # copied with the next referral's missing preferred skills; and, on the first `Near` of a
    # decision, "gap" -> the skills-gap observation, copied with the next referral's ids, skills
    # and comparisons, and ("unmatched", reason) -> a referral.unmatched, copied with the next
    # referral's ids. The index keeps the nearest
    # openings per `catalogue.nearest_key` (Catalogue.unmatched), so many referrals share these.
    made: dict = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class Unmatched:
    reason: str
    nearest: list[Near]

    @property
    def missing_skills(self) -> list[str]:
        return sorted({s for n in self.nearest for s in n.missing_required})


def skills(values: list[str]) -> frozenset[str]:
    return frozenset(canonical_skill(v) for v in values if v.strip())


def held_credentials(credentials: list[events.Credential]) -> frozenset[str]:
    done = [c for c in credentials if c.status == "completed"]
    return frozenset([c.ctdl_id for c in done if c.ctdl_id] + [events.text_key(c.name) for c in done])


# --- requirements --------------------------------------------------------------------------


def missing_requirements(candidate: Candidate, opening: Opening) -> list[str]:
    """Mandatory credentials and degree the candidate lacks for the opening, in words."""
    missing = [f"credential: {r.name}" for r in opening.credentials if not _holds(candidate, r)]
    if opening.degree and (candidate.degree is None or _DEGREE_RANK[candidate.degree] < _DEGREE_RANK[opening.degree]):
        missing.append(f"degree: {opening.degree.value} or higher")
    return missing


# DegreeLevel.rank looks its level up in the enum's list each time; a decision asks often.
_DEGREE_RANK = {level: level.rank for level in events.DegreeLevel}


def _holds(candidate: Candidate, requirement: events.CredentialRequirement) -> bool:
    if requirement.ctdl_id:
        return requirement.ctdl_id in candidate.credentials
    return events.text_key(requirement.name) in candidate.credentials


def meets_mandatory(candidate: Candidate, opening: Opening) -> bool:
    return opening.required <= candidate.skills and not missing_requirements(candidate, opening)


def fair_share(opening: Opening) -> int:
    return max(1, math.ceil(opening.capacity * FAIR_SHARE))


def held_back(candidate: Candidate, opening: Opening, now: datetime) -> bool:
    """Does the fair-share rule keep this partner's candidate out of the opening now?"""
    young = opening.posted_at is not None and now < opening.posted_at + FAIR_SHARE_HOLD
    return young and opening.taken_by.get(candidate.partner_id, 0) >= fair_share(opening)


# --- the decision ----------------------------------------------------------------------------


def decide(candidate: Candidate, openings: list[Opening], now: datetime | None = None) -> Routed | Unmatched:
    pool = [
        o
        for o in openings
        if _in_target(candidate, o)
        and o.opening_id not in candidate.excluded
        and o.employer_id not in candidate.excluded_employers
    ]
    fits = [o for o in pool if meets_mandatory(candidate, o)]
    with_slot = [o for o in fits if o.remaining > 0]
    eligible = [o for o in with_slot if now is None or not held_back(candidate, o, now)]
    if eligible:
        rank = {o.opening_id: _rank(candidate, o) for o in with_slot}  # each opening scored once
        best = min(eligible, key=lambda o: rank[o.opening_id])
        fairness = None
        if len(eligible) < len(with_slot) and min(rank.values()) < rank[best.opening_id]:
            fairness = "a better-scoring opening is held for other partners' candidates (fair share)"
        return routed(candidate, best, len(eligible) - 1, fairness)

    reason = unmatched_reason(candidate, len(pool), len(fits), len(with_slot))
    if not pool:
        return Unmatched(reason, [])
    nearest = sorted(
        pool,
        key=lambda o: (-len(o.required & candidate.skills), len(missing_requirements(candidate, o)), len(o.required), o.opening_id),
    )[:NEAREST]
    return Unmatched(
        reason,
        [Near(o, sorted(o.required - candidate.skills), missing_requirements(candidate, o)) for o in nearest],
    )


def unmatched_reason(candidate: Candidate, pool: int, fits: int, with_slot: int) -> str:
    """Why nothing was eligible, from how many openings were in the pool, fitted, and had a slot."""
    if not pool:
        what = f" in occupation {candidate.target_onet_soc_code}" if candidate.target_onet_soc_code else ""
        return f"no open opening{what} asks for any of the candidate's skills"
    if with_slot:
        return "the openings that fit are held for other partners' candidates for now (fair share)"
    if fits:
        return "openings that fit are full"
    return "missing required skills or requirements for every open opening"


def _in_target(candidate: Candidate, opening: Opening) -> bool:
    code = candidate.target_onet_soc_code
    return code is None or opening.onet_soc_code[:7] == code[:7]


def _rank(candidate: Candidate, opening: Opening) -> tuple[int, float, int, str]:
    return (0 if opening.opening_id == candidate.target_opening_id else 1, -score(candidate, opening),
            -opening.remaining, opening.opening_id)


def _location(candidate: Candidate, opening: Opening) -> tuple[str, float]:
    if opening.remote:
        return "remote", 1.0
    if candidate.location is None:
        return "unknown", 0.5
    if events.text_key(candidate.location) == events.text_key(opening.location):
        return "same_location", 1.0
    return "different_location", 0.0


def score_parts(candidate: Candidate, opening: Opening) -> dict[str, float]:
    """The score's weighted parts, each rounded to 4 places (the explanation of the winner shows them)."""
    def coverage(wanted: frozenset[str] | int, have: int) -> float:
        total = wanted if isinstance(wanted, int) else len(wanted)
        return have / total if total else 1.0

    held = sum(1 for r in opening.credentials if _holds(candidate, r))
    parts = {
        "skills": coverage(opening.required, len(opening.required & candidate.skills)),
        "preferred": coverage(opening.preferred, len(opening.preferred & candidate.skills)),
        "credentials": coverage(len(opening.credentials), held),
        "location": _location(candidate, opening)[1],
    }
    return {k: round(WEIGHTS[k] * v, 4) for k, v in parts.items()}


def score(candidate: Candidate, opening: Opening) -> float:
    return _total(score_parts(candidate, opening))


def _total(parts: dict[str, float]) -> float:
    # The parts added in WEIGHTS' order, then rounded: catalogue.rank adds the same floats in
    # the same order, so a ranking computed without the parts gives the same score.
    return round(sum(parts.values()), 4)


def routed(candidate: Candidate, opening: Opening, alternatives: int, fairness: str | None) -> Routed:
    """The decision to route to `opening`, explained (its parts are built here, for the winner only)."""
    parts = score_parts(candidate, opening)
    matched = sorted((opening.required | opening.preferred) & candidate.skills)
    missing = sorted(opening.preferred - candidate.skills)
    have_pref = len(opening.preferred) - len(missing)
    place, _ = _location(candidate, opening)
    creds = [r.name for r in opening.credentials if _holds(candidate, r)]
    explanation = (
        f"Has all {len(opening.required)} required skills for '{opening.title}'"
        f" and {have_pref} of {len(opening.preferred)} preferred"
        + (f"; lacks preferred: {', '.join(missing)}" if missing else "")
        + (f"; holds the required {', '.join(creds)}" if creds else "")
        + (f"; meets the {opening.degree.value} degree requirement" if opening.degree else "")
        + {"remote": "; remote job", "same_location": "; same location", "unknown": "",
           "different_location": "; works elsewhere"}[place]
        + (f"; {alternatives} other opening(s) also fit" if alternatives else "")
        + (f"; {fairness}" if fairness else "")
        + f". {opening.remaining - 1} slot(s) left after this referral."
    )
    details = events.MatchDetails(
        required_matched=sorted(opening.required),
        preferred_matched=sorted(opening.preferred & candidate.skills),
        preferred_missing=missing,
        credentials_matched=creds,
        location=place,
        score_parts=parts,
        alternatives=alternatives,
        fairness=fairness,
    )
    return Routed(opening, _total(parts), matched, missing, explanation, details)


_new = object.__new__
_set = object.__setattr__
_Model = TypeVar("_Model", bound=BaseModel)
# What the contracts' Id accepts (contracts.bounds: at most ID_MAX characters, no control
# character but tab, newline and carriage return).
_NOT_ID_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _an_id(value: object) -> bool:
    return type(value) is str and len(value) <= bounds.ID_MAX and not _NOT_ID_TEXT.search(value)


def _skill_keys(values: list[str]) -> bool:
    """Would the contract's SkillList take `values` as they are (at most SKILLS_MAX texts of at
    most NAME_MAX characters, no control character but tab, newline and carriage return)?"""
    return len(values) <= bounds.SKILLS_MAX and all(
        type(v) is str and len(v) <= bounds.NAME_MAX and not _NOT_ID_TEXT.search(v) for v in values)


def _copy(template: _Model, changes: dict) -> _Model:
    """`template` with `changes`, made as the constructor would make it from the same values
    (the same fields set, in the same order), without validating again the fields taken from
    the template. The caller checks the changed values as the model's validation would."""
    made = _new(type(template))
    _set(made, "__dict__", {**template.__dict__, **changes})
    _set(made, "__pydantic_fields_set__", template.__pydantic_fields_set__)
    _set(made, "__pydantic_extra__", None)
    _set(made, "__pydantic_private__", None)
    return made


def gap_observations(candidate: Candidate, decision: Routed | Unmatched) -> list[events.SkillsGapObservedV2]:
    """The decision as skills demand and supply, one event: the candidate's skills compared with
    the opening routed to, or with each of the nearest openings (or, with none near, the target
    occupation alone); none when there is nothing to compare with."""
    held = sorted(candidate.skills)
    if isinstance(decision, Unmatched) and decision.nearest:
        return [_unmatched_gap(candidate, held, decision)]
    if isinstance(decision, Routed):
        opening = decision.opening
        comparison = events.GapComparison(
            onet_soc_code=opening.onet_soc_code, opening_id=opening.opening_id,
            missing_required=sorted(opening.required - candidate.skills),
            missing_preferred=sorted(opening.preferred - candidate.skills),
            missing_requirements=missing_requirements(candidate, opening),
        )
        return [_gap_observed(candidate, held, events.GapOutcome.routed, [comparison])]
    if candidate.target_onet_soc_code:
        comparison = events.GapComparison(onet_soc_code=candidate.target_onet_soc_code, opening_id=None,
                                          missing_required=[], missing_preferred=[], missing_requirements=[])
        return [_gap_observed(candidate, held, events.GapOutcome.unmatched, [comparison])]
    return []


def _unmatched_gap(candidate: Candidate, held: list[str], decision: Unmatched) -> events.SkillsGapObservedV2:
    """An unmatched decision's observation. A nearest opening's comparison depends on the
    referral only through the opening's preferred skills it lacks (`_near_comparison`), the
    event through its ids, held skills and comparisons: the first one made is kept on the first
    `Near` and copied with those for the next referral. Values that validation might refuse or
    change go through the constructor."""
    comparisons = [_near_comparison(candidate, n) for n in decision.nearest]
    copyable = _an_id(candidate.referral_id) and _an_id(candidate.partner_id) and _skill_keys(held)
    kept = decision.nearest[0].made.get("gap")
    if copyable and kept is not None:
        return _copy(kept, {"referral_id": candidate.referral_id, "partner_id": candidate.partner_id, "held": held,
                            "comparisons": comparisons})
    made = _gap_observed(candidate, held, events.GapOutcome.unmatched, comparisons)
    if copyable:
        decision.nearest[0].made["gap"] = made
    return made


def _near_comparison(candidate: Candidate, near: Near) -> events.GapComparison:
    """A nearest opening's comparison: made once per `Near` (its missing skills and requirements
    are worked out already, the same for every referral given it), and for a referral lacking
    other preferred skills copied with those (a subset of the opening's, valid as they are)."""
    missing_preferred = sorted(near.opening.preferred - candidate.skills)
    found = near.made.get("comparison")
    if found is None:
        found = near.made["comparison"] = events.GapComparison(
            onet_soc_code=near.opening.onet_soc_code, opening_id=near.opening.opening_id,
            missing_required=near.missing_required, missing_preferred=missing_preferred,
            missing_requirements=near.missing_requirements,
        )
    elif found.missing_preferred != missing_preferred:
        return _copy(found, {"missing_preferred": missing_preferred})
    return found


def _gap_observed(candidate: Candidate, held: list[str], outcome: events.GapOutcome,
                  comparisons: list[events.GapComparison]) -> events.SkillsGapObservedV2:
    return events.SkillsGapObservedV2(
        referral_id=candidate.referral_id, partner_id=candidate.partner_id, outcome=outcome, held=held,
        comparisons=comparisons,
    )


def _nearest_opening(near: Near) -> events.NearestOpening:
    """What referral.unmatched says of a nearest opening, made once per `Near` (the model is
    frozen, and the event takes the instance as it is)."""
    found = near.made.get("nearest")
    if found is None:
        found = near.made["nearest"] = events.NearestOpening(
            opening_id=near.opening.opening_id,
            employer_id=near.opening.employer_id,
            missing_skills=near.missing_required,
            missing_requirements=near.missing_requirements,
        )
    return found


def decision_events(
    candidate: Candidate,
    decision: Routed | Unmatched,
    candidate_id: str,
    credentials: list[events.Credential],
    attempt: int,
) -> list[events.Payload]:
    """What a decision publishes: referral.routed or referral.unmatched, and what it shows of
    the skills gap."""
    common = {"referral_id": candidate.referral_id, "partner_id": candidate.partner_id, "candidate_id": candidate_id}
    out: events.Payload
    if isinstance(decision, Routed):
        out = events.ReferralRoutedV1(
            **common,
            opening_id=decision.opening.opening_id,
            employer_id=decision.opening.employer_id,
            score=decision.score,
            matched_skills=decision.matched,
            missing_skills=decision.missing_preferred,
            candidate_skills=sorted(candidate.skills),
            credentials=credentials,
            explanation=decision.explanation,
            attempt=attempt,
            details=decision.details,
        )
    else:
        out = _unmatched_event(common, decision, attempt)
    return [out, *gap_observations(candidate, decision)]


def _unmatched_event(common: dict[str, str], decision: Unmatched, attempt: int) -> events.ReferralUnmatchedV1:
    """referral.unmatched: its reason, missing skills and nearest openings depend only on the
    decision, kept for a profile (catalogue.Catalogue.unmatched) and shared by its referrals, so
    the first one made with this reason is kept on the first `Near` and copied with the next
    referral's ids and attempt, checked as validation would check them."""
    nearest = [_nearest_opening(n) for n in decision.nearest]
    copyable = nearest and all(_an_id(v) for v in common.values()) and type(attempt) is int and (
        1 <= attempt <= bounds.INT4_MAX)
    if copyable:
        key = ("unmatched", decision.reason)
        kept = decision.nearest[0].made.get(key)
        # The same NearestOpening objects are the same nearest openings (each is made once per
        # `Near`), so the same missing skills too.
        if kept is not None and len(kept.nearest) == len(nearest) and all(
                a is b for a, b in zip(kept.nearest, nearest, strict=True)):
            return _copy(kept, {**common, "attempt": attempt})
    made = events.ReferralUnmatchedV1(**common, reason=decision.reason, missing_skills=decision.missing_skills,
                                      nearest=nearest, attempt=attempt)
    if copyable:
        decision.nearest[0].made[key] = made
    return made


# Outcomes of a stored decision. WITHDRAWN_UNSEEN: withdrawn (or erased) before any decision;
# PLACED and OFFER_DECLINED: what became of a routing at its employer, as far as its slot goes.
ROUTED, UNMATCHED, WITHDRAWN_UNSEEN, DECLINED = "routed", "unmatched", "withdrawn", "declined"
PLACED, OFFER_DECLINED = "placed", "offer_declined"


def decides_again(outcome: str, withdrawn: bool) -> bool:
    """Does an update of the referral's profile lead to a new decision?"""
    return outcome == UNMATCHED and not withdrawn


def releases_slot(outcome: str, withdrawn: bool) -> bool:
    """Does withdrawing the referral give its opening a slot back? Only a routing still in
    progress does (once: a second withdrawal does not). A placed referral keeps its slot: the
    person holds the job. A declined one, or one whose offer was turned down, gave it back then."""
    return outcome == ROUTED and not withdrawn


@dataclass(frozen=True)
class AfterPlacement:
    """What a placement does to routing's decision on the referral."""

    applies: bool  # the placement is at the opening of the current routing (not a repeat)
    retakes_slot: bool  # a withdrawal gave the slot back before routing learnt of the placement


def after_placement(outcome: str, withdrawn: bool, opening_id: str | None, placed_opening_id: str) -> AfterPlacement:
    """The slot of a placed referral stays taken for good. The placement and a withdrawal
    travel on different topics, so routing may see the withdrawal first although the gateway
    placed the referral before the withdrawal reached it (the gateway then keeps the
    placement): the slot the withdrawal gave back is taken again. A repeated placement, or
    one at another opening than the current routing's, changes nothing."""
    if outcome != ROUTED or opening_id != placed_opening_id:
        return AfterPlacement(False, False)
    return AfterPlacement(True, withdrawn)


@dataclass(frozen=True)
class AfterDecline:
    """What an employer's decline does to routing's decision on the referral."""

    applies: bool  # the decline is about the referral's current routing (not a repeat or a stale one)
    frees_slot: bool
    decide_again: bool  # attempts are left: decide among the other employers' openings


def after_decline(
    outcome: str, withdrawn: bool, opening_id: str | None, declined_opening_id: str, attempt: int, max_attempts: int
) -> AfterDecline:
    """A decline applies only to the routing it names: routed to that opening and not
    withdrawn (a withdrawal gave the slot back already). A repeated or late decline of an
    earlier routing changes nothing."""
    if outcome != ROUTED or withdrawn or opening_id != declined_opening_id:
        return AfterDecline(False, False, False)
    return AfterDecline(True, True, attempt < max_attempts)


def after_offer_declined(outcome: str, withdrawn: bool, opening_id: str | None, declined_opening_id: str) -> AfterDecline:
    """The candidate turned the offer down: the referral ends at that employer (the gateway no
    longer counts it against the opening), so its slot is free, unless a withdrawal gave it
    back already. The candidate chose so: it is not decided again."""
    if outcome != ROUTED or opening_id != declined_opening_id:
        return AfterDecline(False, False, False)
    return AfterDecline(True, not withdrawn, False)
