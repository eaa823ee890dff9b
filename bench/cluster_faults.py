"""The three-broker fault suite: referrals through every service while brokers and a service
instance fail, checked against a clean single-broker run of the same input.

    .venv/bin/python bench/cluster_faults.py [--small] [--referrals 100000] [--rate 0]
        [--kill-interval 10] [--kills 0] [--pause 30] [--pause-after 3] [--partitions 12]
        [--restart-timeout 300] [--fault-timeout 600]
        [--home DIR] [--out PATH] [--keep]

1. The faulted run. A local three-node KRaft cluster (deploy/kafka_local.LocalKafkaCluster: the
   same Maven-fetched jars as `talentloop up`'s broker, each node broker and controller) with
   production settings: every topic replicated to all three, min.insync.replicas 2, unclean
   leader election off; every producer of ours is idempotent with acks=all (plumbing/kafka.py).
   A fresh PostgreSQL, and intake, routing, employer_gateway and outcomes as processes (the
   network's own launcher), plus a second instance of routing and of outcomes. Six openings
   (three employers), each requiring one skill of its own; referral i has skill i mod 6, so
   exactly one opening fits it and routing decides the same for it in any order.
   Partners submit `--referrals` referrals through intake's API (`--rate` a second, 0: as fast
   as 32 requests in flight go), each with its own Idempotency-Key, retried on a 5xx or a
   transport error as a partner would. Meanwhile:
   - every `--kill-interval` s the broker leading partition 0 of talentloop.referrals is killed
     (SIGKILL) and started again (the next kill waits until every partition is back to three
     in-sync replicas: killing a second broker before is a two-broker outage, which min ISR 2
     turns into a stop, not a loss);
   - after the `--pause-after`th kill the leader is paused (SIGSTOP) for `--pause` s, then resumed;
   - after the first kill, the second routing instance is killed (SIGKILL) in the middle of a
     batch (while referrals are being decided), and after the second the second outcomes one.
   With `--kills 0` the kills go on until the load is submitted; else exactly that many, and
   the load stops with the last fault (at `--referrals` at most).
   Then: every referral accepted exactly once in intake; every outbox published; each referral
   in the outcomes ledger with its events exactly once (submitted, its decision, ...); every
   routed one in the gateway once; no dead letter; replaying the cluster's topics into a clean
   schema (`talentloop outcomes rebuild`) gives the live projections' content hashes.
2. The clean run: the same referrals (as many as the faulted run submitted), the same openings,
   on the single-node broker `talentloop up` runs, without faults. Both runs' projections are
   hashed without what differs between any two runs (ids, times): per referral, by its external
   id, outcomes' status, facts, stages, attempt, exit, anomalies, employer and the count of each
   event type in its ledger. The two hashes must be equal.

Recovery after each fault, in seconds from the fault (from the resume, for the pause):
`flow_s`, until a referral accepted after the fault is decided and in the outcomes ledger (the
whole pipeline moves again); for a broker, `leader_s` until partition 0 has a leader among the
running brokers, `restarted_s` until the restarted one answers, `isr_full_s` until every
partition of every topic has its three in-sync replicas again.

`--small` is the CI size (tests/e2e/test_cluster_faults.py): 3 partitions a topic, 5
referrals/s while two leader kills and a 5 s pause between them happen (about 200-400
referrals, by how long the restarts take). Prints the
results and writes `--out` (default bench/results/cluster_faults.json). Exits 1 if a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka.admin import AIOKafkaAdminClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import free_port, isolated_network, machine  # noqa: E402
from contracts import events, topics  # noqa: E402
from deploy.kafka_local import LocalKafkaCluster  # noqa: E402
from deploy.processes import cmdline, pid_alive, read_pid, remember_child, terminate, write_pid  # noqa: E402
from deploy.topics import TopicPolicy, create_topics  # noqa: E402
from plumbing.kafka import client_options  # noqa: E402
from talentloop import launcher, network  # noqa: E402
from talentloop.credentials import load_keys  # noqa: E402
from talentloop.network import NetworkConfig  # noqa: E402
from tests.e2e import delivery  # noqa: E402
from tests.e2e.helpers import Api, RunningNetwork, opening_body  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "cluster_faults.json"
SERVICES = ("intake", "routing", "employer_gateway", "outcomes", "support")  # support: every outbox is checked
TWICE = ("routing", "outcomes")  # services with a second instance, one of which is killed
PARTNERS = ("riverbend-community-college", "northside-tech-collective", "forge-coding-bootcamp")
EMPLOYERS = ("civic-data-labs", "harborview-health", "bluewave-fintech")
SKILLS = tuple(f"zq-faultsuite-skill-{k}" for k in range(6))
DECISIONS = (events.ReferralRoutedV1.event_type, events.ReferralUnmatchedV1.event_type)
GIVEN_AT = "2026-11-30T12:00:00+00:00"
IN_FLIGHT = 32
CAPACITY = 10_000  # the most an opening may have


@dataclass
class Plan:
    referrals: int = 100_000
    rate: float = 0.0  # referrals a second; 0: as fast as IN_FLIGHT requests go
    kill_interval: float = 10.0
    kills: int = 0  # 0: until the load is submitted
    pause: float = 30.0
    pause_after: int = 3
    partitions: int = 12
    # A broker killed with -9 recovers its logs at the restart: at full size on two busy cores
    # that took 60-77 s, past deploy/kafka_local's 90 s default once.
    restart_timeout: float = 300.0
    # How long the pipeline may take to move again after a fault before the run fails: after a
    # fault it first works off the backlog it had (`backlog` in each record).
    fault_timeout: float = 600.0


# CI: two kills and the pause between them; a broker's restart on two busy cores takes 10-20 s,
# so the kills are as far apart as that anyway.
SMALL = Plan(referrals=1000, rate=5.0, kill_interval=5.0, kills=2, pause=5.0, pause_after=1, partitions=3)


def referral_body(i: int) -> dict[str, Any]:
    """Referral `i` of the seeded input, the same in both runs."""
    return {
        "external_id": f"fs-{i:07d}",
        "candidate": {"given_name": "Fault", "family_name": f"Suite{i}", "email": f"fs-{i}@example.org"},
        "skills": [SKILLS[i % len(SKILLS)]],
        "training": {"program": "Tech career track", "provider": "Fault suite"},
        "consent": {"share_with_employers": True, "given_at": GIVEN_AT},
    }


# --- a network on a given broker ------------------------------------------------------------------


@dataclass
class Run:
    cfg: NetworkConfig
    net: RunningNetwork
    extra: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)  # second instances

    @property
    def database_url(self) -> str:
        return self.net.network.database_url


def start_network(cfg: NetworkConfig, partitions: int) -> RunningNetwork:
    os.environ["TALENTLOOP_TOPIC_PARTITIONS"] = str(partitions)
    net = network.up(cfg, only=SERVICES)
    return RunningNetwork(urls=net.urls, keys=load_keys(cfg.home), bootstrap=net.bootstrap, network=net, startup_s=0)


def start_second(run: Run, service: str) -> subprocess.Popen[bytes]:
    """One more process of `service` beside the network's (the environment `network.up` gives
    its services: the cluster's address and the super-user's credentials are this process's)."""
    port = free_port()
    log = (run.cfg.home / "logs" / f"{service}-2.log").open("ab")
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": run.net.bootstrap,
        "DATABASE_URL": run.database_url,
        "TALENTLOOP_PSEUDONYM_KEY": launcher.pseudonym_key(run.cfg.home),
        "TALENTLOOP_MASTER_KEY": launcher.master_key(run.cfg.home),
        "TALENTLOOP_HTTP_PORT": str(port),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", f"services.{service}.main"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    remember_child(proc)
    write_pid(run.cfg.home / f"{service}-2.pid", proc.pid)  # for `discard`, should this process die first
    deadline = time.monotonic() + 90
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"the second {service} exited at start (see {log.name})")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"the second {service} was not healthy in 90 s")
        time.sleep(0.2)


async def open_openings(api: Api, referrals: int) -> None:
    """Room for every referral: an opening takes at most 10,000 and lets one partner fill at
    most half of it (fair share). Referral i has skill i mod 6 and partner i mod 3, so all of a
    skill's referrals come from one partner: a skill needs an opening per 5,000 of them (and
    one more). Were it short, which referrals go unmatched would depend on the order routing
    met them in, and the two runs' projections could not be compared (a first 100,000 run
    left 10,000 unmatched). Openings of one skill all belong to one employer, so which one
    routing picks changes nothing outcomes records of the referral."""
    of_a_skill = -(-referrals // len(SKILLS))
    per_skill = -(-of_a_skill // (CAPACITY // 2)) + 1
    for k, skill in enumerate(SKILLS):
        for n in range(per_skill):
            body = {**opening_body([skill], capacity=CAPACITY), "title": f"Fault suite opening {k}.{n}"}
            await api.open_opening(EMPLOYERS[k % len(EMPLOYERS)], body)


# --- the load ---------------------------------------------------------------------------------------


@dataclass
class Load:
    api: Api
    plan: Plan
    accepted: dict[int, tuple[str, float]] = field(default_factory=dict)  # index -> (referral id, when)
    answers: Counter[str] = field(default_factory=Counter)
    unexpected: list[tuple[int, int, str]] = field(default_factory=list)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    limit: int | None = None  # exactly this many (the clean run)
    offered: int = 0
    done: bool = False  # every referral submitted and answered

    async def run(self) -> None:
        t0 = time.monotonic()
        total = self.limit if self.limit is not None else self.plan.referrals

        async def worker() -> None:
            while self.offered < total and not (self.limit is None and self.stopping.is_set()):
                i = self.offered
                self.offered += 1
                if self.plan.rate and self.limit is None:
                    await asyncio.sleep(max(0.0, t0 + i / self.plan.rate - time.monotonic()))
                await self.submit(i)

        await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
        self.done = True

    async def submit(self, i: int) -> None:
        partner, body, delay = PARTNERS[i % len(PARTNERS)], referral_body(i), 0.2
        while True:
            try:
                r = await self.api.submit(partner, body, {"Idempotency-Key": f"fs-{i}"})
            except httpx.TransportError as exc:
                self.answers[type(exc).__name__] += 1
            else:
                self.answers[str(r.status_code)] += 1
                if r.status_code == 201:
                    self.accepted[i] = (r.json()["referral_id"], time.monotonic())
                    return
                if r.status_code < 500 and r.status_code != 409:  # 409: the same key still in progress
                    self.unexpected.append((i, r.status_code, r.text[:300]))
                    return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    def accepted_since(self, t: float) -> list[str]:
        return [rid for rid, at in self.accepted.values() if at > t]


async def until(what: str, check: Callable[[], Awaitable[bool]], timeout: float, every: float = 0.25) -> float:
    """Seconds until `check` is true (checked every `every` s); TimeoutError after `timeout`."""
    t0 = time.monotonic()
    while not await check():
        if time.monotonic() - t0 > timeout:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s")
        await asyncio.sleep(every)
    return round(time.monotonic() - t0, 2)


# --- the faults -------------------------------------------------------------------------------------


class Faults:
    def __init__(self, run: Run, cluster: LocalKafkaCluster, load: Load, plan: Plan) -> None:
        self.run, self.cluster, self.load, self.plan = run, cluster, load, plan
        self.recoveries: list[dict[str, Any]] = []
        self.topics = [t.name for t in topics.ALL]

    async def describe(self) -> list[dict[str, Any]]:
        admin = AIOKafkaAdminClient(**client_options(self.cluster.bootstrap), request_timeout_ms=5000)
        await admin.start()
        try:
            return await admin.describe_topics(self.topics)
        finally:
            await admin.close()

    async def leader(self) -> int:
        for t in await self.describe():
            if t["topic"] == topics.REFERRALS.name:
                return next(p["leader"] for p in t["partitions"] if p["partition"] == 0)
        raise RuntimeError("talentloop.referrals not described")

    async def _safe(self, check: Callable[[], Awaitable[bool]]) -> bool:
        try:
            return await check()
        except Exception:  # a broker on its way down or up answers with an error: not yet
            return False

    async def new_leader(self, gone: int) -> bool:
        return await self._safe(lambda: self._leader_not(gone))

    async def _leader_not(self, gone: int) -> bool:
        leader = await self.leader()
        return leader >= 0 and leader != gone

    async def isr_full(self) -> bool:
        async def full() -> bool:
            described = await self.describe()
            size = len(self.cluster.nodes)
            return all(len(p["isr"]) == size for t in described for p in t["partitions"])

        return await self._safe(full)

    async def flowing(self, since: float) -> bool:
        """A referral accepted after `since` is decided and in the outcomes ledger."""
        ids = self.load.accepted_since(since)
        if not ids and self.load.done:  # nothing submitted after the fault: all of it decided, then
            return await self.caught_up()
        if not ids:
            return False
        conn = await asyncpg.connect(self.run.database_url)
        try:
            return bool(
                await conn.fetchval(
                    "SELECT EXISTS (SELECT 1 FROM outcomes.ledger WHERE referral_id = ANY($1::text[])"
                    " AND event_type = ANY($2::text[]))",
                    ids,
                    list(DECISIONS),
                )
            )
        finally:
            await conn.close()

    async def decided(self) -> int:
        conn = await asyncpg.connect(self.run.database_url)
        try:
            return await conn.fetchval(
                "SELECT count(DISTINCT referral_id) FROM outcomes.ledger WHERE event_type = ANY($1::text[])",
                list(DECISIONS),
            )
        finally:
            await conn.close()

    async def caught_up(self) -> bool:
        return await self.decided() >= len(self.load.accepted)

    async def backlog(self) -> int | None:
        """Accepted referrals not yet decided in the ledger: how far behind the load the
        pipeline is when a fault comes (a flow after it waits for that much work first)."""
        try:
            return len(self.load.accepted) - await self.decided()
        except Exception:  # noqa: BLE001 - a figure for the record only
            return None

    def record(self, rec: dict[str, Any]) -> None:
        self.recoveries.append(rec)
        print(json.dumps(rec), file=sys.stderr, flush=True)  # a long run shows how it goes

    async def kill_leader(self, round_no: int) -> None:
        node_id = await self.leader()
        node = self.cluster.nodes[node_id]
        backlog = await self.backlog()
        t0 = time.monotonic()
        await asyncio.to_thread(node.kill)
        rec: dict[str, Any] = {"fault": f"kill -9 broker {node_id} (leader)", "round": round_no, "backlog": backlog}
        flow = asyncio.create_task(until("flow", lambda: self.flowing(t0), self.plan.fault_timeout))
        rec["leader_s"] = await until("new leader", lambda: self.new_leader(node_id), 60)
        await asyncio.to_thread(node.start, self.plan.restart_timeout)
        rec["restarted_s"] = round(time.monotonic() - t0, 2)
        if round_no == 1:
            await self.kill_instance("routing")
        elif round_no == 2:
            await self.kill_instance("outcomes")
        rec["isr_full_s"] = round(
            time.monotonic() - t0 + await until("ISR full", self.isr_full, self.plan.fault_timeout), 2
        )
        rec["flow_s"] = await flow
        self.record(rec)

    async def pause_leader(self) -> None:
        node_id = await self.leader()
        node = self.cluster.nodes[node_id]
        backlog = await self.backlog()
        await asyncio.to_thread(node.pause)
        t0 = time.monotonic()
        rec: dict[str, Any] = {
            "fault": f"SIGSTOP broker {node_id} (leader) for {self.plan.pause:g} s",
            "backlog": backlog,
        }
        flow = asyncio.create_task(until("flow in the pause", lambda: self.flowing(t0), self.plan.fault_timeout))
        # A pause shorter than the broker session timeout (6 s here) may end before the
        # controller fences the broker: then the leadership never moves (None).
        moved = asyncio.create_task(until("new leader", lambda: self.new_leader(node_id), self.plan.pause))
        try:
            await asyncio.sleep(self.plan.pause)  # the pause itself
        finally:
            await asyncio.to_thread(node.resume)
        t1 = time.monotonic()
        try:
            rec["leader_s"] = await moved
        except TimeoutError:
            rec["leader_s"] = None
        rec["flow_s"] = await flow  # from the SIGSTOP: the pipeline moves again, in or after the pause
        rec["isr_full_after_resume_s"] = await until("ISR full", self.isr_full, self.plan.fault_timeout)
        rec["flow_after_resume_s"] = await until("flow", lambda: self.flowing(t1), self.plan.fault_timeout)
        self.record(rec)

    async def kill_instance(self, service: str) -> None:
        """SIGKILL the second instance in the middle of a batch: once referrals are being
        decided (routing) or recorded (outcomes), i.e. the flow moves."""
        proc = self.run.extra[service]
        t_probe = time.monotonic() - 1.0
        await until(f"{service} busy", lambda: self.flowing(t_probe), 60, every=0.05)
        os.kill(proc.pid, signal.SIGKILL)
        t0 = time.monotonic()
        await asyncio.to_thread(proc.wait)
        rec = {"fault": f"kill -9 the second {service} instance (mid-batch)"}
        rec["flow_s"] = await until("flow", lambda: self.flowing(t0), self.plan.fault_timeout)
        self.record(rec)

    async def schedule(self) -> None:
        await until("load flowing", lambda: self.flowing(0.0), 120)
        round_no = 0
        while True:
            started = time.monotonic()
            round_no += 1
            await self.kill_leader(round_no)
            if round_no == self.plan.pause_after:
                await self.pause_leader()
            if self.plan.kills and round_no >= self.plan.kills:
                return
            if not self.plan.kills and self.load.offered >= self.plan.referrals:
                return
            await asyncio.sleep(max(0.0, started + self.plan.kill_interval - time.monotonic()))


# --- what both runs are checked for ------------------------------------------------------------------


async def settled(run: Run, load: Load, timeout: float) -> dict[str, Any]:
    """Wait until every accepted referral is decided in the ledger; check it is all there once."""
    assert not load.unexpected, load.unexpected[:5]
    assert len(load.accepted) == load.offered, (len(load.accepted), load.offered)
    await delivery.wait_outboxes_drained(run.database_url, timeout=timeout)
    ids = {rid for rid, _ in load.accepted.values()}
    conn = await asyncpg.connect(run.database_url)
    try:

        async def decided() -> bool:
            n = await conn.fetchval(
                "SELECT count(DISTINCT referral_id) FROM outcomes.ledger WHERE event_type = ANY($1::text[])",
                list(DECISIONS),
            )
            return n >= len(ids)

        await until("every referral decided in the ledger", decided, timeout, every=0.5)
        in_intake = await conn.fetch(
            "SELECT external_id, count(*) AS n FROM intake.referrals WHERE external_id LIKE 'fs-%' GROUP BY 1"
        )
        twice_in_ledger = await conn.fetchval(
            "SELECT count(*) FROM (SELECT referral_id, event_type FROM outcomes.ledger WHERE referral_id IS NOT NULL"
            " GROUP BY 1, 2 HAVING count(*) > 1) AS d"
        )
        routed = await conn.fetchval(
            "SELECT count(*) FROM outcomes.ledger WHERE event_type = $1", events.ReferralRoutedV1.event_type
        )
        in_gateway = await conn.fetch("SELECT referral_id, count(*) AS n FROM employer_gateway.referrals GROUP BY 1")
        ledger_events = await conn.fetchval("SELECT count(*) FROM outcomes.ledger")
    finally:
        await conn.close()
    return {
        "referrals": load.offered,
        "lost": load.offered - len(in_intake),
        "created_twice": sum(1 for r in in_intake if r["n"] > 1),
        "ledger_events": ledger_events,
        "duplicated_in_ledger": twice_in_ledger,
        "routed": routed,
        "in_gateway": len(in_gateway),
        "twice_in_gateway": sum(1 for r in in_gateway if r["n"] > 1),
        "answers": dict(load.answers),
    }


async def outcome_digest(database_url: str) -> str:
    """sha256 of outcomes' projections as two runs of the same input must agree on them."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT i.external_id, f.status, f.facts, f.stages, f.attempt, f.exit, f.anomalies, f.employer_id,"
            " (SELECT jsonb_object_agg(t, n) FROM (SELECT event_type AS t, count(*) AS n FROM outcomes.ledger l"
            "   WHERE l.referral_id = f.referral_id GROUP BY 1) AS c)::text AS events"
            " FROM outcomes.referral_facts f JOIN intake.referrals i USING (referral_id)"
            " WHERE i.external_id LIKE 'fs-%' ORDER BY i.external_id"
        )
    finally:
        await conn.close()
    digest = hashlib.sha256()
    for r in rows:
        doc = {
            **dict(r),
            "facts": sorted(r["facts"]),
            "anomalies": sorted(r["anomalies"] or []),
            "events": json.loads(r["events"]),
        }
        digest.update(json.dumps(doc, sort_keys=True, default=str).encode() + b"\n")
    return digest.hexdigest()


# --- the two runs ---------------------------------------------------------------------------------


def cluster_ports() -> list[tuple[int, int]]:
    return [(free_port(), free_port()) for _ in range(3)]


async def faulted_run(home: Path, plan: Plan, timeout: float) -> tuple[dict[str, Any], int]:
    cfg = isolated_network(home)
    cluster = LocalKafkaCluster(home / "cluster", cluster_ports())
    t0 = time.monotonic()
    await asyncio.to_thread(cluster.start)
    security = cluster.admin_security
    os.environ.update({"KAFKA_BOOTSTRAP_SERVERS": cluster.bootstrap, **security.env()})
    os.environ["TALENTLOOP_TOPIC_PARTITIONS"] = str(plan.partitions)
    # Production's topic settings (deploy/topics.py), stated rather than defaulted: three
    # replicas, two in sync for a write; the services inherit them.
    policy = TopicPolicy(replication_factor=3, min_insync_replicas=2)
    os.environ.update(policy.env())
    await create_topics(cluster.bootstrap, network.topic_specs(), security=security, policy=policy)
    cluster_s = round(time.monotonic() - t0, 1)
    net = await asyncio.to_thread(start_network, cfg, plan.partitions)
    run = Run(cfg, net)
    for service in TWICE:
        run.extra[service] = await asyncio.to_thread(start_second, run, service)
    async with httpx.AsyncClient(timeout=15.0) as http:
        api = Api(net, http)
        await open_openings(api, plan.referrals)
        before = await delivery.dead_letter_offsets(net.bootstrap)
        load = Load(api, plan)
        faults = Faults(run, cluster, load, plan)
        loading = asyncio.create_task(load.run())
        t_load = time.monotonic()
        try:
            await faults.schedule()
        finally:
            load.stopping.set()
            await loading
        load_s = round(time.monotonic() - t_load, 1)
        result = await settled(run, load, timeout)
        result["load_s"] = load_s
        result["dead_letters"] = await delivery.new_dead_letters(net.bootstrap, before)
    rebuilt, differ = await delivery.rebuilt_equals_live(
        net.bootstrap, run.database_url, "outcomes_rebuild_faults", workers=1
    )
    result.update(
        {
            "cluster_start_s": cluster_s,
            "recoveries": faults.recoveries,
            "rebuild_equals_live": rebuilt.equal,
            "rebuild_differs": differ,
            "rebuilt_events": rebuilt.events,
            "digest": await outcome_digest(run.database_url),
            "instances_killed": {s: p.poll() for s, p in run.extra.items()},
        }
    )
    return result, load.offered


async def clean_run(home: Path, plan: Plan, referrals: int, timeout: float) -> dict[str, Any]:
    for name in (
        "KAFKA_BOOTSTRAP_SERVERS",
        "KAFKA_SECURITY_PROTOCOL",
        "KAFKA_SASL_MECHANISM",
        "KAFKA_SASL_USERNAME",
        "KAFKA_SASL_PASSWORD",
    ):
        os.environ.pop(name, None)
    cfg = isolated_network(home)
    net = await asyncio.to_thread(start_network, cfg, plan.partitions)
    run = Run(cfg, net)
    async with httpx.AsyncClient(timeout=15.0) as http:
        api = Api(net, http)
        await open_openings(api, plan.referrals)
        load = Load(api, plan, limit=referrals)
        t0 = time.monotonic()
        await load.run()
        result = await settled(run, load, timeout)
        result["load_s"] = round(time.monotonic() - t0, 1)
    result["digest"] = await outcome_digest(run.database_url)
    return result


def discard(home: Path) -> None:
    """Stop whatever a run under `home` started (services, second instances, brokers, PostgreSQL)."""
    for sub in ("faulted", "clean"):
        where = home / sub
        if not where.exists():
            continue
        cfg = NetworkConfig.load(where)
        for service in cfg.services():
            launcher.stop(service)
        for pid_file in where.glob("*-2.pid"):
            pid = read_pid(pid_file)
            if pid_alive(pid) and "services." in " ".join(cmdline(pid or 0)):
                terminate(pid or 0, 20)
            pid_file.unlink(missing_ok=True)
        if (where / "cluster").exists():
            LocalKafkaCluster(where / "cluster", [(0, 0)] * 3).discard()
        cfg.stack().discard()


def check(result: dict[str, Any]) -> list[str]:
    """What went wrong, if anything."""
    f, c = result["faulted"], result.get("clean", {})
    problems = []
    for name, r in (("faulted", f), ("clean", c)):
        for key in ("lost", "created_twice", "duplicated_in_ledger", "twice_in_gateway"):
            if r.get(key):
                problems.append(f"{name}: {key} = {r[key]}")
        if r and r["in_gateway"] != r["routed"]:
            problems.append(f"{name}: {r['routed']} routed but {r['in_gateway']} in the gateway")
        if r and r["routed"] != r["referrals"]:  # the openings were short: the runs cannot compare
            problems.append(f"{name}: {r['referrals'] - r['routed']} of {r['referrals']} not routed")
    if f["dead_letters"]:
        problems.append(f"dead letters: {f['dead_letters']}")
    if not f["rebuild_equals_live"]:
        problems.append(f"rebuild differs from live: {f['rebuild_differs']}")
    if c and f["digest"] != c["digest"]:
        problems.append("the faulted run's projections differ from the clean run's")
    return problems


async def main_async(args: argparse.Namespace, plan: Plan) -> dict[str, Any]:
    home = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="talentloop-faults-"))
    started = time.monotonic()
    result: dict[str, Any] = {"plan": asdict(plan), "machine": machine(), "home": str(home)}
    try:
        result["faulted"], n = await faulted_run(home / "faulted", plan, args.timeout)
        await asyncio.to_thread(discard, home)
        result["clean"] = await clean_run(home / "clean", plan, n, args.timeout)
    finally:
        await asyncio.to_thread(discard, home)
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)
    result["seconds"] = round(time.monotonic() - started, 1)
    result["problems"] = check(result)
    return result


def parse_args() -> tuple[argparse.Namespace, Plan]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--small", action="store_true", help="the CI size")
    for name, value in asdict(Plan()).items():
        p.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=None)
    p.add_argument("--home", help="state directory (default: a fresh temporary one)")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--timeout", type=float, default=600.0, help="seconds for the pipeline to settle")
    p.add_argument("--keep", action="store_true", help="keep the state directory (logs) afterwards")
    args = p.parse_args()
    base = SMALL if args.small else Plan()
    given = {k: getattr(args, k) for k in asdict(base) if getattr(args, k) is not None}
    return args, Plan(**{**asdict(base), **given})


def main() -> None:
    args, plan = parse_args()
    # aiokafka logs every refused connection to a killed broker as an error: expected here.
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    result = asyncio.run(main_async(args, plan))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, default=str) + "\n")
    print(json.dumps(result, indent=1, default=str))
    sys.exit(1 if result["problems"] else 0)


if __name__ == "__main__":
    main()
