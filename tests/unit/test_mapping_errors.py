"""Whatever a partner's record holds, mapping it gives a referral or field errors, never an
exception: impossible dates, huge numbers, deep nesting, characters PostgreSQL cannot
store, fields beyond the contract's bounds. And reading a CSV never holds more than one
bounded row: a line without its end is refused at the bound."""

from __future__ import annotations

import io
from typing import Any

import pytest

from contracts import events
from services.intake import csv_import, domain, mapping

pytestmark = pytest.mark.unit

JSON_FIELDS = {
    "candidate.given_name": {"from": "first"},
    "candidate.family_name": {"from": "last"},
    "candidate.email": {"from": "mail"},
    "skills": {"from": "skills[]"},
    "consent.share_with_employers": {"const": True},
    "consent.given_at": {"from": "when"},  # a bare date is read in the adapter's zone
    "training.program": {"from": "program"},
    "training.provider": {"from": "provider"},
    "training.completed_on": {"from": "done", "date_format": "%Y-%m-%d"},
    "credentials[0].name": {"from": "cert"},
    "credentials[0].issuer": {"from": "issuer"},
    "highest_degree": {"from": "degree", "map": {"BA": "bachelor", "MA": "master"}},
}
GOOD = {"first": "Ana", "last": "Diaz", "mail": "ana@example.org", "skills": ["Python", "SQL"], "when": "2026-11-01",
        "program": "Data", "provider": "Forge", "done": "2026-06-30", "cert": "A+", "issuer": "CompTIA", "degree": "BA"}


def adapter(**over: Any) -> mapping.Adapter:
    return mapping.Adapter.model_validate({"partner_id": "p-json", "format": "json", "fields": JSON_FIELDS, **over})


def errors_of(record: Any, a: mapping.Adapter | None = None) -> list[mapping.FieldError]:
    referral, errors = mapping.referral_from(a or adapter(), record)
    assert referral is None and errors, "the record should have been refused"
    return errors


def test_the_good_record_maps():
    referral, errors = mapping.referral_from(adapter(), GOOD)
    assert errors == [] and referral is not None
    assert referral.highest_degree is events.DegreeLevel.bachelor


@pytest.mark.parametrize(
    ("field", "value"),
    [("when", "2026-02-30"), ("when", "2026-13-01"), ("done", "2026-02-30"), ("done", "0000-01-01")],
)
def test_an_impossible_date_is_a_field_error(field, value):
    (error,) = errors_of({**GOOD, field: value})
    assert (error.field, error.code) == (field, "bad-date")


def test_a_date_pushed_out_of_range_by_the_time_zone_is_a_field_error():
    # Midnight of 1 January of year 1 east of Greenwich is in year 0, which datetime cannot hold.
    (error,) = errors_of({**GOOD, "when": "0001-01-01"}, adapter(timezone="Asia/Tokyo"))
    assert (error.field, error.code) == ("when", "bad-date")


def test_a_huge_integer_is_a_field_error():
    huge = 10**5000  # str() of it raises ValueError (Python's 4,300-digit limit)
    (error,) = errors_of({**GOOD, "degree": huge})  # a mapped field: the map looks it up as text
    assert (error.field, error.code) == ("degree", "unreadable-value")
    assert "ValueError" in error.message and "0000" not in error.message
    (error,) = errors_of({**GOOD, "provider": huge})
    assert error.field == "provider" and error.code == "string-type"


def test_deep_nesting_is_a_field_error():
    deep: Any = "x"
    for _ in range(100_000):
        deep = {"a": deep}
    (error,) = errors_of({**GOOD, "degree": deep})  # str() of it: RecursionError
    assert (error.field, error.code) == ("degree", "unreadable-value") and "RecursionError" in error.message
    errors = errors_of({**GOOD, "provider": deep, "skills": [deep, [deep]]})
    assert {e.field for e in errors} == {"provider", "skills[]"}


@pytest.mark.parametrize("record", [None, [], 7, "text", [GOOD]])
def test_a_record_that_is_not_an_object_is_a_record_error(record):
    (error,) = errors_of(record)
    assert (error.field, error.code) == ("", "not-an-object")


def test_an_unexpected_failure_of_the_mapping_is_still_only_this_records_error(monkeypatch):
    def broken(*_: Any) -> Any:
        raise KeyError("a bug")

    monkeypatch.setattr(mapping, "translate", broken)
    (error,) = errors_of(GOOD)
    assert (error.field, error.code, error.message) == ("", "unreadable-value", "cannot be read (KeyError)")


def test_a_skill_longer_than_the_contract_allows_names_the_partners_field():
    limit = domain.SKILL_MAX_LENGTH
    assert limit == 200  # the contract's SkillRef.text bound
    (error,) = errors_of({**GOOD, "skills": ["Python", "x" * (limit + 1)]})
    assert (error.field, error.code) == ("skills[]", "too-long")
    referral, errors = mapping.referral_from(adapter(), {**GOOD, "skills": ["x" * limit]})
    assert errors == [] and referral is not None


# NUL; other control characters (JSON writes \x0c as "\f"); a lone surrogate (JSON's "\ud800").
# Names collapse whitespace, a form feed included, so theirs leaves nothing to refuse.
BAD_TEXT = ["Data\x00", "Bell\x07", "Feed\x0cme", "Esc\x1b[0m", "A\ud800"]


@pytest.mark.parametrize(
    ("field", "text"),
    [(f, t) for f in ("program", "cert", "first") for t in BAD_TEXT if not (f == "first" and "\x0c" in t)],
)
def test_characters_postgresql_cannot_store_are_field_errors(field, text):
    (error,) = errors_of({**GOOD, field: text})
    assert (error.field, error.code) == (field, "invalid-character")
    assert "pattern" not in error.message  # not the contract's regular expression


def test_tabs_and_line_breaks_are_text():
    referral, errors = mapping.referral_from(adapter(), {**GOOD, "program": "Data\tScience\r\nTrack"})
    assert errors == [] and referral is not None


@pytest.mark.parametrize(("model", "field", "source"), [(events.Training, "provider", "provider"),
                                                         (events.Credential, "issuer", "issuer")])
def test_a_field_beyond_the_contracts_bound_names_the_partners_field(model, field, source):
    limit = domain._max_length(model, field)
    if limit is None:
        pytest.skip(f"contracts/events.py sets no bound on {model.__name__}.{field} yet")
    (error,) = errors_of({**GOOD, source: "y" * (limit + 1)})
    assert (error.field, error.code) == (source, "too-long")


def test_what_validation_lets_through_the_contract_check_still_catches():
    """A referral built past ReferralIn's own bounds is refused by the event's contract."""
    referral, _ = mapping.referral_from(adapter(), GOOD)
    assert referral is not None and domain.unpublishable(referral) == []
    past = referral.model_copy(update={"skills": ["Python", "z" * 5000]})
    assert [(e["loc"], e["type"]) for e in domain.unpublishable(past)] == [(("skills", 1), "string_too_long")]
    assert domain.unpublishable(domain.Profile(location="Chicago")) == []
    assert [e["loc"] for e in domain.unpublishable(domain.Profile(location="Chi\x00"))] == [("location",)]


# --- CSV rows are bounded -------------------------------------------------------------------

CSV = mapping.Adapter.model_validate({
    "partner_id": "p-csv", "format": "csv", "fields": {
        "candidate.given_name": {"from": "first"}, "candidate.family_name": {"from": "last"},
        "candidate.email": {"from": "mail"}, "skills": {"from": "skills", "split": ";"},
        "consent.share_with_employers": {"const": True}, "consent.given_at": {"from": "when"},
    }})
HEADER = b"first,last,mail,skills,when\n"


class CountingFile(io.BytesIO):
    """Records the largest single read, to show a line is never read past the bound."""

    largest = 0

    def readline(self, size: int | None = -1) -> bytes:  # type: ignore[override]
        line = super().readline(size)
        self.largest = max(self.largest, len(line))
        return line


def test_a_line_without_a_newline_is_refused_at_the_bound_without_reading_it_whole():
    good = b"Ana,Diaz,a@example.org,Go,2026-11-01\n"
    f = CountingFile(HEADER + good + b"Bo,Li,b@example.org," + b"x" * 5_000_000)
    rows = csv_import._rows(f, CSV, max_row_bytes=4096)
    assert next(rows)[0] == 2
    with pytest.raises(csv_import.ImportRefused) as err:
        next(rows)
    assert err.value.code == "row-too-long" and "row 3" in err.value.message
    assert f.largest <= 4097


def test_a_quoted_cell_spanning_many_lines_counts_toward_its_rows_bound():
    many_lines = b'"' + b"Go;\n" * 2000 + b'"'
    f = io.BytesIO(HEADER + b"Ana,Diaz,a@example.org," + many_lines + b",2026-11-01\n")
    with pytest.raises(csv_import.ImportRefused) as err:
        list(csv_import._rows(f, CSV, max_row_bytes=4096))
    assert err.value.code == "row-too-long" and "row 2" in err.value.message
    # Within the bound it is one row, however many lines.
    f = io.BytesIO(HEADER + b"Ana,Diaz,a@example.org," + b'"' + b"Go;\n" * 500 + b'"' + b",2026-11-01\n")
    assert [n for n, _ in csv_import._rows(f, CSV, max_row_bytes=4096)] == [2]


def test_blank_lines_are_skipped_and_do_not_add_up_to_a_long_row():
    f = io.BytesIO(HEADER + b"\n" * 10_000 + b"Ana,Diaz,a@example.org,Go,2026-11-01\n" + b"\r\n" * 10_000)
    assert [n for n, _ in csv_import._rows(f, CSV, max_row_bytes=4096)] == [2]


def test_a_header_without_an_end_is_refused():
    with pytest.raises(csv_import.ImportRefused) as err:
        list(csv_import._rows(io.BytesIO(b"first," * 10_000), CSV, max_row_bytes=4096))
    assert err.value.code == "row-too-long" and "header" in err.value.message


def test_rows_up_to_the_bound_are_read_whatever_the_csv_modules_own_field_limit():
    big_skill = b"y" * 200_000  # over csv's default field limit (131,072), under the row bound
    f = io.BytesIO(HEADER + b"Ana,Diaz,a@example.org," + big_skill + b",2026-11-01\nBo,Li,b@example.org,Go,2026-11-01\n")
    found = list(csv_import._rows(f, CSV, max_row_bytes=1 << 20))
    assert [n for n, _ in found] == [2, 3] and len(found[0][1]["skills"]) == 200_000
    good, bad, _ = csv_import._translate(CSV, found)
    assert [n for n, _ in good] == [3]
    assert [(n, e.field, e.code) for n, e in bad] == [(2, "skills", "too-long")]


def test_the_unknown_skills_counter_stays_bounded():
    progress = csv_import.Progress("imp_x", 0)
    for i in range(5 * csv_import.UNKNOWN_SKILLS_KEPT):
        progress.count_unknown(["frequent", f"rare {i}"])
    assert len(progress.unknown_skills) <= 2 * csv_import.UNKNOWN_SKILLS_KEPT
    assert progress.unknown_skills.most_common(1) == [("frequent", 5 * csv_import.UNKNOWN_SKILLS_KEPT)]
