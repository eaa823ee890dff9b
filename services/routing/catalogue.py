"""The open openings a batch of decisions may touch, in memory: pure, no I/O.

Deciding a batch of referrals one SQL round trip at a time cost ~12 ms a decision; here the
store reads the slots of every open opening once per batch (the postings themselves, and the
`Index` built from them, are kept per process until an opening changes), and each decision
reads and updates this snapshot instead, exactly as `application.decide` reads and updates the
tables: the same openings are covering, the same are nearest, and a slot taken by one
decision is gone for the next. `decide_in`, applied in order, is `domain.decide` applied in
order (tests/unit/test_routing_catalogue.py checks it against `decide` on random catalogues).
The store then checks, under the row locks of the openings chosen, that nobody took their
slots meanwhile.

Where the time went (docs/performance.md): `decide` scores every covering opening (about 230
per referral) for every referral, building a dictionary of parts each time. A score depends
only on the candidate's profile (skills, credentials, degree, location, target occupation) and
the posting, never on slots or partner, so `decide_in` ranks the openings that fit a profile
once (`Ranking`, shared by every referral of that profile in the batch) and keeps per referral
only what the batch changes: slots left (the tie-break, and whether an opening is full), the
fair-share hold (by partner) and the exclusions. Explanation parts are built for the winner only.
"""

from __future__ import annotations

import dataclasses
import heapq
from collections import Counter, defaultdict
from collections.abc import Mapping
from datetime import datetime
from itertools import chain

from contracts import events
from services.routing.domain import (
    FAIR_SHARE_HOLD,
    NEAREST,
    WEIGHTS,
    Candidate,
    Near,
    Opening,
    Routed,
    Unmatched,
    fair_share,
    missing_requirements,
    routed,
    unmatched_reason,
)

NEAREST_POOL = 50  # openings weighed for "nearest" when none fits: those sharing the most required skills

# A profile: everything of a candidate that a score or a fit depends on.
ProfileKey = tuple[frozenset[str], frozenset[str], object, object, object]


def profile_of(candidate: Candidate) -> ProfileKey:
    return (candidate.skills, candidate.credentials, candidate.degree, candidate.location,
            candidate.target_onet_soc_code)


class Index:
    """Open openings' postings indexed for deciding: by required skill, with what a score needs
    of each precomputed. Built once per set of postings (the store keeps it per process while
    no opening is posted, updated or closed); slots are not in it."""

    def __init__(self, postings: Mapping[str, Opening]) -> None:
        self.postings = dict(postings)  # opening id -> the posting (remaining and taken_by not meaningful)
        self.ids = frozenset(self.postings)
        requiring: dict[str, list[str]] = defaultdict(list)
        self.unconditional: list[str] = []  # openings requiring no skill: they cover anyone
        self.size: dict[str, int] = {}  # opening id -> how many skills it requires
        self.occupation: dict[str, str] = {}  # opening id -> the first 7 characters of its O*NET-SOC code
        self.hold_end: dict[str, datetime] = {}  # opening id -> end of its fair-share hold
        self.share: dict[str, int] = {}  # opening id -> the most slots one partner may hold while young
        self.place: dict[str, str | None] = {}  # opening id -> its location's text key; None when remote
        self.checked: set[str] = set()  # openings with mandatory credentials or a degree to check
        for opening_id, p in self.postings.items():
            self.size[opening_id] = len(p.required)
            for skill in p.required:
                requiring[skill].append(opening_id)
            if not p.required:
                self.unconditional.append(opening_id)
            self.occupation[opening_id] = p.onet_soc_code[:7]
            if p.posted_at is not None:
                self.hold_end[opening_id] = p.posted_at + FAIR_SHARE_HOLD
            self.share[opening_id] = fair_share(p)
            self.place[opening_id] = None if p.remote else events.text_key(p.location)
            if p.credentials or p.degree:
                self.checked.add(opening_id)
        self.requiring: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in requiring.items()}  # skill -> openings
        # What a score needs of each opening, in one lookup: preferred skills and how many,
        # mandatory credentials, place (None: remote), whether requirements are to be checked.
        self.scoring = {
            i: (p.preferred, len(p.preferred), p.credentials, self.place[i], i in self.checked)
            for i, p in self.postings.items()
        }
        # Openings by (required count, id), the tie-break among those sharing as many skills
        # with a candidate: "nearest" ranks by one integer per opening, then in C.
        self.by_order = sorted(self.postings, key=lambda i: (self.size[i], i))
        self.order = {i: k for k, i in enumerate(self.by_order)}
        # The required-skill sets as a trie over sorted skills (a node: skill -> node, and None ->
        # the openings whose set ends there), so the sets a candidate covers are found by walking
        # only the prefixes it holds, instead of counting every opening sharing one of its skills.
        self._trie: dict = {}
        for opening_id, p in self.postings.items():
            node = self._trie
            for skill in sorted(p.required):
                node = node.setdefault(skill, {})
            node.setdefault(None, []).append(opening_id)

    def __len__(self) -> int:
        return len(self.postings)

    def sharing(self, candidate: Candidate) -> Counter[str]:
        """Openings sharing at least one required skill with the candidate, with how many
        (counted in C: this is the hot loop of a batch)."""
        requiring = self.requiring
        return Counter(chain.from_iterable(requiring.get(s, ()) for s in candidate.skills))

    def covering(self, skills: frozenset[str]) -> list[str]:
        """Openings whose required skills are all in `skills` (`required <@ skills`), in no order."""
        held = sorted(skills)
        found: list[str] = []
        stack = [(self._trie, 0)]
        while stack:
            node, start = stack.pop()
            ends = node.get(None)
            if ends:
                found += ends
            for j in range(start, len(held)):
                child = node.get(held[j])
                if child is not None:
                    stack.append((child, j + 1))
        return found

    def in_target(self, candidate: Candidate, opening_id: str) -> bool:
        code = candidate.target_onet_soc_code
        return code is None or self.occupation[opening_id] == code[:7]


@dataclasses.dataclass(frozen=True)
class Ranking:
    """One profile against the catalogue: what no slot or partner changes."""

    covering: tuple[str, ...]  # open openings in its target whose required skills it has all of
    fits: tuple[tuple[float, str], ...]  # of those, the ones whose mandatory requirements it meets, as
    #   (-score, opening id), best first


# round(weight x coverage, 4) for the preferred part, by (have, of): the same float `score_parts` makes.
_PREFERRED: dict[tuple[int, int], float] = {}


def _preferred(have: int, of: int) -> float:
    found = _PREFERRED.get((have, of))
    if found is None:
        found = _PREFERRED[(have, of)] = round(WEIGHTS["preferred"] * (have / of if of else 1.0), 4)
    return found


def rank(index: Index, candidate: Candidate, among: Mapping[str, object] | None = None) -> Ranking:
    """The covering openings (of `among`, if given) and, of those that fit, their scores:
    `domain.score` for each, computed without building its parts (same float: the same
    rounded parts added in the same order)."""
    code = candidate.target_onet_soc_code
    occupation = index.occupation
    covering = index.covering(candidate.skills)
    if among is not None:
        covering = [i for i in covering if i in among]
    if code is not None:
        code = code[:7]
        covering = [i for i in covering if occupation[i] == code]
    skills_part = round(WEIGHTS["skills"] * 1.0, 4)  # every covering opening: all required skills held
    here = None if candidate.location is None else events.text_key(candidate.location)
    unknown, near, far = (round(WEIGHTS["location"] * v, 4) for v in (0.5, 1.0, 0.0))
    postings, scoring, skills = index.postings, index.scoring, candidate.skills
    no_credentials = round(WEIGHTS["credentials"] * 1.0, 4)
    fits = []
    for i in covering:
        preferred, wanted, credentials, where, check = scoring[i]
        if check and missing_requirements(candidate, postings[i]):
            continue
        if credentials:
            held = sum(1 for r in credentials if _holds(candidate, r))
            credentials_part = round(WEIGHTS["credentials"] * (held / len(credentials)), 4)
        else:
            credentials_part = no_credentials
        location_part = near if where is None else unknown if here is None else near if here == where else far
        total = skills_part + _preferred(len(preferred & skills), wanted) + credentials_part + location_part
        fits.append((-round(total, 4), i))
    fits.sort()
    return Ranking(tuple(covering), tuple(fits))


def _holds(candidate: Candidate, requirement: events.CredentialRequirement) -> bool:
    if requirement.ctdl_id:
        return requirement.ctdl_id in candidate.credentials
    return events.text_key(requirement.name) in candidate.credentials


class Catalogue:
    """The open openings with their slots as a snapshot saw them; an Opening is materialized
    only when a decision names it. Rankings and the nearest openings of each profile are kept
    for the batch."""

    def __init__(
        self, postings: Index | Mapping[str, Opening], slots: Mapping[str, tuple[int, Mapping[str, int]]]
    ) -> None:
        self.index = postings if isinstance(postings, Index) else Index(postings)
        # The slots of the openings the snapshot saw open; an opening of the index it did not see is left out.
        self.remaining: dict[str, int] = {i: s[0] for i, s in slots.items()}
        self.taken_by: dict[str, Mapping[str, int]] = {i: s[1] for i, s in slots.items() if s[1]}
        self._partial = len(self.remaining) != len(self.index)
        self._rankings: dict[ProfileKey, Ranking] = {}
        self._unmatched: dict[ProfileKey, Unmatched] = {}
        self.taken: dict[str, int] = defaultdict(int)  # slots taken from this snapshot, per opening

    @classmethod
    def of(cls, index: Index, remaining: dict[str, int], taken_by: dict[str, Mapping[str, int]]) -> Catalogue:
        """From the slots left and the slots held per partner (young openings'), as the store reads them."""
        catalogue = cls(index, {})
        catalogue.remaining, catalogue.taken_by = remaining, taken_by
        catalogue._partial = len(remaining) != len(index)
        return catalogue

    def __len__(self) -> int:
        return len(self.remaining)

    def opening(self, opening_id: str) -> Opening:
        return dataclasses.replace(
            self.index.postings[opening_id], remaining=self.remaining[opening_id],
            taken_by=self.taken_by.get(opening_id, {}),
        )

    def _sharing(self, candidate: Candidate) -> Counter[str]:
        found = self.index.sharing(candidate)
        if self._partial:
            found = Counter({i: n for i, n in found.items() if i in self.remaining})
        return found

    def ranking(self, candidate: Candidate) -> Ranking:
        key = profile_of(candidate)
        found = self._rankings.get(key)
        if found is None:
            found = self._rankings[key] = rank(self.index, candidate, self.remaining if self._partial else None)
        return found

    def take(self, opening_id: str, partner_id: str) -> None:
        self.remaining[opening_id] -= 1
        taken_by = dict(self.taken_by.get(opening_id, {}))
        taken_by[partner_id] = taken_by.get(partner_id, 0) + 1
        self.taken_by[opening_id] = taken_by
        self.taken[opening_id] += 1

    def unmatched(self, candidate: Candidate) -> Unmatched:
        """`decide` over the nearest openings, which looks wider than the covering ones when
        none of those is eligible. It cannot route (an eligible opening is covering, and none
        of those was), so what it finds does not depend on slots and is kept per profile when
        the candidate excludes nothing; only the openings it names are materialized."""
        plain = not (candidate.excluded or candidate.excluded_employers)
        key = profile_of(candidate)
        found = self._unmatched.get(key) if plain else None
        if found is None:
            found = self._nearest_unmatched(candidate)
            if plain:
                self._unmatched[key] = found
        return found

    def _nearest_unmatched(self, candidate: Candidate) -> Unmatched:
        index, skills = self.index, candidate.skills
        size, postings, checked, order, span = index.size, index.postings, index.checked, index.order, len(index.by_order)
        shared = self._sharing(candidate)
        # Most shared first, then fewest required, then opening id: one integer per opening.
        code = candidate.target_onet_soc_code
        if code is None:
            keys = [order[i] - n * span for i, n in shared.items()]
        else:
            occupation, code = index.occupation, code[:7]
            keys = [order[i] - n * span for i, n in shared.items() if occupation[i] == code]
        near = [index.by_order[k % span] for k in heapq.nsmallest(NEAREST_POOL, keys)]
        pool = [i for i in near if i not in candidate.excluded
                and postings[i].employer_id not in candidate.excluded_employers]
        missing = {i: missing_requirements(candidate, postings[i]) if i in checked else [] for i in pool}
        # Its reason counts only when no opening is covering; then none of these fits either.
        reason = unmatched_reason(candidate, len(pool), 0, 0)
        nearest = sorted(pool, key=lambda i: (-shared[i], len(missing[i]), size[i], i))[:NEAREST]
        return Unmatched(reason, [
            Near(self.opening(i), sorted(postings[i].required - skills), missing[i]) for i in nearest])


def decide_in(catalogue: Catalogue, candidate: Candidate, now: datetime) -> Routed | Unmatched:
    """One decision against the snapshot, taking the slot when routed: `domain.decide` over the
    covering openings (then, unmatched, over the nearest), with the profile's ranking reused.

    In `decide`'s terms: the pool is the covering openings not excluded; `fits` those meeting
    every mandatory requirement; eligible those with a slot the fair share allows; the best is
    the named target opening, else the highest score, then most slots left, then opening id."""
    ranking = catalogue.ranking(candidate)
    excluded, employers = candidate.excluded, candidate.excluded_employers
    postings = catalogue.index.postings
    if excluded or employers:
        def allowed(i: str) -> bool:
            return i not in excluded and postings[i].employer_id not in employers
        pool = sum(1 for i in ranking.covering if allowed(i))
        fits = [f for f in ranking.fits if allowed(f[1])]
    else:
        pool, fits = len(ranking.covering), ranking.fits
    remaining, taken_by = catalogue.remaining, catalogue.taken_by
    hold_end, share = catalogue.index.hold_end, catalogue.index.share
    partner, target = candidate.partner_id, candidate.target_opening_id
    eligible = with_slot = 0
    best = best_score = best_left = targeted = None
    held: list[tuple[float, str]] = []  # with a slot, but not for this partner now (fair share)
    for f in fits:
        neg, i = f
        left = remaining[i]
        if left <= 0:
            continue
        with_slot += 1
        by = taken_by.get(i)
        if by and i in hold_end and now < hold_end[i] and by.get(partner, 0) >= share[i]:
            held.append(f)
            continue
        eligible += 1
        if i == target:
            targeted = i
        if best is None:
            best, best_score, best_left = i, neg, left
        elif neg == best_score and left > best_left:  # same score: more slots left wins (then the smaller id)
            best, best_left = i, left
    if best is None:
        reason = unmatched_reason(candidate, pool, len(fits), with_slot)
        wider = catalogue.unmatched(candidate)
        return dataclasses.replace(wider, reason=reason) if ranking.covering else wider
    if targeted is not None:
        best = targeted
    fairness = None
    if held:
        def key(f: tuple[float, str]) -> tuple[int, float, int, str]:
            return (0 if f[1] == target else 1, f[0], -remaining[f[1]], f[1])
        best_key = key((next(n for n, i in fits if i == best), best))
        if min(map(key, held)) < best_key:
            fairness = "a better-scoring opening is held for other partners' candidates (fair share)"
    decision = routed(candidate, catalogue.opening(best), eligible - 1, fairness)
    catalogue.take(best, partner)
    return decision
