"""The open openings a batch of decisions may touch, in memory: pure, no I/O.

Deciding a batch of referrals one SQL round trip at a time cost ~12 ms a decision; here the
store reads the slots of every opening the batch could reach once (the postings themselves
come from a cache kept per process), and each decision reads and updates this snapshot
instead, exactly as `handlers._decide` reads and updates the tables: the same openings are
covering, the same are nearest, and a slot taken by one decision is gone for the next.
`decide_in`, applied in order, is `_decide` applied in order. The store then checks, under
the row locks of the openings chosen, that nobody took their slots meanwhile.
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from collections.abc import Mapping
from datetime import datetime
from itertools import chain

from services.routing.domain import Candidate, Opening, Routed, Unmatched, decide, held_back

NEAREST_POOL = 50  # openings weighed for "nearest" when none fits: those sharing the most required skills


class Catalogue:
    """Open openings (their postings) with their slots as a snapshot saw them; an Opening is
    materialized only when a decision looks at it."""

    def __init__(self, postings: Mapping[str, Opening], slots: Mapping[str, tuple[int, Mapping[str, int]]]) -> None:
        self._postings = postings  # opening id -> the posting (remaining and taken_by not yet set)
        self._slots = dict(slots)  # opening id -> (remaining, slots held per partner); the open ones
        requiring: dict[str, list[str]] = defaultdict(list)
        self._unconditional: list[str] = []  # openings requiring no skill: they cover anyone
        self._size: dict[str, int] = {}  # opening id -> how many skills it requires
        for opening_id in self._slots:
            required = postings[opening_id].required
            self._size[opening_id] = len(required)
            for skill in required:
                requiring[skill].append(opening_id)
            if not required:
                self._unconditional.append(opening_id)
        self._requiring: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in requiring.items()}  # skill -> openings
        self._seen: dict[str, Opening] = {}
        self.taken: dict[str, int] = defaultdict(int)  # slots taken from this snapshot, per opening

    def __len__(self) -> int:
        return len(self._slots)

    def opening(self, opening_id: str) -> Opening:
        found = self._seen.get(opening_id)
        if found is None:
            remaining, taken_by = self._slots[opening_id]
            found = dataclasses.replace(self._postings[opening_id], remaining=remaining, taken_by=taken_by)
            self._seen[opening_id] = found
        return found

    def _in_target(self, candidate: Candidate, opening_id: str) -> bool:
        code = candidate.target_onet_soc_code
        return code is None or self._postings[opening_id].onet_soc_code[:7] == code[:7]

    def _sharing(self, candidate: Candidate) -> Counter[str]:
        """Openings sharing at least one required skill with the candidate, with how many
        (counted in C: this is the hot loop of a batch)."""
        return Counter(chain.from_iterable(self._requiring.get(s, ()) for s in candidate.skills))

    def covering(self, candidate: Candidate) -> list[Opening]:
        """Open openings in the candidate's target whose required skills the candidate has all
        of (`required <@ skills`)."""
        size = self._size
        ids = [i for i, n in self._sharing(candidate).items() if n == size[i]]
        ids += self._unconditional
        return [self.opening(i) for i in ids if self._in_target(candidate, i)]

    def nearest(self, candidate: Candidate) -> list[Opening]:
        """The NEAREST_POOL openings sharing the most required skills (`required && skills`):
        most shared first, then fewest required, then opening id."""
        shared = {i: n for i, n in self._sharing(candidate).items() if self._in_target(candidate, i)}
        ranked = sorted(shared, key=lambda i: (-shared[i], self._size[i], i))
        return [self.opening(i) for i in ranked[:NEAREST_POOL]]

    def take(self, opening_id: str, partner_id: str) -> None:
        opening = self.opening(opening_id)
        taken_by = dict(opening.taken_by)
        taken_by[partner_id] = taken_by.get(partner_id, 0) + 1
        self._seen[opening_id] = dataclasses.replace(opening, remaining=opening.remaining - 1, taken_by=taken_by)
        self.taken[opening_id] += 1


def decide_in(catalogue: Catalogue, candidate: Candidate, now: datetime) -> Routed | Unmatched:
    """One decision against the snapshot, taking the slot when routed (what `_decide` does
    against the tables; with every opening locked for the batch, no slot is lost to a race)."""
    covering = catalogue.covering(candidate)
    decision = decide(candidate, covering, now)
    if not isinstance(decision, Routed):
        wider = decide(candidate, catalogue.nearest(candidate), now)
        return dataclasses.replace(wider, reason=decision.reason) if covering else wider
    opening = decision.opening
    # decide() picked an opening with a slot that the fair share allows: taking it cannot fail.
    assert opening.remaining > 0 and not held_back(candidate, opening, now)
    catalogue.take(opening.opening_id, candidate.partner_id)
    return decision
