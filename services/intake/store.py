"""Intake's tables (schema `intake`), in plain SQL."""

from __future__ import annotations

import json

import asyncpg

from contracts import events
from services.intake.domain import ReferralIn


async def insert_referral(
    conn: asyncpg.Connection, event: events.ReferralSubmittedV2, submitted: ReferralIn
) -> None:
    await conn.execute(
        "INSERT INTO referrals (referral_id, partner_id, external_id, candidate_id, contact, submission)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        event.referral_id,
        event.partner_id,
        submitted.external_id,
        event.candidate_id,
        submitted.candidate.model_dump_json(),
        event.model_dump_json(),
    )


async def get_referral(pool: asyncpg.Pool, referral_id: str, partner_id: str) -> dict | None:
    row = await pool.fetchrow(
        "SELECT referral_id, external_id, candidate_id, submission, submitted_at FROM referrals"
        " WHERE referral_id = $1 AND partner_id = $2",
        referral_id,
        partner_id,
    )
    if row is None:
        return None
    submission = json.loads(row["submission"])
    return {
        "referral_id": row["referral_id"],
        "external_id": row["external_id"],
        "candidate_id": row["candidate_id"],
        "skills": submission["skills"],
        "consent": submission["consent"],
        "target_onet_soc_code": submission.get("target_onet_soc_code"),
        "submitted_at": row["submitted_at"].isoformat(),
    }
