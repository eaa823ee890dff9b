"""Credential and program outcomes (reports/credentials.py) over a dataset computed by hand."""

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.outcomes.records import Checkin, EarnedCredentialRecord, EnrollmentRecord, Placement, ReferralRecord
from services.outcomes.reports import GoodJobPolicy, ReportSettings, build_reports, to_csv, to_html
from services.outcomes.reports.credentials import (
    FIGURES,
    Enrollment,
    Inputs,
    Program,
    credential_outcomes,
    normalise,
)
from services.outcomes.reports.groups import SMALL_GROUPS

pytestmark = pytest.mark.unit

POLICY = GoodJobPolicy(Decimal("25.00"), "test threshold")
T = datetime(2024, 1, 1, tzinfo=UTC)


def enrollment(person, program, provider="A", status="completed", ended=date(2024, 3, 1), credentials=(),
               shared=False) -> Enrollment:
    return Enrollment(person, EnrollmentRecord(
        f"e-{person}-{program}", provider, program, person, date(2024, 1, 2), status,
        completed_on=ended if status == "completed" else None, exited_on=ended if status == "exited" else None,
        credentials=tuple(EarnedCredentialRecord(n, None, c, date(2024, 2, 20)) for n, c in credentials),
        outcomes_shared=shared))


def placed(rid, person, partner, start, hourly, checkin_90=None) -> ReferralRecord:
    job = Placement("E1", "Technician", "15-1232.00", Decimal(hourly), "hour", "USD", 40.0, "full_time", True,
                    False, True, start)
    checkins = (Checkin(90, True, date(2024, 9, 1), Decimal(checkin_90), "hour", "USD"),) if checkin_90 else ()
    return ReferralRecord(rid, partner, T, reached={"placed": T}, status="hired", outcome="placed", placement=job,
                          checkins=checkins, person_key=person)


PROGRAMS = (
    Program("P1", "A", "Help desk", "CompTIA A+", "CE-AAA", ("15-1232.00",), Decimal("500"), "USD"),
    Program("P2", "A", "Evening help desk", "comptia a+", None, ("15-1232.00",), Decimal("0"), "USD"),
    Program("P3", "B", "Data", None, None, ("15-2051.00",), Decimal("1200"), "USD"),
)
ENROLLMENTS = (
    enrollment("p1", "P1", credentials=[("CompTIA A+", "ce-aaa")]),
    enrollment("p2", "P1", shared=True),
    enrollment("p3", "P1", status="exited", ended=date(2024, 2, 1)),
    enrollment("p4", "P1", status="in_training", ended=None),
    enrollment("p5", "P2", credentials=[("comptia  A+", None)]),
)
REFERRALS = (
    placed("r1", "p1", "A", date(2024, 3, 11), "30", checkin_90="32"),  # 10 days after completing; a good job
    placed("r2", "p2", "C", date(2024, 4, 30), "20"),  # 60 days; another partner's, shared with A; below 25
)
INPUTS = Inputs(PROGRAMS, ENROLLMENTS, REFERRALS)


def by(rows, column, key):
    return next(r for r in rows if r[column] == key)


def test_normalised_names_ignore_case_spaces_and_punctuation_but_keep_plus_and_hash():
    assert normalise("  CompTIA   A+ ") == normalise("comptia a+") == "comptia a+"
    assert normalise("Google IT-Support_Cert.") == "google it support cert"
    assert normalise("C++") != normalise("C") and normalise("C#") == "c#"
    assert normalise("ＣｏｍｐＴＩＡ") == "comptia"  # NFKC: full-width letters


def test_a_program_hand_computed():
    out = credential_outcomes(INPUTS, POLICY)
    p1 = by(out["programs"], "program", "P1")
    assert {k: p1[k] for k in FIGURES} == {
        "participants": 4, "still_in_training": 1,
        "completed_training": 2, "completion_rate": 0.5,  # p1 and p2
        "credential_earned": 1, "credential_attainment": 0.25,
        "placed": 2, "placement_rate": 0.5, "retained_90_days": 0, "retained_180_days": 0,
        "median_days_to_placement": 35.0,  # 10 and 60
        "placements": 2, "median_hourly_at_placement": "25.00", "median_hourly_90_days": "32.00",
        "median_hourly_180_days": None, "good_jobs_assessed": 2, "good_jobs": 1, "good_job_rate": 0.5,
    }
    assert (p1["cost"], p1["currency"], p1["credential"], p1["name"]) == ("500.00", "USD", "ctid:ce-aaa", "Help desk")
    assert by(out["programs"], "program", "P3")["participants"] == 0  # registered, nobody enrolled yet


def test_a_credential_by_ctid_takes_in_its_name_only_spellings():
    out = credential_outcomes(INPUTS, POLICY)
    assert [r["credential"] for r in out["credentials"]] == ["ctid:ce-aaa"]
    row = out["credentials"][0]
    assert (row["name"], row["ctid"], row["programs"]) == ("CompTIA A+", "ce-aaa", 2)
    assert (row["cost_low"], row["cost_high"], row["currency"]) == ("0.00", "500.00", "USD")
    # P1's four and P2's one; p1 and p5 earned this credential.
    assert (row["participants"], row["credential_earned"], row["credential_attainment"]) == (5, 2, 0.4)
    assert (row["completed_training"], row["placed"]) == (3, 2)


def test_a_provider_counts_another_partners_referral_only_when_shared():
    hidden = placed("r3", "p3", "C", date(2024, 3, 1), "40")  # p3 did not share their outcomes with A
    inputs = replace(INPUTS, referrals=(*REFERRALS, hidden))
    operator = by(credential_outcomes(inputs, POLICY)["programs"], "program", "P1")
    provider = by(credential_outcomes(inputs, POLICY, provider="A")["programs"], "program", "P1")
    assert (operator["placed"], provider["placed"]) == (3, 2)
    assert [r["program"] for r in credential_outcomes(inputs, POLICY, provider="B")["programs"]] == ["P3"]


def test_small_groups_are_combined_and_suppressed_for_a_non_operator():
    out = credential_outcomes(INPUTS, POLICY, provider="A", threshold=10, min_wages=11)
    rows = {r["program"]: r for r in out["programs"]}
    assert set(rows) == {SMALL_GROUPS}  # P1 (4 people) and P2 (1): never named one by one
    assert rows[SMALL_GROUPS]["suppressed"] and all(rows[SMALL_GROUPS][f] is None for f in FIGURES)


def test_the_report_csv_and_html_carry_both_tables():
    built = build_reports([], [], [], ReportSettings(POLICY), programs=INPUTS)
    files = to_csv(built)
    lines = files["program_outcomes.csv"].splitlines()
    assert lines[0].startswith("program,name,provider,credential,cost,currency,onet_soc_codes,participants,")
    assert lines[1].startswith("P1,Help desk,A,ctid:ce-aaa,500.00,USD,15-1232.00,4,1,2,0.5,")
    assert files["credential_outcomes.csv"].splitlines()[1].startswith("ctid:ce-aaa,CompTIA A+,ce-aaa,2,0.00,500.00,USD,5,")
    bench = files["benchmarks.csv"].splitlines()
    assert bench[0] == "program,name,provider,basis,group,metric,value,peer_programs,peer_providers,median,p25,p75,withheld"
    assert bench[1] == "P1,Help desk,A,occupation_family,15,completion_rate,0.5,,,,,,fewer than 3 other providers"
    page = to_html(built, "t", "2024-12-01", "all partners")
    assert 'id="credential-outcomes"' in page and "Evening help desk" in page and 'id="benchmarks"' in page


people = st.lists(st.tuples(st.sampled_from(["P1", "P2", "P3"]), st.sampled_from(["completed", "exited", "in_training"]),
                            st.booleans(), st.booleans()), max_size=40)


@settings(max_examples=60, deadline=None)
@given(people)
def test_rates_are_proportions_and_a_provider_never_reads_a_group_of_1_to_10(rows):
    enrollments, referrals = [], []
    for n, (program, status, earned, hired) in enumerate(rows):
        provider = "B" if program == "P3" else "A"
        enrollments.append(enrollment(f"q{n}", program, provider, status, credentials=[("CompTIA A+", None)] * earned))
        if hired:
            referrals.append(placed(f"r{n}", f"q{n}", provider, date(2024, 4, 1), "26"))
    inputs = Inputs(PROGRAMS, tuple(enrollments), tuple(referrals))
    for provider in (None, "A"):
        threshold = None if provider is None else 10
        out = credential_outcomes(inputs, POLICY, provider, threshold)
        for row in out["credentials"] + out["programs"]:
            for f in ("completion_rate", "credential_attainment", "placement_rate", "good_job_rate"):
                assert row[f] is None or 0 <= row[f] <= 1
            if threshold is not None:
                assert row["suppressed"] or row["participants"] == 0 or row["participants"] > threshold
                assert not row["suppressed"] or all(row[f] is None for f in FIGURES)
