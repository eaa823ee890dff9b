"""The outbox relay's floor and cursor under random interleavings, against real PostgreSQL.

Seeded random runs of what happens around a relay: transactions that take outbox ids for
their keys and commit or roll back late (a key's transactions one at a time, as the
referral they lock makes them), publish rounds, a new leader, rows the producer refuses
(parked), and operators releasing or discarding them. The producer is an in-memory stand-in
(Kafka's side is tested in test_outbox.py and test_outbox_floor.py), so a run takes
milliseconds a step. At the end every committed row not discarded was sent exactly once,
and each key's rows in id order."""

from __future__ import annotations

import asyncio
import random
import uuid

import asyncpg
import pytest
from aiokafka.errors import MessageSizeTooLargeError

from plumbing import outbox

pytestmark = pytest.mark.integration

KEYS = [f"k{i}" for i in range(6)]


class Producer:
    """Records what it is sent; refuses values marked poison until told they are fixed."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []
        self.fixed: set[bytes] = set()

    async def send(self, topic: str, value: bytes, key: bytes, headers: object) -> asyncio.Future[object]:
        if value.startswith(b"poison") and value not in self.fixed:
            raise MessageSizeTooLargeError()
        self.sent.append((key.decode(), value))
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


async def write(conn: asyncpg.Connection, key: str, poison: bool) -> bytes:
    value = (b"poison-" if poison else b"v-") + uuid.uuid4().hex.encode()
    await conn.execute(outbox.INSERT, [uuid.uuid4()], ["t"], [key], [value], None, None)
    return value


@pytest.mark.parametrize("seed", range(6))
async def test_every_committed_row_is_sent_once_in_its_key_s_order_whatever_the_interleaving(pool, seed, monkeypatch):  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    if seed >= 4:
        monkeypatch.setattr(outbox, "MAX_GAPS", 2)  # often back to claiming from the floor
    producer = Producer()

    def new_relay() -> outbox.OutboxRelay:
        return outbox.OutboxRelay(pool, producer, batch=rng.choice([2, 3, 5, 50]), probe_s=0)  # type: ignore[arg-type]

    relay = new_relay()
    open_txs: list[tuple[asyncpg.Connection, object, set[str], list[bytes]]] = []
    committed: list[bytes] = []
    discarded: set[bytes] = set()
    try:
        for _ in range(150):
            step = rng.random()
            held = set().union(*(keys for _, _, keys, _ in open_txs))
            free = [k for k in KEYS if k not in held]
            if step < 0.25 and free and len(open_txs) < 4:
                conn = await pool.acquire()
                tx = conn.transaction()
                await tx.start()
                keys = set(rng.sample(free, rng.randint(1, min(2, len(free)))))
                values = [await write(conn, rng.choice(sorted(keys)), rng.random() < 0.08) for _ in range(rng.randint(1, 4))]
                open_txs.append((conn, tx, keys, values))
            elif step < 0.35 and open_txs:
                conn, _, keys, values = rng.choice(open_txs)
                values.append(await write(conn, rng.choice(sorted(keys)), rng.random() < 0.08))
            elif step < 0.55 and open_txs:
                entry = open_txs.pop(rng.randrange(len(open_txs)))
                conn, tx, _, values = entry
                if rng.random() < 0.8:
                    await tx.commit()  # type: ignore[attr-defined]
                    committed.extend(values)
                else:
                    await tx.rollback()  # type: ignore[attr-defined]
                await pool.release(conn)
            elif step < 0.85:
                await relay.publish_once()
            elif step < 0.9:
                relay = new_relay()  # the leader's process died; another leads from the stored floor
            else:
                parked = await outbox.parked(pool)
                if parked:
                    row = rng.choice(parked)
                    value = await pool.fetchval("SELECT value FROM outbox WHERE id = $1", row.id)
                    if rng.random() < 0.5:
                        producer.fixed.add(value)
                        assert await outbox.release(pool, [row.id]) == 1
                    else:
                        assert await outbox.discard(pool, [row.id], by="test") == 1
                        discarded.add(value)
        for conn, tx, _, values in open_txs:
            await tx.commit()  # type: ignore[attr-defined]
            committed.extend(values)
            await pool.release(conn)
        open_txs = []
        # Whatever is still parked is fixed and released; then everything goes out.
        while True:
            while await relay.publish_once():
                pass
            parked = await outbox.parked(pool)
            if not parked:
                break
            for row in parked:
                producer.fixed.add(await pool.fetchval("SELECT value FROM outbox WHERE id = $1", row.id))
            await outbox.release(pool, [row.id for row in parked])
    finally:
        for conn, tx, _, _ in open_txs:
            await tx.rollback()  # type: ignore[attr-defined]
            await pool.release(conn)

    sent = [value for _, value in producer.sent]
    expected = [v for v in committed if v not in discarded]
    assert sorted(sent) == sorted(expected)  # none lost, none twice
    in_id_order = [r["value"] for r in await pool.fetch("SELECT value FROM outbox ORDER BY id")]
    for key in KEYS:
        on_kafka = [value for k, value in producer.sent if k == key]
        assert on_kafka == [v for v in in_id_order if v in set(on_kafka)], f"key {key} out of order"
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0
    # The floor catches up once nothing is in flight, also after claims fell back to it.
    top = await pool.fetchval("SELECT max(id) FROM outbox")
    await relay.publish_once()
    await relay.publish_once()
    assert relay._view is not None and relay._view.floor >= top
    assert await pool.fetchval("SELECT floor FROM outbox_relay") <= top
