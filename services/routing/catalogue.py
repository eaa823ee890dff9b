"""The open openings a batch of decisions may touch, in memory: pure, no I/O.

Deciding a batch of referrals one SQL round trip at a time cost ~12 ms a decision; here the
store reads (and locks) every opening the batch could reach once, and each decision reads
and updates this snapshot instead, exactly as `handlers._decide` reads and updates the
tables: the same openings are covering, the same are nearest, and a slot taken by one
decision is gone for the next. `decide_batch` is therefore `_decide` applied in order.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from services.routing.domain import Candidate, Opening, Routed, Unmatched, decide, held_back

NEAREST_POOL = 50  # openings weighed for "nearest" when none fits: those sharing the most required skills


class Catalogue:
    def __init__(self, openings: Iterable[Opening]) -> None:
        self._openings: dict[str, Opening] = {}
        self._requiring: dict[str, set[str]] = defaultdict(set)  # skill -> openings requiring it
        self._unconditional: set[str] = set()  # openings requiring no skill: they cover anyone
        for opening in openings:
            self._openings[opening.opening_id] = opening
            for skill in opening.required:
                self._requiring[skill].add(opening.opening_id)
            if not opening.required:
                self._unconditional.add(opening.opening_id)
        self.taken: dict[str, int] = defaultdict(int)  # slots taken from this snapshot, per opening

    def __len__(self) -> int:
        return len(self._openings)

    def _sharing(self, candidate: Candidate) -> dict[str, int]:
        """Openings in the candidate's target sharing at least one required skill, with how many."""
        shared: dict[str, int] = defaultdict(int)
        for skill in candidate.skills:
            for opening_id in self._requiring.get(skill, ()):
                shared[opening_id] += 1
        code = candidate.target_onet_soc_code
        if code is None:
            return shared
        return {i: n for i, n in shared.items() if self._openings[i].onet_soc_code[:7] == code[:7]}

    def covering(self, candidate: Candidate) -> list[Opening]:
        """Open openings whose required skills the candidate has all of (`required <@ skills`)."""
        shared = self._sharing(candidate)
        ids = [i for i, n in shared.items() if n == len(self._openings[i].required)]
        code = candidate.target_onet_soc_code
        ids += [i for i in self._unconditional if code is None or self._openings[i].onet_soc_code[:7] == code[:7]]
        return [self._openings[i] for i in ids]

    def nearest(self, candidate: Candidate) -> list[Opening]:
        """The NEAREST_POOL openings sharing the most required skills (`required && skills`):
        most shared first, then fewest required, then opening id."""
        shared = self._sharing(candidate)
        ranked = sorted(shared, key=lambda i: (-shared[i], len(self._openings[i].required), i))
        return [self._openings[i] for i in ranked[:NEAREST_POOL]]

    def take(self, opening_id: str, partner_id: str) -> None:
        opening = self._openings[opening_id]
        taken_by = dict(opening.taken_by)
        taken_by[partner_id] = taken_by.get(partner_id, 0) + 1
        self._openings[opening_id] = dataclasses.replace(opening, remaining=opening.remaining - 1, taken_by=taken_by)
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
