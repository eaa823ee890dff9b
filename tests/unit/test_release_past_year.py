"""Which stored releases a release is suppressed against (talentloop/publish.stored_before): the
same year's release made again from the same ledger position is suppressed against what it was
when first made, not against releases stored since (docs/transparency.md, "A past year"); and it is
held, unlisted, to the releases of its own position (`held_against`: what an erasure since may move)."""

from __future__ import annotations

import pytest

from services.outcomes.public_api import Stored
from services.outcomes.reports.release import Position
from talentloop.publish import held_against, stored_before

pytestmark = pytest.mark.unit


def stored(year: int, position: str) -> Stored:
    return Stored(year, f"sha_{year}_{position}", frozenset(), "2025-12-31T00:00:00+00:00", position)


def at(position: str) -> Position:
    return Position(1, "2025-12-31T00:00:00+00:00", position)


def test_a_release_made_again_is_suppressed_against_those_stored_before_it_was_first_made():
    y2024, y2025, y2026, again = stored(2024, "p0"), stored(2025, "p1"), stored(2026, "p2"), stored(2025, "p1")
    earlier = [y2024, y2025, y2026, again]
    assert stored_before(earlier, 2025, at("p1")) == [y2024]  # not 2026's, stored since
    assert stored_before(earlier, 2026, at("p2")) == [y2024, y2025]
    # a release not stored yet (another position: later events of the year) is against every one
    assert stored_before(earlier, 2025, at("p9")) == earlier
    assert stored_before([], 2025, at("p1")) == []


def test_a_release_is_held_unlisted_to_those_of_its_own_position():
    y2024, y2025, y2026, again = stored(2024, "p0"), stored(2025, "p1"), stored(2026, "p2"), stored(2025, "p1")
    earlier = [y2024, y2025, y2026, again]
    # 2025 made again from p1 (after an erasure): against 2024, listed; held to both of p1, unlisted
    assert held_against(earlier, 2025, at("p1")) == [(y2024, True), (y2025, False), (again, False)]
    # 2026 of p1 (no event since 2025's): against every other, held to 2025's of p1 unlisted
    assert held_against(earlier, 2026, at("p1")) == [(y2024, True), (y2026, True), (y2025, False), (again, False)]
    assert held_against(earlier, 2026, at("p9")) == [(e, True) for e in earlier]
