"""Reading partner CSV files: BOMs, CRLF, quoted newlines, bad rows, wrong headers."""

import io

import pytest

from services.intake import csv_import, mapping

pytestmark = pytest.mark.unit
ADAPTER = mapping.Adapter.model_validate({
    "partner_id": "p-csv", "format": "csv", "fields": {
        "candidate.given_name": {"from": "first"}, "candidate.family_name": {"from": "last"},
        "candidate.email": {"from": "mail"}, "skills": {"from": "skills", "split": ";"},
        "consent.share_with_employers": {"const": True}, "consent.given_at": {"from": "when"},
    }})


def rows(data: bytes) -> list[tuple[int, dict[str, str]]]:
    return list(csv_import._rows(io.BytesIO(data), ADAPTER))


def test_bom_crlf_and_quoted_newlines_are_read_with_spreadsheet_row_numbers():
    data = b'\xef\xbb\xbffirst,last,mail,skills,when\r\nAna,Diaz,a@example.org,"Python;\r\nSQL",2026-11-01\r\nBo,Li,b@example.org,Go,2026-11-01\r\n'
    found = rows(data)
    assert [n for n, _ in found] == [2, 3]
    assert found[0][1]["skills"] == "Python;\r\nSQL" and found[1][1]["first"] == "Bo"


def test_a_row_with_more_cells_than_columns_is_flagged():
    found = rows(b"first,last,mail,skills,when\nAna,Diaz,a@example.org,Go,2026-11-01,extra\n")
    good, bad, size = csv_import._translate(ADAPTER, found)
    assert good == [] and size == 1 and bad[0][1].code == "too-many-cells"


def test_missing_columns_and_bad_bytes_refuse_with_a_code():
    with pytest.raises(csv_import.ImportRefused) as err:
        rows(b"first,last\nA,B\n")
    assert err.value.code == "missing-columns" and "mail" in err.value.message
    with pytest.raises(csv_import.ImportRefused) as err:
        rows(b"first,last,mail,skills,when\nA,B,c@example.org,Go,2026-11-01\n\xff\xfe,x\n")
    assert err.value.code == "not-csv" and "row 3" in err.value.message
