"""A release held to what a stored release computed, published or not (issue 16; docs/transparency.md,
"Across years"): `publish` stores with each release its blocks and every block's figure per line
(across_years.Held, outcomes migration 018), so a late event (occurred before the stored release's last
event, arrived after it was made) is never counted as "then", where that release published no figure
either; and a release made again from the same ledger position (after an erasure) is held, unlisted,
to the one stored of that position."""

from __future__ import annotations

import json

import pytest

from services.outcomes.public_api import program_rows
from services.outcomes.reports import DemandInputs
from services.outcomes.reports.across_years import Against, Earlier, against, outcome_sets, program_people, stage_people
from services.outcomes.reports.groups import SMALL_GROUPS
from services.outcomes.reports.hiring import HiringInputs
from services.outcomes.reports.release import build, public_reports
from tests.unit.test_release import POLICY, POSITION, attack_two, dataset, recovered, rows

pytestmark = pytest.mark.unit


def made(programs: dict, earlier: list[Earlier] | None = None) -> tuple[dict[str, bytes], dict]:
    training, inputs = dataset(programs)
    reports = public_reports(training, inputs, DemandInputs(), POLICY, 3, HiringInputs(), earlier)
    return build(2025, POSITION, reports, 3), reports


def stored(files: dict[str, bytes], reports: dict, listed: bool = True) -> Earlier:
    """The release as `publish` stores it and reads it back (public_api.stored_releases)."""
    table = json.loads(files["tables/program_outcomes.json"])
    named = frozenset(r[table["columns"].index("program")] for r in table["rows"]) - {SMALL_GROUPS}
    published = program_rows(json.loads(files["tables/pipeline.json"]), table)
    return Earlier(2025, "e" * 64, named, {}, {}, published, None, reports["held"], listed)


def read_from_ledger(files: dict[str, bytes], ledger: dict) -> Earlier:
    """The same release held to as before migration 018: what it did not publish read from the ledger
    (`ledger`: the events that occurred by its last event, late ones included)."""
    then = dataset(ledger)[0]
    return Earlier(
        2025,
        "e" * 64,
        stored(files, {"held": None}).named,
        program_people(then[0]),
        stage_people(*then),
        stored(files, {"held": None}).published,
    )


# The stored release counted nobody in Q; Q's 12 people and 4 placements occurred before its last
# event but arrived after it was made. Then P2 gains twelve people, all placed.
BEFORE = {"P1": ("A", 15, 6), "P2": ("B", 14, 3)}
LATE = {**BEFORE, "Q": ("C", 12, 4)}
AFTER = {"P1": ("A", 15, 6), "P2": ("B", 26, 15), "Q": ("C", 12, 4)}


def test_held_to_the_ledger_read_again_a_program_of_late_events_gives_its_placed_so_the_test_can_fail():
    first, _ = made(BEFORE)
    training, inputs = dataset(AFTER)
    reports = public_reports(
        training, inputs, DemandInputs(), POLICY, 3, HiringInputs(), [read_from_ledger(first, LATE)]
    )
    second = build(2026, POSITION, reports, 3)
    # the ledger says Q had its 12 people and 4 placed then: nothing moved, Q named
    assert {r["program"]: r["placed"] for r in rows(second, "program_outcomes")}["Q"] == "4"
    # the reader saw no Q then: its 4 placed are placed in between, a group of 4
    assert recovered(attack_two(BEFORE, first, AFTER, second))[("joined", "Q", "placed")] == (4, 4, 4)


def test_held_to_what_the_stored_release_computed_a_late_event_is_not_then():
    first, reports = made(BEFORE)
    assert reports["held"].blocks == {"P1": "P1", "P2": "P2"}  # no Q: it counted nobody there
    training, inputs = dataset(AFTER)
    second = build(
        2026, POSITION, public_reports(training, inputs, DemandInputs(), POLICY, 3, None, [stored(first, reports)]), 3
    )
    assert recovered(attack_two(BEFORE, first, AFTER, second)) == {}
    assert "Q" not in {r["program"] for r in rows(second, "program_outcomes")}


def test_a_suppressed_combined_row_is_held_to_what_it_counted_not_to_the_ledger():
    """The stored release had 8 people (2 placed), every figure suppressed; three more of that year, all
    placed, arrived after it. Now 11 (5 placed): 3 joined and 3 were placed since what it counted (a
    reader holds only bounds on what it hid, which this rule does not rest on)."""
    first, reports = made({"S": ("A", 8, 2)})
    assert {r["people"] for r in rows(first, "pipeline")} == {"suppressed"}
    assert reports["held"].figures["enrolled"] == {SMALL_GROUPS: 8}
    assert reports["held"].figures["placed"] == {SMALL_GROUPS: 2}
    training, inputs = dataset({"S": ("A", 11, 5)})
    outcomes = outcome_sets(inputs, POLICY)
    assert against(*training, [stored(first, reports)], outcomes=outcomes).whole
    # read from the ledger, the three late ones are "then": nothing grew, S named with 11
    assert against(*training, [read_from_ledger(first, {"S": ("A", 11, 5)})], outcomes=outcomes) == Against()


def test_a_release_made_again_after_an_erasure_is_held_to_the_one_of_its_position():
    """An erasure since the release was stored moved one of P1's figures (6 placed made 5 again:
    whatever an erasure could move beyond "A past year"'s two rules). Held, unlisted, to the stored
    release of the same position, P1 is not named; left out (as before), 6 - 5 gives the one."""
    first, reports = made(BEFORE)
    moved = {"P1": ("A", 15, 5), "P2": ("B", 14, 3)}
    again, _ = made(moved, [stored(first, reports, listed=False)])
    assert {r["program"] for r in rows(again, "program_outcomes")} == {SMALL_GROUPS}
    assert json.loads(again["release.json"])["suppressed_against"] == []
    alone, _ = made(moved)
    assert {r["program"]: r["placed"] for r in rows(alone, "program_outcomes")}["P1"] == "5"  # 6 - 5: the one
    # nothing moved: the same bytes, held or not (release.json does not list it)
    assert made(BEFORE, [stored(first, reports, listed=False)])[0] == first
