"""PostgreSQL stopped for 10 s and restarted during a load of referrals, then the Kafka broker
stopped and restarted: the delivery policy's promise that infrastructure faults are waited
out, never dead-lettered, and that nothing accepted is lost or applied twice.

Partners keep submitting through intake's API all along (paced, each referral with its own
Idempotency-Key, retried as a partner would on a 5xx, a refused connection or a 409 "still
in progress"), and one partner's Kafka records arrive on its inbound topic while the
database is down, so a consumer has work it cannot apply: it must pause (visible on the
service's /metrics and /health), then resume. At the end:

- no dead letter was written on any talentloop.deadletter.* topic;
- intake holds each submitted referral exactly once, and every referral a partner was told
  was accepted (201) is among them; nothing else was created;
- each of them is in the outcomes ledger exactly once per event (submitted, routed, its
  skills-gap observation), with the same projection;
- replaying every topic into a clean schema (`talentloop outcomes rebuild`) gives the live
  projections' content hashes;
- every service process is still running, healthy and not paused.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer

from contracts import events, topics
from deploy.stack import StackInfo
from plumbing.kafka import client_options
from talentloop import samples
from talentloop.network import NetworkConfig
from tests.e2e import delivery
from tests.e2e.helpers import Api, opening_body, poll, referral_body, unique

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

PARTNERS = ("riverbend-community-college", "northside-tech-collective", "forge-coding-bootcamp")
EMPLOYERS = ("civic-data-labs", "harborview-health", "bluewave-fintech")
FORGE = "forge-coding-bootcamp"  # has a Kafka adapter: talentloop.inbound.forge-coding-bootcamp
OUTAGE_S = 10.0
# The broker stays away longer than the producers' request timeout (plumbing/kafka.py, 30 s):
# only then do sends that waited for it time out inside the producer, the case a broker
# restart on a busy network produces (and a shorter outage never shows).
KAFKA_OUTAGE_S = 32.0
RATE_PER_S = 3.0  # referrals offered per second, over the whole test
MAX_REFERRALS = 700  # a bound, never reached at RATE_PER_S in the time the test takes
INBOUND_DURING_OUTAGE = 12
# Referrals accepted before each fault and after each restart: the load is flowing then (the
# outages themselves are under load at RATE_PER_S all along); a few seconds at RATE_PER_S.
ACCEPTED_BETWEEN_FAULTS = 6
EXPECTED_EVENTS = Counter(
    {events.ReferralSubmittedV2.event_type: 1, events.ReferralRoutedV1.event_type: 1, events.SkillsGapObservedV2.event_type: 1}
)


@dataclass
class Load:
    """Referrals offered at a steady rate by a few partner clients, each retried until intake
    answers 201 (or the same 201 again, replayed for its Idempotency-Key)."""

    api: Api
    skill: str
    run: str
    accepted: dict[int, str] = field(default_factory=dict)  # load index -> referral id
    answers: Counter[str] = field(default_factory=Counter)  # every answer and transport error seen
    unexpected: list[tuple[int, int, str]] = field(default_factory=list)
    gave_up: list[int] = field(default_factory=list)
    waited_s: dict[int, float] = field(default_factory=dict)  # index -> first try to 201, if retried
    key_in_use: set[int] = field(default_factory=set)  # indexes answered 409 "still in progress"
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    offered: int = 0
    _t0: float = 0.0

    def external_id(self, i: int) -> str:
        return f"flt-{self.run}-{i:05d}"

    async def run_workers(self, workers: int = 6) -> None:
        self._t0 = time.monotonic()
        await asyncio.gather(*(self._worker() for _ in range(workers)))

    async def _worker(self) -> None:
        while not self.stopping.is_set() and self.offered < MAX_REFERRALS:
            i = self.offered
            self.offered += 1
            # Pacing, not waiting for a condition: the load must span both outages.
            await asyncio.sleep(max(0.0, self._t0 + i / RATE_PER_S - time.monotonic()))
            await self._submit(i)

    async def _submit(self, i: int) -> None:
        body = referral_body([self.skill])
        body["external_id"] = self.external_id(i)
        partner, key = PARTNERS[i % len(PARTNERS)], f"{self.run}-{i}"
        started = time.monotonic()
        deadline, delay, tries = started + 150.0, 0.2, 0
        while True:
            tries += 1
            try:
                r = await self.api.submit(partner, body, {"Idempotency-Key": key})
            except httpx.TransportError as exc:
                self.answers[type(exc).__name__] += 1
            else:
                label = f"{r.status_code}{' replayed' if r.headers.get('idempotent-replayed') else ''}"
                if r.status_code == 409 and "idempotency-key-in-use" in r.text:
                    label = "409 key in use"
                    self.key_in_use.add(i)
                self.answers[label] += 1
                if r.status_code == 201:
                    self.accepted[i] = r.json()["referral_id"]
                    if tries > 1:
                        self.waited_s[i] = round(time.monotonic() - started, 1)
                    return
                if r.status_code < 500 and label != "409 key in use":
                    self.unexpected.append((i, r.status_code, r.text[:300]))
                    return
            if time.monotonic() > deadline:
                self.gave_up.append(i)
                return
            await asyncio.sleep(delay)  # a partner's retry backoff
            delay = min(delay * 2, 2.0)

    async def wait_accepted(self, more: int, what: str, timeout: float = 60.0) -> None:
        target = len(self.accepted) + more

        async def reached() -> bool | None:
            return True if len(self.accepted) >= target else None

        await poll(f"{more} more referrals accepted {what}", reached, timeout=timeout)


class Phases:
    """Seconds each step of the test took, and when it ended (UTC, to find it in the services'
    logs): the fixed parts are the two outages, the rest is what to make shorter."""

    def __init__(self) -> None:
        self._last = time.monotonic()
        self.seconds: dict[str, str] = {}

    def mark(self, step: str) -> None:
        now = time.monotonic()
        self.seconds[step] = f"{now - self._last:.1f} (to {datetime.now(UTC):%H:%M:%S})"
        self._last = now


async def produce_inbound(bootstrap: str, skill: str, run: str, count: int) -> list[str]:
    """`count` referrals on Forge's own Kafka topic, in its own shape; returns their external ids."""
    producer = AIOKafkaProducer(**client_options(bootstrap), enable_idempotence=True, acks="all")
    await producer.start()
    external = []
    try:
        for n in range(count):
            record = samples.forge_payload(samples.person(n, run=f"flt{run}"), run=f"flt{run}")
            record["data"]["graduate"]["skills"] = [{"label": skill, "level": "proficient"}]
            record["data"]["graduate"]["certifications"] = []
            record["data"]["goal"] = {}
            external.append(record["data"]["graduate"]["uuid"])
            await producer.send_and_wait(topics.partner_inbound(FORGE), json.dumps(record).encode(), key=external[-1].encode())
    finally:
        await producer.stop()
    return external


@dataclass
class Watch:
    """What the services showed of themselves during an outage."""

    health: Counter[str] = field(default_factory=Counter)  # "service: status code / status"
    paused: dict[str, list[str]] = field(default_factory=dict)  # service -> where a paused loop was seen

    def seen_paused(self) -> bool:
        return any(self.paused.values())


async def watch_once(api: Api, watch: Watch) -> None:
    for service in delivery.OUTBOX_SERVICES:
        url = api.net.urls[service]
        code, body = await delivery.health(api.http, url)
        status = (body or {}).get("status") if code == 200 else None
        watch.health[f"{service}: {code}{' ' + status if status else ''}"] += 1
        seen = [f"/health: {c['topic']} ({c['reason'] or ''})"[:200] for c in delivery.paused_loops(body)]
        seen += [f"/metrics: {s}" for s in await delivery.paused_in_metrics(api.http, url)]
        if seen:
            watch.paused.setdefault(service, []).extend(s for s in seen if s not in watch.paused.get(service, []))


async def all_recovered(api: Api) -> dict[str, Any] | None:
    """Every service answers /health 200 'ok' with no consume loop paused."""
    bodies = {}
    for service in delivery.OUTBOX_SERVICES:
        code, body = await delivery.health(api.http, api.net.urls[service])
        if code != 200 or body is None or body["status"] != "ok" or delivery.paused_loops(body):
            return None
        bodies[service] = body
    return bodies


def log_offsets(cfg: NetworkConfig) -> dict[str, int]:
    return {s.name: s.log_file.stat().st_size if s.log_file.exists() else 0 for s in cfg.services()}


def tracebacks_since(cfg: NetworkConfig, offsets: dict[str, int]) -> dict[str, list[str]]:
    """Lines of each service's log since `offsets` that carry a traceback (for the report)."""
    found: dict[str, list[str]] = {}
    for s in cfg.services():
        path: Path = s.log_file
        if not path.exists():
            continue
        with path.open("rb") as fh:
            fh.seek(offsets.get(s.name, 0))
            lines = fh.read().decode("utf-8", "replace").splitlines()
        hits = [line[:400] for line in lines if "Traceback" in line or '"exception"' in line or "Task exception" in line]
        if hits:
            found[s.name] = hits[:5]
    return found


async def test_database_and_broker_restarts_lose_nothing_and_dead_letter_nothing(
    api: Api, stack: StackInfo, network_config: NetworkConfig
) -> None:
    if stack.postgres_external or stack.kafka_external:
        pytest.skip("needs the local PostgreSQL and Kafka, which this test stops and starts")
    db_url, bootstrap = stack.database_url, stack.bootstrap
    pg, kafka = network_config.stack().postgres, network_config.stack().kafka
    run, skill = uuid.uuid4().hex[:8], unique("faults")
    phases = Phases()
    for employer in EMPLOYERS:  # ample room: fair share lets each partner take half of each opening
        await api.open_opening(employer, opening_body([skill], capacity=600))
    dead_letters_before = await delivery.dead_letter_offsets(bootstrap)
    logs_before = log_offsets(network_config)

    load = Load(api, skill, run)
    load_task = asyncio.create_task(load.run_workers())
    try:
        await load.wait_accepted(ACCEPTED_BETWEEN_FAULTS, "before the database goes away")
        phases.mark("load flowing")

        # --- PostgreSQL away for OUTAGE_S ------------------------------------------------------
        pg_watch = Watch()
        await asyncio.to_thread(pg.stop)
        down_at = time.monotonic()  # the outage counts from when the server is gone, not asked to go
        phases.mark("postgres stopped")
        inbound = await produce_inbound(bootstrap, skill, run, INBOUND_DURING_OUTAGE)

        async def paused_seen() -> bool | None:
            await watch_once(api, pg_watch)
            return True if pg_watch.seen_paused() else None

        await poll("a consumer paused while the database is away", paused_seen, timeout=OUTAGE_S, every=0.25)
        accepted_in_outage = len(load.accepted)
        await asyncio.sleep(max(0.0, OUTAGE_S - (time.monotonic() - down_at)))  # the outage itself
        await watch_once(api, pg_watch)
        phases.mark("postgres outage")
        await asyncio.to_thread(pg.start)
        pg_downtime = time.monotonic() - down_at
        phases.mark("postgres started")

        async def recovered() -> dict[str, Any] | None:
            await watch_once(api, pg_watch)  # /health answers again: 'degraded' while a loop still waits
            return await all_recovered(api)

        await poll("every service healthy and no consumer paused after the database restart", recovered,
                   timeout=60.0, every=0.25)
        phases.mark("services recovered from postgres")
        await load.wait_accepted(ACCEPTED_BETWEEN_FAULTS, "after the database restart")
        phases.mark("accepting after postgres")

        # --- Kafka away for OUTAGE_S -----------------------------------------------------------
        kafka_watch = Watch()
        await asyncio.to_thread(kafka.stop)
        # From when the broker is gone: its controlled shutdown may take seconds, and a shorter
        # real outage than the producers' request timeout would not show what this test is for.
        down_at = time.monotonic()
        phases.mark("kafka stopped")

        async def backlog_growing() -> bool | None:
            await watch_once(api, kafka_watch)
            code, body = await delivery.health(api.http, api.net.urls["intake"])
            return True if code == 200 and body and body["outbox_backlog"] > 0 else None

        # Intake still accepts (the database is up) and its events wait in its outbox.
        await poll("intake accepting into its outbox while Kafka is away", backlog_growing, timeout=KAFKA_OUTAGE_S)
        await asyncio.sleep(max(0.0, KAFKA_OUTAGE_S - (time.monotonic() - down_at)))  # the outage itself
        await watch_once(api, kafka_watch)
        phases.mark("kafka outage")
        await asyncio.to_thread(kafka.start)
        kafka_downtime = time.monotonic() - down_at
        phases.mark("kafka started")
        await load.wait_accepted(ACCEPTED_BETWEEN_FAULTS, "after the broker restart")
    finally:
        load.stopping.set()
        await load_task
    phases.mark("accepting after kafka, load stopped")

    # --- everything accepted arrives, once ------------------------------------------------------
    assert not load.unexpected, load.unexpected[:5]
    assert not load.gave_up, f"referrals never accepted: {load.gave_up[:10]} (answers: {dict(load.answers)})"
    assert len(load.accepted) == load.offered, (len(load.accepted), load.offered)
    conn = await asyncpg.connect(db_url)
    try:
        rows = await conn.fetch(
            "SELECT referral_id, external_id FROM intake.referrals WHERE external_id LIKE $1 OR external_id = ANY($2::text[])",
            f"flt-{run}-%",
            inbound,
        )
    finally:
        await conn.close()
    external = Counter(r["external_id"] for r in rows)
    assert not [e for e, n in external.items() if n > 1], "a referral was created twice"
    in_intake = {r["external_id"]: r["referral_id"] for r in rows}
    by_api = {load.external_id(i): rid for i, rid in load.accepted.items()}
    assert {e: in_intake.get(e) for e in by_api} == by_api, "a referral answered 201 is not the one intake holds"
    assert set(in_intake) == set(by_api) | set(inbound), "intake holds referrals nobody was told about, or lost some"

    # Nothing stuck in an outbox: a row parked by a fault would wait for an operator.
    await delivery.wait_outboxes_drained(db_url, timeout=120.0)
    phases.mark("outboxes drained")
    referral_ids = set(in_intake.values())
    ledger = await delivery.wait_in_ledger(db_url, {rid: EXPECTED_EVENTS for rid in referral_ids}, timeout=120.0)
    phases.mark("ledger complete")
    counts = {rid: Counter(e.event_type for e in ledger[rid]) for rid in referral_ids}
    twice = {rid: dict(c) for rid, c in counts.items() if c != EXPECTED_EVENTS}
    assert not twice, f"referrals with events missing or recorded twice: {list(twice.items())[:5]}"
    facts = await delivery.facts_of(db_url, referral_ids)
    assert set(facts) == referral_ids
    assert {f["status"] for f in facts.values()} == {facts[next(iter(referral_ids))]["status"]}, Counter(
        f["status"] for f in facts.values()
    )

    new_letters = await delivery.new_dead_letters(bootstrap, dead_letters_before)
    assert not new_letters, f"dead letters written during the outages: {new_letters}"
    phases.mark("projections and dead letters read")

    # In this process: a thousand events replay in a second or two, less than spawning the
    # worker processes takes (whose path tests/integration/test_outcomes_rebuild.py covers).
    result, differ = await delivery.rebuilt_equals_live(
        bootstrap, db_url, schema=f"outcomes_rebuild_faults_{run}", workers=1
    )
    phases.mark("rebuilt")
    assert result.events > 0 and result.equal, differ

    recovered = await poll("every service healthy at the end", lambda: all_recovered(api), timeout=30.0)
    phases.mark("final health")
    for service in network_config.services():
        assert service.pid() is not None, f"{service.name} died; see {service.log_file}"

    print(
        "\nfault test:",
        json.dumps(
            {
                "referrals": {"by_api": len(by_api), "by_kafka": len(inbound), "accepted_while_db_down": accepted_in_outage},
                "answers": dict(load.answers),
                "retried": {"referrals": len(load.waited_s), "longest_s": max(load.waited_s.values(), default=0),
                            "key_in_use": {i: load.waited_s.get(i) for i in sorted(load.key_in_use)}},
                "postgres": {"down_s": round(pg_downtime, 1), "health": dict(pg_watch.health), "paused": pg_watch.paused},
                "kafka": {"down_s": round(kafka_downtime, 1), "health": dict(kafka_watch.health), "paused": kafka_watch.paused},
                "relay_leading": {s: b["relay_leading"] for s, b in recovered.items()},
                "rebuild": {"events": result.events, "seconds": round(result.seconds, 1),
                            "passes": {k: round(v, 1) for k, v in result.passes.items()}},
                "phases_s": phases.seconds,
                "tracebacks_in_logs": tracebacks_since(network_config, logs_before),
            },
            indent=1,
        ),
    )
