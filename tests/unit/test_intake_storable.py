"""A CSV row's characters are looked at once: cells without a control character (UTF-8 decoded,
so no lone surrogate) and an adapter whose own values are clean make a referral the contract
check does not scan again (`domain.unpublishable(storable=True)`); anything else takes the
full check, with the same answers as before."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.intake import csv_import, domain, mapping

pytestmark = pytest.mark.unit
NOW = datetime(2026, 12, 1, tzinfo=UTC)
ADAPTERS = Path(__file__).parents[2] / "deploy" / "adapters"
FIELDS = {
    "candidate.given_name": {"from": "first"},
    "candidate.family_name": {"from": "last"},
    "candidate.email": {"from": "mail"},
    "skills": {"from": "skills", "split": ";"},
    "consent.share_with_employers": {"const": True},
    "consent.given_at": {"from": "when"},
}


def adapter(**extra: dict) -> mapping.Adapter:
    return mapping.Adapter.model_validate({"partner_id": "p-csv", "format": "csv", "fields": {**FIELDS, **extra}})


def row(**over: str) -> dict[str, str]:
    return {"first": "Ana", "last": "Diaz", "mail": "ana@example.org", "skills": "Python;SQL", "when": "2026-11-01",
            "note": "", **over}


@pytest.fixture
def scans(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The referrals the contract check scanned character by character (`domain._storable`)."""
    seen: list[object] = []
    full = domain._storable

    def counted(referral: object) -> bool:
        seen.append(referral)
        return full(referral)

    monkeypatch.setattr(domain, "_storable", counted)
    return seen


def test_a_clean_row_is_not_scanned_again(scans):
    good, bad, _ = csv_import._translate(adapter(), [(2, row())], NOW)
    assert [n for n, _ in good] == [2] and bad == [] and scans == []


@pytest.mark.parametrize("cell", ["Di\x00az", "Di\x01az", "Di\x08az"])  # not whitespace (\x0b, \x1f are: collapsed)
def test_a_control_character_in_a_mapped_cell_is_refused_as_before(scans, cell):
    good, bad, _ = csv_import._translate(adapter(), [(2, row(last=cell))], NOW)
    assert good == [] and [(n, e.field, e.code) for n, e in bad] == [(2, "last", "invalid-character")]
    assert len(scans) == 1


def test_a_control_character_in_a_cell_nobody_maps_takes_the_full_check_and_is_accepted(scans):
    good, bad, _ = csv_import._translate(adapter(), [(2, row(note="a\x01b"))], NOW)
    assert [n for n, _ in good] == [2] and bad == [] and len(scans) == 1


def test_tab_newline_and_carriage_return_are_clean():
    good, bad, _ = csv_import._translate(adapter(), [(2, row(skills="Py\tthon;SQL\r\nGit"))], NOW)
    assert [n for n, _ in good] == [2] and bad == []


@pytest.mark.parametrize(
    "rule",
    [
        {"const": "Ward\x01Five"},
        {"from": "ward", "default": "Ward\x01Five"},
        {"from": "ward", "map": {"W5": "Ward\x01Five"}},
    ],
)
def test_an_adapters_own_value_with_a_control_character_is_still_refused(scans, rule):
    # `location`: text the referral's model bounds by length only (the contract's own models,
    # credentials and training, refuse control characters when the referral is validated).
    mapped = adapter(location=rule)
    assert not mapped.literals_storable
    good, bad, _ = csv_import._translate(mapped, [(2, row(ward="W5" if "map" in rule else ""))], NOW)
    assert good == [] and [e.code for _, e in bad] == ["invalid-character"] and len(scans) == 1


def test_the_shipped_adapters_values_are_clean():
    assert adapter(location={"const": "Riverbend, Ward 5"}).literals_storable
    for mapped in mapping.load_all(ADAPTERS).values():
        assert mapped.literals_storable
