from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.outcomes import pipeline
from services.outcomes.records import FUNNEL as FUNNEL_STAGES
from services.outcomes.records import Conversion, Placement, ReferralRecord
from services.outcomes.reports.funnel import SMALL_GROUPS, detailed_soc, funnel, funnels, lines_of, period_of

pytestmark = pytest.mark.unit


def rec(rid, partner, referred, offsets, occupation=None, employer=None, program=None):
    t0 = datetime.fromisoformat(referred).replace(tzinfo=UTC)
    return ReferralRecord(
        referral_id=rid, partner_id=partner, referred_at=t0, occupation=occupation, employer_id=employer,
        program=program, reached={"referred": t0, **{s: t0 + timedelta(days=d) for s, d in offsets.items()}},
    )


RECORDS = [
    rec("r1", "A", "2024-01-10", {"routed": 1, "acknowledged": 3, "interviewed": 5, "offered": 10, "placed": 15,
                                  "retained_90_days": 110}, "15-1252.00", "E1", "Bootcamp"),
    rec("r2", "A", "2024-01-20", {"routed": 2, "acknowledged": 4}, "15-1252.01", "E1", "Bootcamp"),
    rec("r3", "B", "2024-02-05", {"routed": 1, "acknowledged": 2, "offered": 20, "placed": 21}, "15-1211.00", "E2"),
    rec("r4", "B", "2024-04-01", {}),
]


def by_stage(summary):
    return {s["stage"]: s for s in summary["stages"]}


def test_total_counts_and_conversions():
    total = funnel(RECORDS)["total"]
    stages = by_stage(total)
    # Cumulative (docs/pipeline.md): r3, placed without a recorded interview, counts as interviewed.
    assert {k: v["count"] for k, v in stages.items()} == {
        "referred": 4, "routed": 3, "acknowledged": 3, "interviewed": 2, "offered": 2, "placed": 2,
        "retained_90_days": 1}
    assert total["interviews_recorded"] == 1
    assert stages["referred"]["conversion_from_previous"] is None
    assert stages["routed"]["conversion_from_previous"] == 0.75
    assert stages["interviewed"]["conversion_from_previous"] == 0.6667
    assert stages["offered"]["conversion_from_previous"] == 1.0
    assert stages["placed"]["conversion_from_referred"] == 0.5
    assert stages["retained_90_days"]["conversion_from_previous"] == 0.5


def test_outcomes_and_people_beside_the_stages():
    """Records made without a projection's outcome get one from their status (here all
    "submitted", so pending); each record without a person is a person of its own."""
    people = [replace(r, person_key="same") for r in RECORDS[:2]] + RECORDS[2:]
    total = funnel(people)["total"]
    assert sum(total["referrals"]["outcomes"].values()) == 4
    assert total["referrals"]["stages"] == {s["stage"]: s["count"] for s in total["stages"]}
    assert total["people"]["stages"]["referred"] == 3 and total["people"]["stages"]["routed"] == 2


def test_median_days_between_stages_only_over_records_that_reached_both():
    days = {(m["from"], m["to"]): (m["records"], m["median_days"]) for m in funnel(RECORDS)["total"]["median_days"]}
    assert days[("referred", "routed")] == (3, 1.0)
    assert days[("routed", "acknowledged")] == (3, 2.0)
    assert days[("acknowledged", "interviewed")] == (1, 2.0)
    assert days[("interviewed", "offered")] == (1, 5.0)
    assert days[("offered", "placed")] == (2, 3.0)
    assert days[("placed", "retained_90_days")] == (1, 95.0)
    assert days[("referred", "placed")] == (2, 18.0)


def test_grouping_by_partner_and_occupations():
    partners = {g["group"]: by_stage(g) for g in funnel(RECORDS, "partner")["groups"]}
    assert partners["A"]["routed"]["count"] == 2 and partners["A"]["placed"]["count"] == 1
    assert partners["B"]["routed"]["count"] == 1 and partners["B"]["placed"]["conversion_from_referred"] == 0.5
    occupations = {g["group"]: g["records"] for g in funnel(RECORDS, "occupation")["groups"]}
    assert occupations == {"15-1252.00": 1, "15-1252.01": 1, "15-1211.00": 1, "(unknown)": 1}
    detailed = {g["group"]: g["records"] for g in funnel(RECORDS, "occupation_detailed")["groups"]}
    assert detailed == {"15-1252": 2, "15-1211": 1, "(unknown)": 1}
    employers = {g["group"]: g["records"] for g in funnel(RECORDS, "employer")["groups"]}
    assert employers == {"E1": 2, "E2": 1, "(unknown)": 1}
    programs = {g["group"]: g["records"] for g in funnel(RECORDS, "program")["groups"]}
    assert programs == {"Bootcamp": 2, "(unknown)": 2}


def test_period_bucketing_by_month_and_quarter():
    months = {g["group"]: g["records"] for g in funnel(RECORDS, "period", "month")["groups"]}
    assert months == {"2024-01": 2, "2024-02": 1, "2024-04": 1}
    quarters = {g["group"]: g["records"] for g in funnel(RECORDS, "period", "quarter")["groups"]}
    assert quarters == {"2024-Q1": 3, "2024-Q2": 1}
    assert period_of(rec("x", "A", "2024-12-31", {}), "quarter") == "2024-Q4"
    with pytest.raises(ValueError):
        period_of(RECORDS[0], "week")


def test_referred_defaults_to_referred_at_and_detailed_soc():
    r = ReferralRecord("x", "A", datetime(2024, 5, 1, tzinfo=UTC),
                       reached={"routed": datetime(2024, 5, 3, tzinfo=UTC)})
    assert funnel([r])["total"]["median_days"][0]["median_days"] == 2.0
    assert detailed_soc("15-1252.00") == "15-1252" and detailed_soc(None) is None


def test_funnels_has_every_dimension():
    everything = funnels(RECORDS, "quarter")
    assert set(everything["by"]) == {"partner", "employer", "program", "occupation", "occupation_detailed", "period",
                                     "employment_type"}
    assert by_stage(everything["total"])["placed"]["count"] == 2


def test_the_placed_by_the_kind_of_job():
    internship = Placement("E1", "Intern", "15-1252.00", Decimal(0), "hour", "USD", 20.0, "internship", False, False,
                           False, date(2024, 2, 1), pay_basis="unpaid", paid=False)
    records = [replace(RECORDS[0], placement=internship), replace(RECORDS[2], placement=replace(
        internship, employment_type="full_time", paid=True)), *RECORDS[1:2], *RECORDS[3:]]
    groups = {g["group"]: g for g in funnel(records, "employment_type")["groups"]}
    assert set(groups) == {"internship", "full_time", "(not placed)"}
    assert [by_stage(groups[g])["placed"]["count"] for g in ("internship", "full_time", "(not placed)")] == [1, 1, 0]
    assert groups["(not placed)"]["records"] == 2



def test_conversions_of_work_based_learning_by_the_kind_placed_in():
    intern = Placement("E1", "Intern", "15-1252.00", Decimal(18), "hour", "USD", 20.0, "internship", False, False,
                       False, date(2024, 2, 1))
    apprentice = replace(intern, employment_type="apprenticeship")
    hired = replace(intern, employment_type="full_time", hours_per_week=40.0)
    records = [
        replace(RECORDS[0], placement=intern, conversion=Conversion(date(2024, 4, 1), "internship", "full_time", hired)),
        replace(RECORDS[1], placement=intern),
        replace(RECORDS[2], placement=apprentice, conversion=Conversion(
            date(2024, 5, 1), "apprenticeship", "part_time", replace(hired, employment_type="part_time"))),
        replace(RECORDS[3], placement=hired),
    ]
    total = funnel(records)["total"]
    assert total["conversions"] == {"work_based_learning": 3, "converted": 2, "to_full_time": 1, "to_part_time": 1,
                                    "conversion_rate": 0.6667, "converted_elsewhere": 0, "elsewhere_to_full_time": 0,
                                    "elsewhere_to_part_time": 0, "converted_any": 2, "conversion_rate_any": 0.6667}
    plain = funnel([replace(r, conversion=None) for r in records])["total"]
    assert total["stages"] == plain["stages"]  # a conversion is no second placement
    groups = {g["group"]: g["conversions"] for g in funnel(records, "employment_type")["groups"]}
    assert (groups["internship"]["converted"], groups["internship"]["work_based_learning"]) == (1, 2)
    assert (groups["apprenticeship"]["to_part_time"], groups["full_time"]["converted"]) == (1, 0)


# --- Outcomes, people and group suppression (docs/pipeline.md, docs/reports.md) ----------------

STAGE_OF = {"placed": "placed", "in_progress": "acknowledged", "pending": "referred", "declined": "routed",
            "not_matched_after_decline": "routed", "not_matched_never_routed": "referred", "withdrawn": "referred",
            "offer_declined": "offered"}


def projected(n, outcome, program="Bootcamp", person=None, employer="E1", declined_by=(), details=()):
    """A record as the projection leaves it: its outcome, flags and person set."""
    furthest = FUNNEL_STAGES.index(STAGE_OF[outcome])
    offsets = {s: i for i, s in enumerate(FUNNEL_STAGES[1:furthest + 1], 1)}
    r = rec(f"r{n}", "A", "2024-01-10", offsets, "15-1252.00", employer, program)
    flags = pipeline.flags(outcome, employer, declined_by, details)
    return replace(r, outcome=outcome, declined_by=tuple(declined_by), flags=flags, person_key=person or f"c{n}")


def test_lines_give_referrals_and_people_for_every_definition():
    """Two referrals of one person (declined at E1, placed at E2) and a third referral: the
    outcomes add up to referred on both sides, the person's outcome is the best of theirs."""
    records = [projected(1, "not_matched_after_decline", person="p", employer="E1", declined_by=("E1",)),
               projected(2, "placed", person="p", employer="E2", details=("retained_90_days",)),
               projected(3, "pending")]
    total = funnel(records)["total"]
    lines = {(x["section"], x["line"]): (x["referrals"], x["people"]) for x in lines_of(total)}
    assert sum(n for (section, _), (n, _) in lines.items() if section == "outcome") == lines[("stage", "referred")][0] == 3
    assert sum(p for (section, _), (_, p) in lines.items() if section == "outcome") == lines[("stage", "referred")][1] == 2
    assert lines[("outcome", "placed")] == (1, 1) and lines[("outcome", "not_matched_after_decline")] == (1, 0)
    assert lines[("placed", "retained_90_days")] == (1, 1)
    assert lines[("flag", "declined_at_least_once")] == (1, 1)
    assert lines[("flag", "declined_then_placed")] == (0, None)  # a line of referrals only
    assert lines[("flag", "declined_then_placed_elsewhere")] == (None, 1)  # of people only
    assert all("docs/pipeline.md#" in x["definition"] for x in lines_of(total))
    assert [x["line"] for x in lines_of(total) if x["section"] == "stage"] == list(FUNNEL_STAGES)


def _programs(sizes: dict[str, int], person_per_referral: bool = True) -> list:
    records, n = [], 0
    for program, size in sizes.items():
        for i in range(size):
            n += 1
            outcome = ("placed", "in_progress", "declined", "pending")[n % 4]
            records.append(projected(n, outcome, program, person=None if person_per_referral else f"{program}-p{i % 2}",
                                     declined_by=("E9",) if outcome == "declined" else ()))
    return records


def _lines(summary: dict) -> dict:
    return {(x["section"], x["line"]): (x["referrals"], x["people"]) for x in lines_of(summary)}


def test_without_a_threshold_nothing_is_suppressed():
    groups = funnel(_programs({"Big": 30, "Tiny": 2}), "program")["groups"]
    assert [(g["group"], g["suppressed"], g["records"]) for g in groups] == [("Big", False, 30), ("Tiny", False, 2)]


def test_small_groups_are_combined_never_named_and_the_rows_add_up_to_the_total():
    records = _programs({"Big": 30, "Mid": 15, "Tiny": 2, "Small": 9})
    f = funnel(records, "program", threshold=10)
    groups = {g["group"]: g for g in f["groups"]}
    assert set(groups) == {"Big", "Mid", SMALL_GROUPS}  # "Tiny" and "Small" not named
    assert groups[SMALL_GROUPS]["records"] == 11 and not groups[SMALL_GROUPS]["suppressed"]
    for key, (referrals, _) in _lines(f["total"]).items():
        if referrals is not None:  # every referral line: the shown rows add up to the total
            assert sum(_lines(g)[key][0] for g in groups.values()) == referrals, key
    for g in groups.values():  # outcomes add up to referred, for referrals and for people
        lines = _lines(g)
        for side in (0, 1):
            assert sum(v[side] for k, v in lines.items() if k[0] == "outcome") == lines[("stage", "referred")][side]


def test_a_combined_row_of_ten_people_or_fewer_takes_the_smallest_larger_group():
    """Tiny (3) alone would be pinned by total - published: the smallest published group
    (Mid, 12) joins it, so the combined row is 15 and Mid is not named either."""
    f = funnel(_programs({"Big": 30, "Mid": 12, "Tiny": 3}), "program", threshold=10)
    assert [(g["group"], g["records"]) for g in f["groups"]] == [("Big", 30), (SMALL_GROUPS, 15)]


def test_groups_count_people_not_referrals():
    """Twelve referrals of two people are a group of two: combined, and suppressed whole with
    the total when nothing else is there."""
    records = _programs({"Repeat": 12}, person_per_referral=False)
    f = funnel(records, "program", threshold=10)
    assert [g["group"] for g in f["groups"]] == [SMALL_GROUPS]
    combined, total = f["groups"][0], f["total"]
    for summary in (combined, total):
        assert summary["suppressed"] and summary["records"] is None
        assert all(v == (None, None) for v in _lines(summary).values())
        assert all(s["count"] is None and s["conversion_from_referred"] is None for s in summary["stages"])
        assert all(m["records"] is None and m["median_days"] is None for m in summary["median_days"])
        assert set(summary["conversions"].values()) == {None}


def test_median_days_only_over_more_records_than_the_threshold():
    records = _programs({"Big": 30})
    days = {(m["from"], m["to"]): m for m in funnel(records, threshold=10)["total"]["median_days"]}
    placed = sum(1 for r in records if r.outcome == "placed")
    assert placed <= 10 and days[("referred", "placed")] == {"from": "referred", "to": "placed", "records": placed,
                                                             "median_days": None}
    assert days[("referred", "routed")]["records"] > 10 and days[("referred", "routed")]["median_days"] == 1.0
    operator = {(m["from"], m["to"]): m for m in funnel(records)["total"]["median_days"]}
    assert operator[("referred", "placed")]["median_days"] == 5.0


@given(st.lists(st.tuples(st.sampled_from("ABCDEFG"), st.integers(0, 5), st.sampled_from(pipeline.OUTCOMES)),
                max_size=60))
@settings(max_examples=60, deadline=None)
def test_every_published_group_counts_more_than_the_threshold(rows):
    """Random programs, people and outcomes: a named group is more than 10 people; the combined
    row is more than 10 people or suppressed with the total; the rows add up to the total."""
    records = [projected(n, outcome, program, person=f"{program}{person}" if person else None)
               for n, (program, person, outcome) in enumerate(rows)]
    f = funnel(records, "program", threshold=10)
    total = _lines(f["total"])
    for g in f["groups"]:
        if g["group"] != SMALL_GROUPS:
            assert _lines(g)[("stage", "referred")][1] > 10
        elif g["suppressed"]:
            assert f["total"]["suppressed"] and len(f["groups"]) == 1
        else:
            assert _lines(g)[("stage", "referred")][1] > 10
    if not f["total"]["suppressed"]:
        for key, (referrals, _) in total.items():
            if referrals is not None:
                assert sum(_lines(g)[key][0] for g in f["groups"]) == referrals
