from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from services.outcomes.records import Demographics, Placement, ReferralRecord
from services.outcomes.reports.transparency import race_ethnicity, transparency

pytestmark = pytest.mark.unit


def person(n, gender, race=("white",), wage=None, consent=True, demographics=True, degree=None, veteran=False):
    p = None if wage is None else Placement("E1", "Analyst", "15-1252.00", Decimal(wage), "hour", "USD", 40.0,
                                            "full_time", True, False, True, date(2024, 3, 1))
    return ReferralRecord(f"r{n}", "A", datetime(2024, 1, 1, tzinfo=UTC), placement=p, aggregate_consent=consent,
                          highest_degree=degree,
                          demographics=Demographics(tuple(race), gender, veteran) if demographics else None)


def population():
    people = []
    people += [person(len(people), "female", wage="20") for _ in range(12)]
    people += [person(len(people), "female") for _ in range(18)]
    people += [person(len(people), "male", wage="30") for _ in range(12)]
    people += [person(len(people), "male", race=("hispanic_or_latino", "white"), wage="30") for _ in range(3)]
    people += [person(len(people), "male") for _ in range(5)]
    people += [person(100, "female", wage="99", consent=False), person(101, "male", wage="99", demographics=False)]
    return people


def rows(table):
    return {r["category"]: r for r in [*table["rows"], table["total"]]}


def counts(row):
    return tuple(row[c]["count"] for c in ("placed", "not_placed", "referred"))


def test_only_consenting_records_with_demographics_count():
    report = transparency(population())
    assert report["population"] == 50
    assert counts(rows(report["tables"]["gender"])["total"]) == (27, 23, 50)


def test_primary_and_complementary_suppression_in_the_gender_table():
    gender = rows(transparency(population())["tables"]["gender"])
    assert counts(gender["male"]) == (None, None, 20)  # 5 not placed; 15 placed suppressed with it
    assert counts(gender["female"]) == (None, None, 30)  # column complements: 12 and 18
    assert gender["male"]["not_placed"]["suppressed"] and gender["female"]["placed"]["suppressed"]
    assert gender["male"]["placement_rate"] is None and gender["male"]["median_hourly_wage"] is None
    assert gender["female"]["median_hourly_wage"] is None
    assert counts(gender["nonbinary"]) == (0, 0, 0)  # zeros are shown
    assert gender["total"]["placement_rate"] == 0.54 and gender["total"]["median_hourly_wage"] == "30.00"


def test_race_ethnicity_counts_two_or_more_once():
    assert race_ethnicity(person(1, "male", race=("white", "asian"))) == "two_or_more"
    assert race_ethnicity(person(1, "male", race=())) == "not_reported"
    assert race_ethnicity(person(1, "male", race=("asian",))) == "asian"
    race = rows(transparency(population())["tables"]["race_ethnicity"])
    assert counts(race["two_or_more"]) == (None, 0, None)  # 3 placed, 3 in all
    assert counts(race["white"]) == (None, 23, None)  # complements of that row in their columns
    assert counts(race["hispanic_or_latino"]) == (0, 0, 0)
    assert sum(1 for r in race.values() if r["category"] != "total") == 9


def test_unsuppressed_rows_show_rate_and_median_wage():
    tables = transparency(population())["tables"]
    veteran = rows(tables["veteran_status"])
    assert counts(veteran["not_veteran"]) == (27, 23, 50)
    assert veteran["not_veteran"]["placement_rate"] == 0.54
    assert veteran["not_veteran"]["median_hourly_wage"] == "30.00"
    training = rows(tables["training"])
    assert counts(training["non_degree"]) == (27, 23, 50) and counts(training["degree"]) == (0, 0, 0)


def test_small_totals_suppress_margins_and_the_population():
    few = [person(1, "female", wage="20"), person(2, "female"), person(3, "male", wage="25"), person(4, "male")]
    report = transparency(few)
    assert report["population"] is None
    gender = rows(report["tables"]["gender"])
    assert all(gender["total"][c]["suppressed"] for c in ("placed", "not_placed", "referred"))
    assert gender["female"]["referred"]["count"] is None


def test_the_column_totals_are_suppressed_alike_in_every_table():
    people = population() + [person(200 + n, "female", degree="bachelor") for n in range(3)]
    tables = transparency(people)["tables"]
    patterns = {name: tuple(t["total"][c]["suppressed"] for c in ("placed", "not_placed", "referred"))
                for name, t in tables.items()}
    assert len(set(patterns.values())) == 1
