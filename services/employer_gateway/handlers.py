"""The gateway consumes routing decisions into each employer's referral inbox."""

from __future__ import annotations

import asyncpg

from contracts import Envelope, events
from services.employer_gateway import store


async def on_referral_routed(conn: asyncpg.Connection, env: Envelope, event: events.ReferralRoutedV1) -> None:
    await store.insert_routed(conn, event, env.time)


HANDLERS = {events.ReferralRoutedV1.event_type: on_referral_routed}
