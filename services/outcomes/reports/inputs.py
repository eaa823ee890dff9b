"""What the reports read that store.py does not already give (kept here, not in the shared
store): the supportive-service requests of `service_requests` (outcomes migration 012), and
the enrollments WIOA's indicators over training count, with the days of their skill gains; and
what credential and program outcomes and peer benchmarks count (`credential_inputs`); what the
demand board counts (`demand_inputs`); what hiring by employer counts (`hiring_inputs`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

import asyncpg

from plumbing.vault import Vault
from services.outcomes import pipeline, records, records_json, store
from services.outcomes.reports import DemandInputs, credentials, demand
from services.outcomes.reports.across_years import LEDGER_LINES, Earlier, Held, program_people, stage_people
from services.outcomes.reports.hiring import Choice, HiringInputs
from services.outcomes.reports.supportive import Request
from services.outcomes.reports.wioa_training import MSG_MILESTONES, Participation


async def service_requests(conn: asyncpg.Connection | asyncpg.Pool, partner_id: str | None = None) -> list[Request]:
    """Every request (operators, None), or those a partner made or was asked for
    (`supportive.visible`'s rule, in SQL), in request id order. The value's currency is the
    delivery's (kept in `detail`; the `currency` column is the amount requested's)."""
    rows = await conn.fetch(
        "SELECT request_id, requester_id, provider_id, person_key, service_type, status, partner_status,"
        " requested_at, delivered_on, value_delivered, amount_requested, currency,"
        " detail -> 'value' ->> 'currency' AS value_currency FROM service_requests"
        " WHERE $1::text IS NULL OR requester_id = $1 OR provider_id = $1 ORDER BY request_id",
        partner_id,
    )
    return [Request(**dict(r)) for r in rows]


async def training_participations(conn: asyncpg.Connection, partner_id: str | None = None) -> list[Participation]:
    """Every enrollment (or a training provider's) with its person_key, as store.enrollment_people
    gives them, and the days of its skill-gain milestones (the `as_of` of its training.progressed
    events in the ledger; an erasure redacts personal data, not these)."""
    rows = await conn.fetch(
        "SELECT f.person_key, f.record,"
        " coalesce((SELECT array_agg((l.envelope -> 'data' ->> 'as_of')::date ORDER BY l.seq) FROM ledger l"
        "  WHERE l.enrollment_id = f.enrollment_id AND l.event_type LIKE 'training.progressed.%'"
        "  AND l.envelope -> 'data' ->> 'milestone' = ANY($2::text[])), '{}') AS gains_on"
        " FROM enrollment_facts f WHERE $1::text IS NULL OR f.partner_id = $1 ORDER BY f.enrollment_id",
        partner_id,
        sorted(MSG_MILESTONES),
    )
    return [
        Participation(
            r["person_key"],
            records_json.load(records.EnrollmentRecord, json.loads(r["record"])),
            tuple(sorted(set(r["gains_on"]))),
        )
        for r in rows
    ]


async def credential_inputs(conn: asyncpg.Connection) -> credentials.Inputs:
    """What credential and program outcomes and peer benchmarks read, coalition-wide (each view is
    cut from it by the pure modules: a provider's benchmarks set its programs against the others'):
    every program as last registered or updated, every enrollment with its person_key, and every
    referral of an enrolled person with its person_key. Call it inside one repeatable-read
    transaction so the three agree."""
    programs = [
        _program(json.loads(r["program"])) for r in await conn.fetch("SELECT program FROM programs ORDER BY program_id")
    ]
    enrollments = [
        credentials.Enrollment(r["person_key"], records_json.load(records.EnrollmentRecord, json.loads(r["record"])))
        for r in await conn.fetch("SELECT person_key, record FROM enrollment_facts ORDER BY enrollment_id")
    ]
    rows = await conn.fetch(
        "SELECT person_key, record FROM referral_facts WHERE record IS NOT NULL AND person_key = ANY($1::text[])"
        " ORDER BY referral_id",
        sorted({e.person_key for e in enrollments}),
    )
    referrals = [
        replace(records_json.load(records.ReferralRecord, json.loads(r["record"])), person_key=r["person_key"])
        for r in rows
    ]
    return credentials.Inputs(tuple(programs), tuple(enrollments), tuple(referrals))


def _program(data: dict) -> credentials.Program:
    """A program as program.registered / program.updated carry it (the contract's _Program)."""
    credential = data.get("credential") or {}
    cost = data.get("cost_to_participant") or {}
    return credentials.Program(
        data["program_id"],
        data["partner_id"],
        data["name"],
        credential.get("name"),
        credential.get("ctdl_id"),
        tuple(data.get("onet_soc_codes") or ()),
        Decimal(str(cost["amount"])) if cost.get("amount") is not None else None,
        cost.get("currency") or "USD",
    )


async def demand_inputs(conn: asyncpg.Connection | asyncpg.Pool) -> DemandInputs:
    """What the demand board counts (outcomes migration 014): the open openings with their whole
    posting, the employers' current forecasts and hiring standards."""
    openings = await conn.fetch(
        "SELECT opening_id, employer_id, posting FROM openings WHERE state = 'open' AND posting IS NOT NULL"
        " ORDER BY opening_id"
    )
    forecasts = await conn.fetch(
        "SELECT forecast, declared_at FROM demand_forecasts ORDER BY employer_id,"
        " onet_soc_code, employment_type, horizon_months"
    )
    published = await conn.fetch(
        "SELECT standards, published_at FROM hiring_standards ORDER BY employer_id, onet_soc_code, opening_id"
    )
    return DemandInputs(
        tuple(_open_opening(r["opening_id"], r["employer_id"], json.loads(r["posting"])) for r in openings),
        tuple(_forecast(json.loads(r["forecast"]), r["declared_at"]) for r in forecasts),
        tuple(_standards(json.loads(r["standards"]), r["published_at"]) for r in published),
    )


def _credentials(items: list[dict]) -> tuple[demand.Credential, ...]:
    return tuple(demand.Credential(c["name"], c.get("ctdl_id")) for c in items)


def _open_opening(opening_id: str, employer_id: str, p: dict) -> demand.OpenOpening:
    wage = p["wage"]
    return demand.OpenOpening(
        opening_id,
        employer_id,
        p["onet_soc_code"],
        p.get("employment_type"),
        p["capacity"],
        tuple(p.get("required_skills", [])),
        tuple(p.get("preferred_skills", [])),
        _credentials(p.get("required_credentials", [])),
        p.get("paid", True),
        Decimal(str(wage["amount"])),
        wage["unit"],
        wage.get("currency", "USD"),
        p.get("title", ""),
    )


def _forecast(f: dict, declared_at) -> demand.Forecast:  # type: ignore[no-untyped-def]
    return demand.Forecast(
        f["employer_id"],
        f["onet_soc_code"],
        f["employment_type"],
        f["horizon_months"],
        f["slots_expected"],
        tuple(f.get("skills", [])),
        _credentials(f.get("credentials", [])),
        declared_at,
    )


def _standards(s: dict, published_at) -> demand.Standards:  # type: ignore[no-untyped-def]
    return demand.Standards(
        s["employer_id"],
        s["employer_name"],
        s["onet_soc_code"],
        tuple(s["stages"]),
        s["interview_format"],
        s["portfolio_expected"],
        s["assessment_expected"],
        s["degree_requirement_dropped"],
        _credentials(s.get("accepted_equivalents", [])),
        published_at,
        s.get("opening_id"),
    )


async def hiring_inputs(conn: asyncpg.Connection, vault: Vault | None, year: int) -> HiringInputs:
    """What hiring by employer counts (docs/transparency.md, "Hiring by employer"): the employers'
    last publication choices for the year (outcomes migration 016) and every placed referral with
    sealed demographics, opened with `vault` where the candidate consented (none without a vault), and
    every placed referral of an erased person (never counted: the release needs to know of them)."""
    choices = await conn.fetch(
        "SELECT employer_id, year, opted_in, employer_name FROM publication_choices WHERE year = $1"
        " ORDER BY employer_id",
        year,
    )
    rows = await conn.fetch(
        "SELECT record, candidate_id, demographics_sealed, person_key FROM referral_facts"
        " WHERE record IS NOT NULL AND (demographics_sealed IS NOT NULL OR person_key LIKE $1 || '%')"
        " AND jsonb_typeof(record -> 'placement') = 'object' ORDER BY referral_id",
        pipeline.ERASED_PREFIX,
    )
    keys = await store.demographics_keys(conn, vault, rows) if vault is not None else {}
    return HiringInputs(
        year,
        tuple(store.opened(rows, keys)),
        tuple(Choice(r["employer_id"], r["year"], r["opted_in"], r["employer_name"]) for r in choices),
    )


# Whether an enrollment's event of a type occurred by the position's last event ($1).
EVENT_BY = (
    "EXISTS (SELECT 1 FROM ledger l WHERE l.enrollment_id = f.enrollment_id AND l.event_type LIKE '{}'"
    " AND l.occurred_at <= $1::timestamptz)"
)


async def earlier_inputs(
    conn: asyncpg.Connection,
    year: int,
    release_sha256: str,
    named: frozenset[str],
    last_event_at: str | None,
    published: Mapping[str, Mapping[str, int]] | None = None,
    hiring: Mapping[tuple[str, str, str], int | str] | None = None,
    held: Held | None = None,
    listed: bool = True,
) -> Earlier:
    """An earlier release to suppress against (reports/across_years.py), with each program's people as
    of its ledger position (the enrollments whose training.enrolled occurred by its last event), whether
    each had completed or earned a credential by then, and the referral stages they had reached by
    then (a stage's time is its event's): its blocks, and its figures where it `published` none
    (across_years: the figures it published count, a late event is not in them); its `hiring` table
    as published (release.hiring_report). A release stored with what it computed (`held`, migration
    018) is held to that, and the ledger is not read; `listed`: across_years.Earlier.listed."""
    if held is not None:
        return Earlier(year, release_sha256, named, {}, {}, published, hiring, held, listed)
    until = datetime.fromisoformat(last_event_at) if last_event_at else None
    rows = await conn.fetch(
        f"SELECT f.program_id, f.person_key, {EVENT_BY.format('training.completed.%')} AS completed,"
        f" {EVENT_BY.format('credential.earned.%')} AS earned"
        " FROM enrollment_facts f WHERE f.enrollment_id IN (SELECT enrollment_id FROM ledger"
        " WHERE event_type LIKE 'training.enrolled.%' AND occurred_at <= $1::timestamptz) ORDER BY f.enrollment_id",
        until,
    )
    enrolled = [
        pipeline.Enrolled(
            pipeline.Trainee(r["person_key"], "completed" if r["completed"] else "", r["earned"]), "", r["program_id"]
        )
        for r in rows
    ]
    refs = await conn.fetch(
        "SELECT person_key, record FROM referral_facts WHERE person_key = ANY($1::text[]) AND record IS NOT NULL"
        " ORDER BY referral_id",
        sorted({r["person_key"] for r in rows}),
    )
    hires = []
    for r in refs:
        reached = records_json.load(records.ReferralRecord, json.loads(r["record"])).reached
        hires.append(pipeline.Hire(r["person_key"], frozenset(s for s, t in reached.items() if t <= until)))
    reached = {line: v for line, v in stage_people(enrolled, hires).items() if line in LEDGER_LINES}
    return Earlier(year, release_sha256, named, program_people(enrolled), reached, published, hiring, None, listed)
