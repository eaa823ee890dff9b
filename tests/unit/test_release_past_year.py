"""Which stored releases a release is suppressed against (talentloop/publish.stored_before): the
same year's release made again from the same ledger position is suppressed against what it was
when first made, not against releases stored since (docs/transparency.md, "A past year")."""

from __future__ import annotations

import pytest

from services.outcomes.public_api import Stored
from services.outcomes.reports.release import Position
from talentloop.publish import stored_before

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
