"""Placements gained between two releases held to the across-years rule (issue 16; docs/transparency.md,
"Across years"): a program named in both releases with 12 placed people, then 14, gives by
subtraction the 2 placed in between, a group of 2 people, though nobody joined it. The rule holds
every referral stage and training line of the funnel as it holds the people enrolled."""

from __future__ import annotations

from dataclasses import replace

import pytest

from services.outcomes.reports import across_years
from services.outcomes.reports.across_years import Against, against, program_people, stage_people
from services.outcomes.reports.groups import SMALL_GROUPS
from tests.unit.test_release import attack_two, dataset, recovered, rows, two_releases

pytestmark = pytest.mark.unit

# P1: the same 15 people, 12 placed then 14 (2 placed in between); P2 gains 12 people, none placed.
BEFORE = {"P1": ("A", 15, 12), "P2": ("B", 14, 3)}
AFTER = {"P1": ("A", 15, 14), "P2": ("B", 26, 3)}


def held_to_people_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The rule switched off for the stages: only the people enrolled are held."""
    monkeypatch.setattr(across_years, "lines", lambda people, reached: {"enrolled": people})


def test_without_the_stages_held_the_placements_gained_come_back_so_the_test_can_fail(monkeypatch):
    held_to_people_only(monkeypatch)
    first, second = two_releases(BEFORE, AFTER)
    found = recovered(attack_two(BEFORE, first, AFTER, second, ("placed",)))
    assert found[("joined", "P1", "placed")] == (2, 2, 2)
    assert {r["program"]: r["placed"] for r in rows(second, "program_outcomes")}["P1"] == "14"


def test_a_program_that_gained_a_few_placements_is_not_named():
    first, second = two_releases(BEFORE, AFTER)
    assert recovered(attack_two(BEFORE, first, AFTER, second)) == {}
    # P1 gained 2 placed people: not named; alone in the combined row it would be named all the same
    assert {r["program"] for r in rows(second, "program_outcomes")} == {SMALL_GROUPS}
    assert {r["program"] for r in rows(first, "program_outcomes")} == {"P1", "P2"}


def test_every_stage_is_held_and_a_gain_of_none_or_more_than_ten_is_not():
    then, now = dataset(BEFORE)[0], dataset(AFTER)[0]
    earlier = across_years.Earlier(
        2025, "e" * 64, frozenset({"P1", "P2"}), program_people(then[0]), stage_people(*then)
    )
    # P1 gained 2 placed people; the combined row would be P1's alone, so P2 joins it
    assert against(now[0], now[1], earlier).forced == {"P1", "P2"}
    # the same placements then as now: P1 gained nobody at any stage, P2 12 people
    same = across_years.Earlier(2025, "e" * 64, frozenset({"P1", "P2"}), program_people(then[0]), stage_people(*now))
    assert against(now[0], now[1], same) == Against()
    # 12 more placed in P1 (27 people, 24 placed: 12 joined, all placed): more than ten, named
    more_then = dataset({"P1": ("A", 15, 12)})[0]
    more_now = dataset({"P1": ("A", 27, 24)})[0]
    grown = across_years.Earlier(
        2025, "e" * 64, frozenset({"P1"}), program_people(more_then[0]), stage_people(*more_then)
    )
    assert against(more_now[0], more_now[1], grown) == Against()
    # every referral stage counted, referred to retained_90_days: the dataset's placed reach all of placed's
    stages = stage_people(*now)
    assert list(stages) == list(across_years.STAGES_HELD)
    assert len(stages["referred"]["P1"]) == len(stages["placed"]["P1"]) == 14
    assert stages["retained_90_days"]["P1"] == frozenset()


def test_credentials_earned_between_the_releases_are_held_too():
    """The training lines: the same 15 people, 12 with the credential then 15 (3 earned in between)."""
    now = dataset(BEFORE)[0]
    then = [
        replace(e, trainee=replace(e.trainee, status="in_training", credential=False))
        if e.program == "P1" and int(e.trainee.person_key.split("-")[1]) >= 12
        else e
        for e in now[0]
    ]
    earlier = across_years.Earlier(
        2025, "e" * 64, frozenset({"P1", "P2"}), program_people(then), stage_people(then, now[1])
    )
    assert len(earlier.reached["credential_earned"]["P1"]) == 12
    assert against(now[0], now[1], earlier).forced == {"P1", "P2"}
    same = across_years.Earlier(2025, "e" * 64, frozenset({"P1", "P2"}), program_people(then), stage_people(*now))
    assert against(now[0], now[1], same) == Against()


def test_a_late_placement_is_held_to_what_the_stored_release_published():
    """Two placements in P1 that occurred before the stored release's last event but arrived after it:
    the ledger read again says P1 had 14 placed then (as now), the stored release showed 12. Held to
    what it published, P1 is not named; held to the ledger, nothing changed and it would be (14 - 12)."""
    then, now = dataset(BEFORE)[0], dataset(AFTER)[0]
    ledger = across_years.Earlier(2025, "e" * 64, frozenset({"P1", "P2"}), program_people(then[0]), stage_people(*now))
    assert against(now[0], now[1], ledger) == Against()
    shown = replace(ledger, published={"placed": {"P1": 12, "P2": 3}, "enrolled": {"P1": 15, "P2": 14}})
    assert against(now[0], now[1], shown).forced == {"P1", "P2"}
    # published as the ledger reads it (no late event): nothing changed, named
    unchanged = replace(ledger, published={"placed": {"P1": 14, "P2": 3}})
    assert against(now[0], now[1], unchanged) == Against()
