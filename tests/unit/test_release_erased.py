"""What an erasure after a release changes when the year's release is made again (docs/transparency.md,
"A past year"): the figures a stored release published must not move by the erased person alone.
An earned credential erased with its earner is counted as a credential never named (its row's
figures stay, in the combined row); a hire of a person erased since puts every count of hiring by
employer out of the release."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from services.outcomes import pipeline
from services.outcomes.records import ERASED_CREDENTIAL, EarnedCredentialRecord
from services.outcomes.reports import DemandInputs
from services.outcomes.reports.credentials import FIGURES
from services.outcomes.reports.groups import SMALL_GROUPS
from services.outcomes.reports.release import build, public_reports
from tests.unit.test_release import HIRES, POLICY, POSITION, dataset, hire, rows

pytestmark = pytest.mark.unit

PROGRAMS = {"P1": ("A", 15, 6), "P2": ("B", 14, 3)}


def erase_credential(training: tuple, inputs, person: str) -> tuple:
    """`person`'s earned credential redacted as an erasure leaves it (records.ERASED_CREDENTIAL)."""
    gone = EarnedCredentialRecord(ERASED_CREDENTIAL, None, None, date(2026, 3, 1))
    enrollments = tuple(
        replace(e, record=replace(e.record, credentials=(gone,))) if e.person_key == person else e
        for e in inputs.enrollments
    )
    enrolled = [pipeline.enrolled_of(e.person_key, e.record) for e in enrollments]
    return (enrolled, training[1]), replace(inputs, enrollments=enrollments)


def files(training, inputs, hiring=None) -> dict[str, bytes]:
    return build(2026, POSITION, public_reports(training, inputs, DemandInputs(), POLICY, 3, hiring), 3)


def test_an_erased_credential_moves_its_row_to_the_combined_one_with_the_same_figures():
    training, inputs = dataset(PROGRAMS)
    before = files(training, inputs)
    after = files(*erase_credential(training, inputs, "P1-0"))  # placed, of P1 (Cert P1)
    named = {r["name"]: r for r in rows(before, "credential_outcomes")}
    assert set(named) == {"Cert P1", "Cert P2"}
    now = {r["name"]: r for r in rows(after, "credential_outcomes")}
    assert set(now) == {SMALL_GROUPS, "Cert P2"}  # Cert P1 is named no more ...
    assert {f: now[SMALL_GROUPS][f] for f in FIGURES} == {f: named["Cert P1"][f] for f in FIGURES}  # ... same figures
    assert now[SMALL_GROUPS]["credential_earned"] == "15"  # the erased one still counted as earned

    def credential_lines(found: dict[str, bytes]) -> dict:
        return {
            (r["group"].replace("Cert P1", SMALL_GROUPS), r["line"]): r["people"]
            for r in rows(found, "pipeline")
            if r["dimension"] == "credential"
        }

    assert credential_lines(after) == credential_lines(before)  # the funnel by credential: the same counts
    assert rows(after, "program_outcomes") == rows(before, "program_outcomes")


def test_without_the_rule_the_erased_credential_is_one_fewer_so_the_test_can_fail(monkeypatch):
    from services.outcomes.reports import release

    monkeypatch.setattr(release, "erased_credentials_unnamed", lambda training, programs: (training, programs, set()))
    training, inputs = dataset(PROGRAMS)
    before, after = files(training, inputs), files(*erase_credential(training, inputs, "P1-0"))
    then = {r["name"]: r for r in rows(before, "credential_outcomes")}["Cert P1"]
    now = {r["name"]: r for r in rows(after, "credential_outcomes")}["Cert P1"]
    assert (then["credential_earned"], now["credential_earned"]) == ("15", "14")  # 15 - 14: the erased one


def test_a_hire_of_a_person_erased_since_suppresses_every_hiring_count():
    training, inputs = dataset({})
    shown = {r["hires"] for r in rows(files(training, inputs, HIRES), "hiring_by_employer")}
    assert "25" in shown and "0" in shown
    erased = replace(hire(99, "E1", "white", "female", None, "none"), person_key="erased:ev1", demographics=None)
    hiring = replace(HIRES, records=(*HIRES.records, erased))
    table = rows(files(training, inputs, hiring), "hiring_by_employer")
    assert {r["hires"] for r in table} == {"suppressed"}  # 0 too: a 0 where a 1 was hidden names the category
    assert {r["employer"] for r in table} == {
        r["employer"] for r in rows(files(training, inputs, HIRES), "hiring_by_employer")
    }
    # an erased person's hire at an employer not published, or of another year, changes nothing
    for other in (
        replace(erased, placement=replace(erased.placement, employer_id="E3")),
        replace(erased, placement=replace(erased.placement, start_date=date(2025, 5, 1))),
    ):
        found = rows(files(training, inputs, replace(HIRES, records=(*HIRES.records, other))), "hiring_by_employer")
        assert "25" in {r["hires"] for r in found}
