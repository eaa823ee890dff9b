"""The annual release's data dictionary: every column of every published table, with its
meaning, its unit and how it is suppressed (docs/transparency.md, "The annual release").

A column is looked up by (table, column) first, then by column alone (the figures shared by the
credential and the program outcomes). `release.build` refuses a table with a column missing here,
so the dictionary cannot fall behind the tables.
"""

from __future__ import annotations

from services.outcomes.reports.suppression import THRESHOLD

GROUPS = (
    f"suppressed with its whole row when the row's group counts 1 to {THRESHOLD} people; groups of"
    f" {THRESHOLD} people or fewer are combined into one row (never named alone), and so is a group whose"
    f" difference with a release stored before would be 1 to {THRESHOLD} in a count of the row (people"
    " enrolled or reaching a line, placements, good jobs), or a credential one of whose earners' credential"
    " was erased (the methods page)"
)
WAGES = f"{GROUPS}; empty when {THRESHOLD} placements or fewer have a wage"
EMPLOYERS = "shown only when what it counts comes from at least N employers (the release's N, on the methods page)"
NONE = "none: published as given"
CELLS = (
    f"'suppressed' when it counts 1 to {THRESHOLD} hires, and where another count must be hidden so that"
    " none can be worked out from the others (complementary suppression over the four dimensions together);"
    " every count, 0 too, when one of the year's hires is of a person erased since"
)
PUBLIC = "none: the employer published it under its name"

# (meaning, unit, suppression)
Entry = tuple[str, str, str]

SHARED: dict[str, Entry] = {
    "participants": ("people with an enrollment in the group (any status)", "people", GROUPS),
    "still_in_training": ("participants with no enrollment in the group ended", "people", GROUPS),
    "completed_training": ("participants who completed training or earned a credential", "people", GROUPS),
    "completion_rate": ("completed_training / participants", "ratio 0-1, 4 decimals", GROUPS),
    "credential_earned": (
        "participants who earned the credential (a program: any credential through it)",
        "people",
        GROUPS,
    ),
    "credential_attainment": ("credential_earned / participants", "ratio 0-1, 4 decimals", GROUPS),
    "placed": ("participants with a referral that reached placed", "people", GROUPS),
    "placement_rate": ("placed / participants", "ratio 0-1, 4 decimals", GROUPS),
    "retained_90_days": ("participants still employed at the 90-day check-in", "people", GROUPS),
    "retained_180_days": ("participants still employed at the 180-day check-in", "people", GROUPS),
    "median_days_to_placement": (
        "median days from the end of training to the start of the first placement (0 when the placement started first)",
        "days",
        GROUPS,
    ),
    "placements": ("placed referrals of the participants", "placements", GROUPS),
    "median_hourly_at_placement": ("median hourly wage at placement", "currency per hour", WAGES),
    "median_hourly_90_days": ("median hourly wage at the 90-day check-in", "currency per hour", WAGES),
    "median_hourly_180_days": ("median hourly wage at the 180-day check-in", "currency per hour", WAGES),
    "good_jobs_assessed": ("placements the coalition's good-job rule could assess", "placements", GROUPS),
    "good_jobs": ("placements meeting the good-job rule", "placements", GROUPS),
    "good_job_rate": ("good_jobs / good_jobs_assessed", "ratio 0-1, 4 decimals", GROUPS),
    "currency": ("ISO 4217 currency of the costs", "code", NONE),
    "occupation": ("O*NET-SOC code of the occupation", "code", NONE),
    "employment_type": (
        "full_time, part_time, internship, micro_internship, apprenticeship or not_said",
        "category",
        NONE,
    ),
    "line": ("what the row counts: the cell itself or one line inside it", "category", NONE),
    "name": ("the line's skill, credential or wage unit", "text", NONE),
}

BY_TABLE: dict[tuple[str, str], Entry] = {
    ("pipeline", "dimension"): ("how the row is grouped: total, provider, program or credential", "category", NONE),
    ("pipeline", "group"): ("the provider, program or credential (all for the total)", "identifier", GROUPS),
    ("pipeline", "section"): ("training, jobs or placed_by_type", "category", NONE),
    ("pipeline", "line"): ("the stage of the coalition funnel (docs/pipeline.md, 'From training')", "category", NONE),
    ("pipeline", "people"): ("people who reached the line (cumulative stages)", "people", GROUPS),
    ("credential_outcomes", "credential"): (
        "the credential's key: ctid:<CTID> or name:<normalised name>",
        "identifier",
        GROUPS,
    ),
    ("credential_outcomes", "name"): ("the credential's most frequent spelling", "text", GROUPS),
    ("credential_outcomes", "ctid"): ("Credential Engine CTID when known", "identifier", GROUPS),
    ("credential_outcomes", "programs"): ("programs registered as leading to the credential", "programs", NONE),
    ("credential_outcomes", "cost_low"): ("lowest cost to the participant over those programs", "currency", NONE),
    ("credential_outcomes", "cost_high"): ("highest cost to the participant over those programs", "currency", NONE),
    ("program_outcomes", "program"): ("the program's id as its provider registered it", "identifier", GROUPS),
    ("program_outcomes", "name"): ("the program's name", "text", GROUPS),
    ("program_outcomes", "provider"): ("the training provider that registered the program", "identifier", GROUPS),
    ("program_outcomes", "credential"): ("the credential the program leads to, if any", "text", GROUPS),
    ("program_outcomes", "cost"): ("what a participant pays after funding", "currency", NONE),
    ("program_outcomes", "onet_soc_codes"): ("the program's occupations, space-separated", "codes", NONE),
    ("demand_today", "openings"): ("open openings in the cell", "openings", EMPLOYERS),
    ("demand_today", "open_slots"): ("their capacity together", "slots", EMPLOYERS),
    ("demand_today", "required_or_openings"): (
        "a skill: openings requiring it; a credential or wage: openings counted",
        "openings",
        EMPLOYERS,
    ),
    ("demand_today", "preferred"): ("a skill: openings preferring it without requiring it", "openings", EMPLOYERS),
    ("demand_today", "min"): ("a wage line: the lowest posted amount", "currency per the line's unit", EMPLOYERS),
    ("demand_today", "median"): ("a wage line: the median posted amount", "currency per the line's unit", EMPLOYERS),
    ("demand_today", "max"): ("a wage line: the highest posted amount", "currency per the line's unit", EMPLOYERS),
    ("demand_forecast", "horizon_months"): ("how far ahead the employers declared", "months", NONE),
    ("demand_forecast", "slots"): ("slots the employers expect together", "slots", EMPLOYERS),
    ("demand_forecast", "line_slots"): (
        "a skill or credential: slots of the forecasts expecting it",
        "slots",
        EMPLOYERS,
    ),
    ("demand_forecast", "employers"): ("a skill or credential: employers expecting it", "employers", EMPLOYERS),
    ("demand_withheld", "part"): ("today or forecast", "category", NONE),
    ("demand_withheld", "withheld"): ("cells and lines left out for coming from fewer than N employers", "count", NONE),
    ("hiring_standards", "employer"): ("the employer's name as it published it", "text", PUBLIC),
    ("hiring_standards", "opening"): (
        "the opening's title when the standards are that opening's own (shown while it is open); empty: every"
        " opening of the occupation without standards of its own",
        "text",
        PUBLIC,
    ),
    ("hiring_standards", "stages"): ("interview stages in order, separated by ' > '", "categories", PUBLIC),
    ("hiring_standards", "interview_format"): ("remote, in_person or hybrid", "category", PUBLIC),
    ("hiring_standards", "portfolio_expected"): ("whether a portfolio is expected", "true/false", PUBLIC),
    ("hiring_standards", "assessment_expected"): ("whether an assessment is expected", "true/false", PUBLIC),
    ("hiring_standards", "degree_requirement_dropped"): (
        "whether the employer dropped degree requirements",
        "true/false",
        PUBLIC,
    ),
    ("hiring_standards", "accepted_equivalents"): (
        "credentials accepted as equivalent to a degree, separated by '; '",
        "text",
        PUBLIC,
    ),
    ("hiring_standards", "published_at"): ("when the employer published these standards", "ISO 8601 time, UTC", PUBLIC),
    ("hiring_by_employer", "employer"): (
        "the name the employer opted in under, or '(all published employers)' for the total row",
        "text",
        "only employers who opted in to publication for the year",
    ),
    ("hiring_by_employer", "employer_id"): (
        "the employer's id in the network (empty on the total row)",
        "identifier",
        NONE,
    ),
    ("hiring_by_employer", "dimension"): (
        "race_ethnicity, gender, educational_background or training",
        "category",
        NONE,
    ),
    ("hiring_by_employer", "category"): (
        "the dimension's category (every one listed, also with 0), or 'total' for the employer's hires",
        "category",
        NONE,
    ),
    ("hiring_by_employer", "hires"): (
        "hires starting in the year of candidates who consented to aggregate reporting, one per person and employer",
        "hires",
        CELLS,
    ),
}


def entry(table: str, column: str) -> Entry | None:
    return BY_TABLE.get((table, column)) or SHARED.get(column)
