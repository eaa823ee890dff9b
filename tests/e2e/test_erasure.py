"""Erasure: canary personal data enters by every path, is erased, and is found nowhere.

A partner erases its own referrals of the person first (the other partner's stays readable,
and the answer counts only the caller's own); then an operator erases the person network-wide.
The scan reads every topic from offset 0, every table of every schema in the database (the
rows kept for operations too: outbox, inbox, idempotency records, webhook deliveries), and
every log file of the network (services, Kafka, PostgreSQL), looking for the canary values in
plaintext; in the database also for a canary skill, which intake publishes as the partner
wrote it and stores in an idempotent answer. The sealed copies that remain on Kafka must be
unreadable: the candidate's key is gone.
"""

from __future__ import annotations

import errno
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from contracts import Envelope, events, topics
from plumbing.kafka import client_options, partitions_of
from plumbing.vault import Unreadable, Vault, parse_master_key
from talentloop import launcher, samples
from talentloop.network import NetworkConfig
from tests.e2e.helpers import Api, assert_problem, poll
from tests.e2e.test_intake_paths import FORGE, NORTHSIDE, RIVERBEND, upload, webhook
from tests.kafka_helpers import read_topic

pytestmark = pytest.mark.slow


def canary() -> dict[str, str]:
    tag = uuid.uuid4().hex[:10]
    return {
        "given": f"Canarygiven{tag}",
        "family": f"Canaryfamily{tag}",
        "email": f"canary.{tag}@example.org",
        "phone_local": f"(212) 555-{uuid.uuid4().int % 900 + 100:04d}",
        "skill": f"Canaryskill{tag}",  # not in the vocabulary: kept as written, answered as unknown
    }


async def scan_topics(bootstrap: str, needles: list[bytes]) -> dict[str, int]:
    """Every record of every topic, each partition read from its beginning to the end it had
    when the scan began, by one consumer (one per topic cost half a second each, most of it
    waiting on topics with nothing in them)."""
    consumer = AIOKafkaConsumer(**client_options(bootstrap), enable_auto_commit=False)
    await consumer.start()
    hits: dict[str, int] = {}
    try:
        names = sorted(t for t in await consumer.topics() if not t.startswith("__"))
        tps = await partitions_of(consumer, names)
        assert {tp.topic for tp in tps} == set(names), "a topic without partitions in the metadata"
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        left = {tp for tp in tps if await consumer.position(tp) < ends[tp]}
        while left:
            for tp, records in (await consumer.getmany(*left, timeout_ms=1000)).items():
                for r in records:
                    blob = (r.key or b"") + (r.value or b"") + b"".join(v for _, v in r.headers or ())
                    found = sum(blob.lower().count(n.lower()) for n in needles)
                    if found:
                        hits[tp.topic] = hits.get(tp.topic, 0) + found
            left = {tp for tp in left if await consumer.position(tp) < ends[tp]}
    finally:
        await consumer.stop()
    return hits


async def scan_database(url: str, needles: list[str], only: list[str] | None = None) -> dict[str, int]:
    """Rows holding a needle, by table: every table of every schema (or `only` these), one
    scan of each. An outbox row's event is bytes: it is read as text too."""
    conn = await asyncpg.connect(url)
    hits: dict[str, int] = {}
    patterns = [f"%{n}%" for n in needles]
    try:
        tables = await conn.fetch(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'"
            " AND table_schema NOT IN ('pg_catalog', 'information_schema')"
        )
        for t in tables:
            name = f'{t["table_schema"]}.{t["table_name"]}'
            if only is not None and name not in only:
                continue
            row = "t::text || convert_from(t.value, 'UTF8')" if t["table_name"] == "outbox" else "t::text"
            n = await conn.fetchval(
                f'SELECT count(*) FROM "{t["table_schema"]}"."{t["table_name"]}" AS t WHERE {row} ILIKE ANY($1::text[])',
                patterns,
            )
            if n:
                hits[name] = n
    finally:
        await conn.close()
    return hits


def scan_files(home: Path, needles: list[bytes], skip: tuple[str, ...]) -> dict[str, int]:
    """Every file under the network's home: service logs, Kafka's logs and segment files,
    PostgreSQL's data files and WAL, except the directories in `skip`."""
    hits: dict[str, int] = {}
    for path in home.rglob("*"):
        if not path.is_file() or any(part in skip for part in path.parts):
            continue
        lowered = [n.lower() for n in needles]
        found = sum(data.count(n) for data in map(bytes.lower, written(path)) for n in lowered)
        if found:
            hits[str(path)] = found
    return hits


def written(path: Path) -> Iterator[bytes]:
    """The file's contents without its holes: Kafka preallocates each partition's index files
    sparse (10 MiB each, gigabytes of zeros in all, which took most of this test's time to
    read). A hole reads as zeros, so no needle lies in one or across one. Where the file
    system cannot tell holes apart, SEEK_DATA and SEEK_HOLE say the whole file is data."""
    with path.open("rb") as f:
        fd, at = f.fileno(), 0
        while True:
            try:
                start = os.lseek(fd, at, os.SEEK_DATA)
            except OSError as exc:
                if exc.errno == errno.ENXIO:  # nothing but a hole from `at` to the end
                    return
                raise
            end = os.lseek(fd, start, os.SEEK_HOLE)
            f.seek(start)
            data = f.read(end - start)
            if not data:
                return
            yield data
            at = start + len(data)


async def test_erasure_leaves_no_plaintext_anywhere_and_counts_remain(api: Api, network_config: NetworkConfig) -> None:
    c = canary()
    person = samples.person(1, run=uuid.uuid4().hex[:8])
    # 1. The same person arrives by webhook, by Kafka (another target) and by CSV from two partners.
    record = samples.forge_payload(person, run="canary")
    graduate = record["data"]["graduate"]
    graduate["name"] = {"first": c["given"], "last": c["family"]}
    graduate["contact"] = {"email": c["email"], "phone": c["phone_local"]}
    graduate["skills"].append({"label": c["skill"], "level": "proficient"})
    r = await webhook(api, FORGE, record, headers={"Idempotency-Key": uuid.uuid4().hex})
    assert r.status_code == 201, r.text
    first = r.json()
    assert c["skill"] in first["unknown_skills"]  # in the stored answer too, until the erasure
    tables = ["intake.idempotency_keys", "intake.outbox", "routing.outbox", "intake.inbox", "routing.inbox",
              "employer_gateway.webhook_deliveries", "outcomes.webhook_deliveries"]
    held = await scan_database(api.net.network.database_url, [c["skill"]], tables)
    assert {"intake.idempotency_keys", "intake.outbox"} <= held.keys(), held
    kafka_record = json.loads(json.dumps(record))
    kafka_record["data"]["graduate"]["uuid"] += "-k"
    kafka_record["data"]["goal"] = {"soc": "15-1254.00"}
    producer = AIOKafkaProducer(**client_options(api.net.bootstrap))
    await producer.start()
    try:
        await producer.send_and_wait(topics.partner_inbound(FORGE), json.dumps(kafka_record).encode(), key=b"canary")
    finally:
        await producer.stop()
    row = samples.riverbend_row(person, run=uuid.uuid4().hex[:6])
    row.update({"FIRST_NM": c["given"], "LAST_NM": c["family"], "PERSONAL_EMAIL": c["email"], "CAMPUS_EMAIL": "",
                "PHONE": c["phone_local"]})
    r = await upload(api, RIVERBEND, samples.csv_text(samples.RIVERBEND_COLUMNS, [row]))
    assert r.json()["accepted"] == 1, r.text

    db_url = api.net.network.database_url

    conn = await asyncpg.connect(db_url)
    try:  # the network's id of the person: an operator's to see, never a partner's
        candidate = await conn.fetchval("SELECT candidate_id FROM intake.referrals WHERE referral_id = $1",
                                        first["referral_id"])
    finally:
        await conn.close()
    assert candidate != first["candidate_id"]

    async def all_three() -> list[asyncpg.Record] | None:
        conn = await asyncpg.connect(db_url)
        try:
            rows = await conn.fetch("SELECT referral_id, partner_id FROM intake.referrals WHERE candidate_id = $1", candidate)
        finally:
            await conn.close()
        return rows if len(rows) == 3 else None

    referrals = await poll("three referrals linked to one candidate", all_three)
    assert {r["partner_id"] for r in referrals} == {FORGE, RIVERBEND}
    ids = [r["referral_id"] for r in referrals]
    for referral_id in ids:  # outcomes has seen them all before the erasure
        await api.wait_timeline(referral_id, lambda t: len(t["events"]) >= 1, "recorded")
    # Each partner knows the person by its own id; its timeline shows neither the network's
    # id nor the sealed copies (whose key id names it).
    (riverbend,) = [x["referral_id"] for x in referrals if x["partner_id"] == RIVERBEND]
    r = await api.http.get(api.url("intake", f"/v1/referrals/{riverbend}"), headers=api.net.auth(f"partner:{RIVERBEND}"))
    assert r.status_code == 200 and r.json()["candidate_id"] not in {candidate, first["candidate_id"]}, r.text
    r = await api.timeline(first["referral_id"], f"partner:{FORGE}")
    assert r.status_code == 200 and r.json()["events"] and candidate not in r.text, r.text
    before = await api.funnel()

    # 2. A partner that never referred the person cannot erase them; the referring one erases
    # what it holds (its two referrals, and only those: the answer tells nothing of Riverbend's).
    erasures = api.url("intake", "/v1/erasures")
    r = await api.http.post(erasures, json={"referral_id": first["referral_id"]}, headers=api.net.auth(f"partner:{NORTHSIDE}"))
    assert_problem(r, 404, "not-found")
    r = await api.http.post(erasures, json={"candidate_id": candidate}, headers=api.net.auth(f"partner:{FORGE}"))
    assert_problem(r, 403)
    r = await api.http.post(erasures, json={"referral_id": first["referral_id"]}, headers=api.net.auth(f"partner:{FORGE}"))
    assert r.status_code == 200 and r.json()["referrals"] == 2, r.text
    r = await api.http.post(erasures, json={"referral_id": first["referral_id"]}, headers=api.net.auth(f"partner:{FORGE}"))
    assert_problem(r, 409, "already-erased")
    r = await api.http.get(api.url("intake", f"/v1/referrals/{riverbend}"), headers=api.net.auth(f"partner:{RIVERBEND}"))
    assert r.status_code == 200 and r.json()["status"] == "active" and r.json()["candidate"]["email"] == c["email"], r.text
    # The stored answer and Forge's published events (intake's at once, routing's when it has
    # taken the erasure in) no longer hold what Forge sent.
    left: dict[str, int] = {}

    async def stripped() -> bool | None:
        left.clear()
        left.update(await scan_database(db_url, [c["skill"]], tables))
        return True if not left else None

    try:
        await poll("the operational rows stripped of what Forge sent", stripped)
    except TimeoutError:
        raise AssertionError(f"still held: {left}") from None
    # The person everywhere: an operator's erasure (Riverbend's referral is what was left).
    r = await api.http.post(erasures, json={"candidate_id": candidate}, headers=api.net.auth("operator:coalition-ops"))
    assert r.status_code == 200 and r.json()["referrals"] == 1, r.text
    r = await api.http.post(erasures, json={"candidate_id": candidate}, headers=api.net.auth("operator:coalition-ops"))
    assert r.status_code == 200 and r.json()["referrals"] == 1, r.text  # repeated: same answer

    # 3. Every service has taken the erasure in; then scan.
    async def erased_everywhere() -> bool | None:
        records = await read_topic(api.net.bootstrap, topics.CANDIDATES.name, timeout=3.0)
        published = any(r.key == candidate.encode() for r in records)
        inbound = await read_topic(api.net.bootstrap, topics.partner_inbound(FORGE), at_least=0, timeout=2.0)
        return True if published and not any(r.key == b"canary" for r in inbound) else None

    await poll("candidate.erased published and the inbound record deleted", erased_everywhere, timeout=30.0)
    for referral_id in ids:
        await api.wait_timeline(referral_id, lambda t: any(e["type"].startswith("referral.withdrawn") for e in t["events"]),
                                "withdrawn by the erasure")

    # Every service dropped the pseudonymous id too; only intake's erasure record keeps it.
    async def dropped_everywhere() -> bool | None:
        conn = await asyncpg.connect(db_url)
        try:
            held = {
                "routing": await conn.fetchval(
                    "SELECT count(*) FROM routing.decisions WHERE candidate_id = $1", candidate),
                "employer_gateway": await conn.fetchval(
                    "SELECT count(*) FROM employer_gateway.referrals WHERE candidate_id = $1", candidate),
                "outcomes": await conn.fetchval(
                    "SELECT count(*) FROM outcomes.ledger WHERE envelope::text LIKE '%' || $1 || '%'", candidate),
                "intake": await conn.fetchval(
                    "SELECT count(*) FROM intake.referrals WHERE candidate_id = $1", candidate),
            }
        finally:
            await conn.close()
        return True if not any(held.values()) else None

    await poll("every service to drop the candidate id", dropped_everywhere)
    conn = await asyncpg.connect(db_url)
    try:
        ledger = await conn.fetch("SELECT envelope FROM outcomes.ledger WHERE referral_id = ANY($1)", ids)
    finally:
        await conn.close()
    assert len(ledger) >= 6  # submitted and withdrawn of each referral at least: the counts remain
    assert not any("contact_sealed" in row["envelope"] for row in ledger)

    digits = "".join(ch for ch in c["phone_local"] if ch.isdigit())
    needles = [c["given"], c["family"], c["email"], c["phone_local"], digits]
    assert await scan_topics(api.net.bootstrap, [n.encode() for n in needles]) == {}
    assert await scan_database(db_url, [*needles, c["skill"]]) == {}
    # On disk: everything but the inbound topic's segments, which hold the partner's own
    # plaintext until Kafka deletes the segment (see docs/intake.md, "Personal data and erasure"); reading them
    # from offset 0 already finds nothing (checked above and in scan_topics).
    home = network_config.home
    inbound_dirs = tuple(f"{topics.partner_inbound(FORGE)}-{p}" for p in range(64))
    # As root in a private folder, PGDATA lives outside the home (postgres/data links to it).
    pgdata = (home / "postgres" / "data").resolve()
    for root in {home, pgdata}:
        assert scan_files(root, [n.encode() for n in needles], skip=inbound_dirs) == {}
    assert any(home.rglob("*.log")) and any(pgdata.rglob("pg_wal")), "the scan must see logs, segments and WAL"

    # The sealed copies still on Kafka are noise now: the key is gone.
    records = await read_topic(api.net.bootstrap, topics.REFERRALS.name, timeout=5.0)
    sealed = [
        events.Sealed.model_validate(Envelope.from_bytes(r.value).data["contact_sealed"])
        for r in records
        if r.key.decode() in ids and b"contact_sealed" in (r.value or b"")
    ]
    assert len(sealed) == 3
    vault = Vault(parse_master_key(launcher.master_key(home)))
    conn = await asyncpg.connect(db_url)
    try:
        for s in sealed:
            with pytest.raises(Unreadable):
                await vault.open(conn, candidate, s, "contact")
        assert await conn.fetchval("SELECT count(*) FROM intake.candidate_identities WHERE candidate_id = $1",
                                   candidate) == 0
        assert await conn.fetchval("SELECT count(*) FROM intake.referrals WHERE referral_id = ANY($1)", ids) == 3
    finally:
        await conn.close()

    # Counts remain: the funnel still counts the three referrals.
    after = await api.funnel()
    assert after["total"]["referrals"]["stages"]["referred"] >= before["total"]["referrals"]["stages"]["referred"]
    r = await api.http.get(api.url("intake", f"/v1/referrals/{first['referral_id']}"), headers=api.net.auth(f"partner:{FORGE}"))
    assert r.status_code == 200 and r.json()["status"] == "erased" and r.json()["candidate"] is None

