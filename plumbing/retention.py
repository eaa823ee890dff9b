"""Operational rows are deleted once they have served (data minimisation).

Every service keeps rows that exist only to make delivery safe, and some carry profile data
(an outbox row is a whole event): published outbox rows, inbox claims, idempotency records
and finished webhook deliveries (with their attempts). Each is kept for a retention period
(settings, defaults in README "Configuration") and then deleted, in small batches so no
statement holds locks for long. Unpublished or parked outbox rows and pending deliveries
are never pruned, whatever their age.

Why the inbox may forget: it turns redelivered records into duplicates, and a record comes
again only until its offset is committed (minutes) or when a consumer group is reset on
purpose; its retention (30 days by default) must exceed how far back anyone would ever
reset a group. An idempotency record answers retries for its retention (24 h by default).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass

import asyncpg

from plumbing.faults import describe
from plumbing.logging import get_logger
from plumbing.settings import Settings

log = get_logger(__name__)

BATCH = 5000

# table -> a statement deleting up to $2 rows older than $1 seconds, returning nothing.
_PRUNE = {
    "outbox": """
        DELETE FROM outbox WHERE id IN (
            SELECT id FROM outbox
            WHERE published_at IS NOT NULL AND published_at < now() - make_interval(secs => $1)
            ORDER BY id LIMIT $2)""",
    "inbox": """
        DELETE FROM inbox WHERE ctid IN (
            SELECT ctid FROM inbox WHERE applied_at < now() - make_interval(secs => $1) LIMIT $2)""",
    "idempotency_keys": """
        DELETE FROM idempotency_keys WHERE ctid IN (
            SELECT ctid FROM idempotency_keys WHERE created_at < now() - make_interval(secs => $1) LIMIT $2)""",
    "webhook_deliveries": """
        DELETE FROM webhook_deliveries WHERE delivery_id IN (
            SELECT delivery_id FROM webhook_deliveries
            WHERE status IN ('delivered', 'failed') AND created_at < now() - make_interval(secs => $1) LIMIT $2)""",
}


@dataclass(frozen=True)
class Retention:
    """Seconds each kind of row is kept after it has served."""

    outbox_s: float = 7 * 86400
    inbox_s: float = 30 * 86400
    idempotency_s: float = 86400
    webhook_deliveries_s: float = 30 * 86400
    every_s: float = 3600

    @classmethod
    def from_settings(cls, s: Settings) -> Retention:
        return cls(
            s.outbox_retention_days * 86400,
            s.inbox_retention_days * 86400,
            s.idempotency_retention_hours * 3600,
            s.webhook_retention_days * 86400,
            s.prune_every_s,
        )

    def seconds(self) -> dict[str, float]:
        return {
            "outbox": self.outbox_s,
            "inbox": self.inbox_s,
            "idempotency_keys": self.idempotency_s,
            "webhook_deliveries": self.webhook_deliveries_s,
        }


async def prune_once(pool: asyncpg.Pool, retention: Retention, batch: int = BATCH) -> Counter[str]:
    """Delete every row past its retention, `batch` rows a statement; returns rows by table."""
    removed: Counter[str] = Counter()
    for table, keep_s in retention.seconds().items():
        while True:
            status = await pool.execute(_PRUNE[table], keep_s, batch)
            n = int(status.split()[-1])
            removed[table] += n
            if n < batch:
                break
    return removed


async def run(pool: asyncpg.Pool, retention: Retention) -> None:
    """Prune now and every `every_s`; a fault (the database away) waits for the next round."""
    while True:
        try:
            removed = await prune_once(pool, retention)
            if sum(removed.values()):
                log.info("retention.pruned", **removed)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("retention.prune_failed", error=describe(exc, 300))
        await asyncio.sleep(retention.every_s)
