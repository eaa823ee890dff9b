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

In a backlog of unmatched referrals (the openings that fit them full) the time went to the
nearest openings: every opening sharing a required skill (~500 for a candidate in a crowded
occupation) was counted and sorted, for each referral. `Index.nearest` finds the best 50 from
the intersections of pairs of the candidate's skills (cached per pair), and only the levels
that supply the three nearest are ordered by missing requirements. A ranking's scores are
worked out only when some fitting opening has a slot, and an opening is materialized by
copying its posting's fields instead of `dataclasses.replace`.
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from datetime import UTC, datetime
from itertools import chain, combinations, groupby
from operator import itemgetter

from contracts import bounds, events
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
_SHARED = {c * (c - 1) // 2: c for c in range(2, bounds.SKILLS_MAX + 2)}  # in how many pairs of skills an opening sharing c lies -> c
_PAIRS_KEPT = 50_000  # pairs of skills whose openings an Index keeps (then it starts again): a few MB at most
_PROFILES_KEPT = 5_000  # profiles whose ranking (and nearest openings) an Index keeps (then it starts again)
_PROFILES_SEEN = 100_000  # hashes of the profiles an Index has seen, for that (then it starts again)

# A profile: everything of a candidate that a score or a fit against the index depends on: of
# its skills only those some indexed opening requires or prefers (`Index.scored_skills`; the
# others are in no coverage, fit or score), of its credentials those some opening requires, its
# degree if some opening requires one. The pipeline's 10,000 people were 1,201 profiles with all
# their skills, credentials and degrees, 126 so; bench/routing.py's 10,000 referrals 9,979 and
# 8,943-9,102 (their degrees, places and extra skills differ).
ProfileKey = tuple[frozenset[str], frozenset[str], object, object, object]


def profile_of(index: Index, candidate: Candidate) -> ProfileKey:
    return (candidate.skills & index.scored_skills, candidate.credentials & index.credential_keys,
            candidate.degree if index.degrees else None, candidate.location, candidate.target_onet_soc_code)


# What a candidate's nearest openings depend on (`Catalogue.unmatched`): of its skills only those
# some indexed opening requires (the others share nothing and are never missing), its target
# occupation (the pool and the reason's words), and what mandatory requirements read
# (credentials, degree). Location and the other skills are not in it, so profiles that differ
# only there share one search: the pipeline's 10,000 people are 1,201 profiles, 126 of these.
# Of the credentials only those some opening requires count (`_holds` reads no other), and the
# degree only when some opening requires one (both for `profile_of` too).
NearestKey = tuple[frozenset[str], object, frozenset[str], object]


def nearest_key(index: Index, candidate: Candidate) -> NearestKey:
    return (candidate.skills & index.required_skills, candidate.target_onet_soc_code,
            candidate.credentials & index.credential_keys, candidate.degree if index.degrees else None)


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
                self.hold_end[opening_id] = _utc(p.posted_at + FAIR_SHARE_HOLD)
            self.share[opening_id] = fair_share(p)
            self.place[opening_id] = None if p.remote else events.text_key(p.location)
            if p.credentials or p.degree:
                self.checked.add(opening_id)
        self.requiring: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in requiring.items()}  # skill -> openings
        self.required_skills = frozenset(self.requiring)  # every skill some opening requires
        self.scored_skills = self.required_skills.union(*(p.preferred for p in self.postings.values()))
        # What a candidate's credentials are compared with (`_holds`: the CTDL id, else the name's text key).
        self.credential_keys = frozenset(r.ctdl_id or events.text_key(r.name)
                                         for p in self.postings.values() for r in p.credentials)
        self.degrees = any(p.degree for p in self.postings.values())  # does any opening require a degree?
        # What a score needs of each opening, in one lookup: preferred skills and how many,
        # mandatory credentials, place (None: remote), whether requirements are to be checked.
        self.scoring = {
            i: (p.preferred, len(p.preferred), p.credentials, self.place[i], i in self.checked)
            for i, p in self.postings.items()
        }
        # Openings by (required count, id): the tie-break among those sharing as many skills
        # with a candidate (`nearest`).
        self.by_order = sorted(self.postings, key=lambda i: (self.size[i], i))
        self.order = {i: k for k, i in enumerate(self.by_order)}
        # The same as sets of positions in `by_order`, for the nearest openings of an unmatched
        # candidate (`nearest`); and the openings of each occupation (first 7 characters).
        self.requiring_at: dict[str, frozenset[int]] = {
            s: frozenset(self.order[i] for i in ids) for s, ids in self.requiring.items()}
        self._pairs: dict[tuple[str, str], tuple[int, ...]] = {}  # (skill, skill) -> positions requiring both
        # What a profile gets against every opening of this index, for as long as it is the
        # process's index (`Catalogue.ranking`, `Catalogue.unmatched`): slots and partners are
        # not in it, so every batch whose snapshot saw all these openings open reuses it.
        # Only profiles seen in an earlier batch are kept (`*_before`: their hashes): a profile seen
        # once would only hold memory, and tracked objects every full collection walks.
        self.rankings: dict[ProfileKey, Ranking] = {}
        self.unmatched: dict[NearestKey, Unmatched] = {}
        self.ranked_before: set[int] = set()
        self.unmatched_before: set[int] = set()
        by_occupation: dict[str, set[int]] = defaultdict(set)
        for i, code in self.occupation.items():
            by_occupation[code].add(self.order[i])
        self.occupation_at: dict[str, frozenset[int]] = {c: frozenset(v) for c, v in by_occupation.items()}
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

    def nearest(self, skills: frozenset[str], among: AbstractSet[int] | None, limit: int) -> list[tuple[int, int]]:
        """The `limit` openings (of the positions `among`, if given) sharing the most required
        skills with `skills`, then fewest required, then smallest id: as (position, how many
        shared), best first. Only openings sharing one skill or more count.

        What was counting every opening that shares a skill (~500 for a candidate in a crowded
        occupation) and sorting them all is done with sets: an opening sharing c >= 2 skills
        lies in the intersections of c(c-1)/2 pairs of them (few, and cached per pair), which
        gives those and their counts; only when they are fewer than `limit` are the openings
        sharing one skill added, smallest position first (`by_order` is the tie-break order)."""
        held = sorted(s for s in skills if s in self.requiring_at)
        pairs, cached = self._pairs, []
        for a, b in combinations(held, 2):
            both = pairs.get((a, b))
            if both is None:
                if len(pairs) >= _PAIRS_KEPT:
                    pairs.clear()
                both = pairs[(a, b)] = tuple(self.requiring_at[a] & self.requiring_at[b])
            cached.append(both)
        in_pairs = Counter(chain.from_iterable(cached))  # position -> c(c-1)/2
        multi = [(-_SHARED[n], k) for k, n in in_pairs.items() if among is None or k in among]
        multi.sort()
        if len(multi) >= limit:
            return [(k, -n) for n, k in multi[:limit]]
        single = set().union(*(self.requiring_at[s] for s in held)).difference(in_pairs)
        if among is not None:
            single &= among
        return [(k, -n) for n, k in multi] + [(k, 1) for k in sorted(single)[:limit - len(multi)]]

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


class Ranking:
    """One profile against the catalogue: what no slot or partner changes.

    `fits` (the scores) is worked out on first use: a decision whose fitting openings are all
    full needs only how many fit, and in a backlog of unmatched referrals that is most of them."""

    __slots__ = ("covering", "fitting", "_fits", "_scoring", "_candidate")

    def __init__(self, index: Index, candidate: Candidate, covering: tuple[str, ...], fitting: tuple[str, ...]) -> None:
        self.covering = covering  # open openings in its target whose required skills it has all of
        self.fitting = fitting  # of those, the ones whose mandatory requirements it meets
        self._fits: tuple[tuple[float, str], ...] | None = None
        # The index's scoring table, not the index: an index keeps rankings (`Index.rankings`),
        # and a ranking that pointed back at it would make a cycle only the collector frees.
        self._scoring: dict | None = index.scoring
        self._candidate: Candidate | None = candidate

    @property
    def fits(self) -> tuple[tuple[float, str], ...]:
        """The fitting openings as (-score, opening id), best first."""
        if self._fits is None:
            assert self._scoring is not None and self._candidate is not None
            self._fits = _scored(self._scoring, self._candidate, self.fitting)
            self._scoring = self._candidate = None
        return self._fits


# round(weight x coverage, 4) for the preferred part, by (have, of): the same float `score_parts` makes.
_PREFERRED: dict[tuple[int, int], float] = {}


def _preferred(have: int, of: int) -> float:
    found = _PREFERRED.get((have, of))
    if found is None:
        found = _PREFERRED[(have, of)] = round(WEIGHTS["preferred"] * (have / of if of else 1.0), 4)
    return found


def rank(index: Index, candidate: Candidate, among: Mapping[str, object] | None = None) -> Ranking:
    """The covering openings (of `among`, if given), those of them whose mandatory requirements
    the candidate meets, and (`Ranking.fits`) their scores."""
    code = candidate.target_onet_soc_code
    occupation = index.occupation
    covering = index.covering(candidate.skills)
    if among is not None:
        covering = [i for i in covering if i in among]
    if code is not None:
        code = code[:7]
        covering = [i for i in covering if occupation[i] == code]
    checked, postings = index.checked, index.postings
    fitting = [i for i in covering if i not in checked or not missing_requirements(candidate, postings[i])]
    return Ranking(index, candidate, tuple(covering), tuple(fitting))


def _scored(scoring: Mapping[str, tuple], candidate: Candidate, fitting: tuple[str, ...]) -> tuple[tuple[float, str], ...]:
    """`domain.score` for each fitting opening, computed without building its parts (same
    float: the same rounded parts added in the same order), best first."""
    skills_part = round(WEIGHTS["skills"] * 1.0, 4)  # every covering opening: all required skills held
    here = None if candidate.location is None else events.text_key(candidate.location)
    unknown, near, far = (round(WEIGHTS["location"] * v, 4) for v in (0.5, 1.0, 0.0))
    skills = candidate.skills
    no_credentials = round(WEIGHTS["credentials"] * 1.0, 4)
    totals = _TOTALS
    fits = []
    for i in fitting:
        preferred, wanted, credentials, where, _ = scoring[i]
        if credentials:
            held = sum(1 for r in credentials if _holds(candidate, r))
            credentials_part = round(WEIGHTS["credentials"] * (held / len(credentials)), 4)
        else:
            credentials_part = no_credentials
        location_part = near if where is None else unknown if here is None else near if here == where else far
        # A score depends on these four values only: kept per process, so a routed decision
        # (about 20 fitting openings) mostly looks its scores up instead of adding and rounding.
        key = (len(preferred & skills), wanted, credentials_part, location_part)
        negative = totals.get(key)
        if negative is None:
            if len(totals) >= _TOTALS_KEPT:
                totals.clear()
            total = skills_part + _preferred(key[0], wanted) + credentials_part + location_part
            negative = totals[key] = -round(total, 4)
        fits.append((negative, i))
    fits.sort()
    return tuple(fits)


# (preferred skills held, preferred skills wanted, credentials part, location part) -> -score,
# the same float the sum above gives (`_scored`).
_TOTALS: dict[tuple[int, int, float, float], float] = {}
_TOTALS_KEPT = 100_000


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
        self._unmatched: dict[NearestKey, Unmatched] = {}
        self.taken: dict[str, int] = defaultdict(int)  # slots taken from this snapshot, per opening
        # (ranking, partner) -> a time: every fitting opening of the ranking with a slot was held
        # for other partners' candidates (fair share), the first of those holds ending then.
        # Until that time it stays so (`decide_in`): slots are only taken from a snapshot, so an
        # opening full stays full and a partner's share only grows; an earlier time holds an
        # opening as long. Once a partner held its fair share of every fitting opening with a
        # slot, its later referrals of the profile were each scanning them all again (about 46
        # a decision in the pipeline's 10,000 referrals).
        self.blocked: dict[tuple[Ranking, str], datetime] = {}

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
        """The posting with its slots now: a copy of the indexed one, made without
        `dataclasses.replace` (which runs __init__ again; a backlog of unmatched referrals
        materializes three openings a decision)."""
        posting = self.index.postings[opening_id]
        opening = object.__new__(Opening)
        state = opening.__dict__
        state.update(posting.__dict__)
        state["remaining"] = self.remaining[opening_id]
        state["taken_by"] = self.taken_by.get(opening_id, {})
        return opening

    def ranking(self, candidate: Candidate) -> Ranking:
        key = profile_of(self.index, candidate)
        # A snapshot that saw every indexed opening open ranks as any other such snapshot did.
        found = None if self._partial else self.index.rankings.get(key)
        if found is None:
            found = self._rankings.get(key)
            if found is None:
                found = self._rankings[key] = rank(self.index, candidate, self.remaining if self._partial else None)
                if not self._partial:
                    self._keep(self.index.rankings, self.index.ranked_before, key, found)
        return found

    @staticmethod
    def _keep(kept: dict, seen: set[int], key: ProfileKey | NearestKey, found: object) -> None:
        """Keep `found` in the index for later batches if the profile was seen in an earlier one."""
        h = hash(key)
        if h in seen:
            if len(kept) >= _PROFILES_KEPT:
                kept.clear()
            kept[key] = found
        else:
            if len(seen) >= _PROFILES_SEEN:
                seen.clear()
            seen.add(h)

    def take(self, opening_id: str, partner_id: str) -> None:
        self.remaining[opening_id] -= 1
        taken_by = dict(self.taken_by.get(opening_id, {}))
        taken_by[partner_id] = taken_by.get(partner_id, 0) + 1
        self.taken_by[opening_id] = taken_by
        self.taken[opening_id] += 1

    def unmatched(self, candidate: Candidate) -> Unmatched:
        """`decide` over the nearest openings, which looks wider than the covering ones when
        none of those is eligible. It cannot route (an eligible opening is covering, and none
        of those was), so what it finds does not depend on slots and is kept per `nearest_key`
        when the candidate excludes nothing; only the openings it names are materialized."""
        if candidate.excluded or candidate.excluded_employers:
            return self._nearest_unmatched(candidate)
        key = nearest_key(self.index, candidate)
        found = None if self._partial else self.index.unmatched.get(key)
        if found is None:
            found = self._unmatched.get(key)
            if found is None:
                found = self._unmatched[key] = self._nearest_unmatched(candidate)
                if not self._partial:
                    self._keep(self.index.unmatched, self.index.unmatched_before, key, found)
        return found

    def _nearest_unmatched(self, candidate: Candidate) -> Unmatched:
        index, skills = self.index, candidate.skills
        postings, checked, by_order = index.postings, index.checked, index.by_order
        code = candidate.target_onet_soc_code
        among = None if code is None else index.occupation_at.get(code[:7], frozenset())
        if self._partial:
            open_at = frozenset(index.order[i] for i in self.remaining if i in index.order)
            among = open_at if among is None else among & open_at
        pool = index.nearest(skills, among, NEAREST_POOL)  # (position, shared), most shared, then position
        excluded, employers = candidate.excluded, candidate.excluded_employers
        if excluded or employers:
            pool = [(k, n) for k, n in pool
                    if by_order[k] not in excluded and postings[by_order[k]].employer_id not in employers]
        # Its reason counts only when no opening is covering; then none of these fits either.
        reason = unmatched_reason(candidate, len(pool), 0, 0)
        # The nearest: most shared, then fewest mandatory requirements missing, then fewest
        # required, then opening id. Within a number shared the pool is in (required, id)
        # order already, so only the openings with requirements to check move (a stable sort),
        # and levels below the third opening chosen are not looked at.
        nearest: list[tuple[str, list[str]]] = []
        for _, level in groupby(pool, key=itemgetter(1)):
            ids = [by_order[k] for k, _ in level]
            missing = {i: missing_requirements(candidate, postings[i]) for i in ids if i in checked}
            if missing:
                ids.sort(key=lambda i: len(missing.get(i, ())))
            nearest += [(i, missing.get(i, [])) for i in ids[:NEAREST - len(nearest)]]
            if len(nearest) == NEAREST:
                break
        # The postings themselves, not copies with their slots: an unmatched decision's events
        # name no slots, and the decision is kept for the profile while the slots change.
        return Unmatched(reason, [
            Near(postings[i], sorted(postings[i].required - skills), lacks) for i, lacks in nearest])


def decide_in(catalogue: Catalogue, candidate: Candidate, now: datetime) -> Routed | Unmatched:
    """One decision against the snapshot, taking the slot when routed: `domain.decide` over the
    covering openings (then, unmatched, over the nearest), with the profile's ranking reused.

    In `decide`'s terms: the pool is the covering openings not excluded; `fits` those meeting
    every mandatory requirement; eligible those with a slot the fair share allows; the best is
    the named target opening, else the highest score, then most slots left, then opening id."""
    ranking = catalogue.ranking(candidate)
    excluded, employers = candidate.excluded, candidate.excluded_employers
    postings = catalogue.index.postings
    remaining, taken_by = catalogue.remaining, catalogue.taken_by
    if excluded or employers:
        def allowed(i: str) -> bool:
            return i not in excluded and postings[i].employer_id not in employers
        pool = sum(1 for i in ranking.covering if allowed(i))
        fitting = [i for i in ranking.fitting if allowed(i)]
    else:
        pool, fitting = len(ranking.covering), ranking.fitting
    if not any(remaining[i] > 0 for i in fitting):  # every fitting opening full (or none): no score needed
        return _unmatched(catalogue, candidate, ranking, unmatched_reason(candidate, pool, len(fitting), 0))
    now = _utc(now)
    partner, target = candidate.partner_id, candidate.target_opening_id
    plain = not (excluded or employers)
    if plain:
        held_until = catalogue.blocked.get((ranking, partner))
        if held_until is not None and now < held_until:  # some fitting opening has a slot (above): held, all
            return _unmatched(catalogue, candidate, ranking, unmatched_reason(candidate, pool, len(fitting), 1))
    fits = ranking.fits if plain else [f for f in ranking.fits if allowed(f[1])]
    hold_end, share = catalogue.index.hold_end, catalogue.index.share
    eligible = with_slot = 0
    best = best_score = best_left = targeted = None
    held: list[tuple[float, str]] = []  # with a slot, but not for this partner now (fair share)
    until_first = None  # the earliest end of a hold this partner is kept out by (`Catalogue.blocked`)
    for f in fits:
        neg, i = f
        left = remaining[i]
        if left <= 0:
            continue
        with_slot += 1
        by = taken_by.get(i)
        if by and by.get(partner, 0) >= share[i] and (until := hold_end.get(i)) is not None and now < until:
            held.append(f)
            if until_first is None or until < until_first:
                until_first = until
            continue
        eligible += 1
        if i == target:
            targeted = i
        if best is None:
            best, best_score, best_left = i, neg, left
        elif neg == best_score and left > best_left:  # same score: more slots left wins (then the smaller id)
            best, best_left = i, left
    if best is None:
        if plain and until_first is not None:
            catalogue.blocked[(ranking, partner)] = until_first
        return _unmatched(catalogue, candidate, ranking, unmatched_reason(candidate, pool, len(fits), with_slot))
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


def _utc(moment: datetime) -> datetime:
    """The same instant with datetime.UTC as its zone (a naive time as it is). Comparing two
    aware times of different zone objects asks each for its offset: an event's time, parsed by
    pydantic, has its own UTC object, and against the postings' hold ends (asyncpg's UTC) a
    comparison took about 1.3 us instead of 0.1, for every fitting opening with a slot of a
    decision (hundreds, once a partner holds its fair share of them)."""
    if moment.tzinfo is None or moment.tzinfo is UTC:
        return moment
    return moment.astimezone(UTC)


def _unmatched(catalogue: Catalogue, candidate: Candidate, ranking: Ranking, reason: str) -> Unmatched:
    """Unmatched: the nearest openings, with the reason the covering openings gave, if any."""
    wider = catalogue.unmatched(candidate)
    return dataclasses.replace(wider, reason=reason) if ranking.covering else wider
