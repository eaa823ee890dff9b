"""Drives a demo network over the services' public HTTP APIs, as partners and employers would.

Three employers post six openings; three partners refer candidates, each its own way
through its adapter (deploy/adapters): a nonprofit and a college upload CSV exports, a
bootcamp fires webhooks and publishes to its Kafka topic. Some candidates lack required
skills; employers acknowledge or decline, interview, offer and place. A declined referral
is routed again to another employer (or waits unmatched), and the demo works those too,
round after round. It keeps its own tally of what it did, per referral, and then checks the
outcomes service's funnel against it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

from contracts.topics import partner_inbound
from plumbing.kafka import KafkaSecurity, client_options
from plumbing.settings import Settings
from talentloop import samples
from talentloop.credentials import EMPLOYERS, OPERATOR, PARTNERS
from talentloop.waiting import until

OPENINGS: dict[str, list[dict[str, Any]]] = {
    "civic-data-labs": [
        {"title": "Junior Data Analyst", "onet_soc_code": "15-2051.00", "required_skills": ["python", "sql"],
         "preferred_skills": ["pandas", "tableau"], "wage": 31.5},
        {"title": "Junior Web Developer", "onet_soc_code": "15-1254.00",
         "required_skills": ["javascript", "html", "css"], "preferred_skills": ["react", "git"], "wage": 33.0},
    ],
    "harborview-health": [
        {"title": "IT Support Specialist", "onet_soc_code": "15-1232.00",
         "required_skills": ["troubleshooting", "windows"], "preferred_skills": ["networking", "customer service"],
         "wage": 26.0},
        {"title": "Security Analyst Apprentice", "onet_soc_code": "15-1212.00", "required_skills": ["networking", "linux"],
         "preferred_skills": ["security+", "python"], "wage": 29.0},
    ],
    "bluewave-fintech": [
        {"title": "Junior Software Developer", "onet_soc_code": "15-1252.00", "required_skills": ["python", "git"],
         "preferred_skills": ["docker", "aws", "sql"], "wage": 38.0},
        {"title": "QA Analyst", "onet_soc_code": "15-1253.00", "required_skills": ["testing", "sql"],
         "preferred_skills": ["selenium", "python"], "wage": 30.0},
    ],
}

# Each partner trains for some tracks; a candidate gets a track's skills plus extras.
TRACKS: dict[str, list[list[str]]] = {
    "northside-tech-collective": [["troubleshooting", "windows", "customer service"], ["testing", "sql", "excel"]],
    "riverbend-community-college": [["networking", "linux", "security+"], ["python", "sql", "pandas"]],
    "forge-coding-bootcamp": [["javascript", "html", "css", "react"], ["python", "git", "docker"]],
}
EXTRAS = ["git", "excel", "aws", "tableau", "selenium", "python", "sql", "communication"]


@dataclass
class Tally:
    """What the demo did, counted the way the funnel counts: a stage once per referral,
    whichever employer it was reached at, and the exit the referral ends in."""

    referred: Counter[str] = field(default_factory=Counter)  # partner -> referrals
    partner_of: dict[str, str] = field(default_factory=dict)
    reached: dict[str, set[str]] = field(default_factory=dict)  # referral -> stages
    exits: dict[str, str] = field(default_factory=dict)  # referral routed once -> unmatched | declined
    unmatched_at_first: int = 0  # never routed (the demo never sees their ids)

    def add(self, referral_id: str, partner: str, stage: str) -> None:
        self.partner_of[referral_id] = partner
        self.reached.setdefault(referral_id, set()).add(stage)

    def exit(self, referral_id: str, stage: str | None) -> None:
        if stage is None:
            self.exits.pop(referral_id, None)
        else:
            self.exits[referral_id] = stage

    @property
    def counts(self) -> Counter[str]:
        out = Counter({"referred": sum(self.referred.values())})
        for stages in self.reached.values():
            out.update(stages)
        out.update(self.exits.values())
        out["unmatched"] += self.unmatched_at_first
        return out


@dataclass
class DemoResult:
    tally: Tally
    funnel: dict[str, Any]
    seconds: float
    matches: bool


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def candidate(rng: random.Random, partner: str, n: int, run_id: str) -> samples.Person:
    """A made-up person with one of the partner's tracks; some lack a core skill."""
    skills = list(rng.choice(TRACKS[partner]))
    skills += rng.sample(EXTRAS, 2)
    if rng.random() < 0.2:
        skills.pop(rng.randrange(2))
    # No target occupation: routing may send them to any opening their skills fit.
    return dataclasses.replace(samples.person(n, run=run_id), skills=sorted(set(skills)), soc="")


async def refer_all(http: httpx.AsyncClient, urls: dict[str, str], keys: dict[str, str], bootstrap: str | None,
                    people: dict[str, list[samples.Person]], run_id: str,
                    kafka_security: KafkaSecurity | None = None) -> Counter[str]:
    """Each partner its own way: Northside and Riverbend upload CSV exports, Forge's CRM
    fires webhooks, and (when the broker is known) publishes the rest to its Kafka topic, as
    Forge's own Kafka principal when it is given (`kafka_security`)."""
    referred: Counter[str] = Counter()
    for partner, shape, columns in (("northside-tech-collective", samples.northside_row, samples.NORTHSIDE_COLUMNS),
                                    ("riverbend-community-college", samples.riverbend_row, samples.RIVERBEND_COLUMNS)):
        text = samples.csv_text(columns, [shape(p, run_id) for p in people[partner]])
        r = await http.post(f"{urls['intake']}/v1/imports", files={"file": (f"{partner}.csv", text.encode(), "text/csv")},
                            headers={**_auth(keys[f"partner:{partner}"]), "Idempotency-Key": f"demo-{run_id}-{partner}"})
        r.raise_for_status()
        referred[partner] += r.json()["accepted"]
    forge = "forge-coding-bootcamp"
    by_kafka = people[forge][1::2] if bootstrap else []
    by_webhook = [p for p in people[forge] if p not in by_kafka]

    async def webhook(p: samples.Person) -> None:
        r = await http.post(f"{urls['intake']}/v1/webhooks/referrals", json=samples.forge_payload(p, run_id),
                            headers={**_auth(keys[f"partner:{forge}"]), "Idempotency-Key": f"demo-{run_id}-{p.n}"})
        r.raise_for_status()
        referred[forge] += 1

    await asyncio.gather(*(webhook(p) for p in by_webhook))
    if by_kafka:
        producer = AIOKafkaProducer(**client_options(bootstrap, kafka_security), enable_idempotence=True)
        await producer.start()
        try:
            for p in by_kafka:
                await producer.send(partner_inbound(forge), json.dumps(samples.forge_payload(p, run_id)).encode(),
                                    key=f"{run_id}-{p.n}".encode())
            await producer.flush()
        finally:
            await producer.stop()
        referred[forge] += len(by_kafka)
    return referred


async def run(urls: dict[str, str], keys: dict[str, str], referrals: int = 100, seed: int = 7,
              bootstrap: str | None = None, kafka_security: KafkaSecurity | None = None) -> DemoResult:
    rng = random.Random(seed)
    run_id = uuid.uuid4().hex[:8]  # idempotency keys are per run: each run refers new people
    started = time.monotonic()
    tally = Tally()
    op = _auth(keys[f"operator:{OPERATOR}"])
    limits = httpx.Limits(max_connections=20)
    async with httpx.AsyncClient(timeout=30.0, limits=limits) as http:
        # 1. Employers post openings.
        opening_ids = []
        for employer, posts in OPENINGS.items():
            for post in posts:
                body = {**post, "capacity": 25, "location": "New York, NY", "remote": rng.random() < 0.3,
                        "wage": {"amount": str(post["wage"]), "unit": "hour"}}
                r = await http.post(f"{urls['employer_gateway']}/v1/openings", json=body,
                                    headers={**_auth(keys[f"employer:{employer}"]), "Idempotency-Key": f"demo-{run_id}-{post['title']}"})
                r.raise_for_status()
                opening_ids.append(r.json()["opening_id"])

        async def catalogue_ready():  # type: ignore[no-untyped-def]
            r = await http.get(f"{urls['routing']}/v1/openings", headers=op)
            known = {o["opening_id"] for o in r.json()}
            return True if set(opening_ids) <= known else None

        await until("routing to see every opening", catalogue_ready)

        # 2. Partners refer candidates, each through its own adapter.
        people: dict[str, list[samples.Person]] = {p: [] for p in PARTNERS}
        for n in range(referrals):
            partner = PARTNERS[n % len(PARTNERS)]
            people[partner].append(candidate(rng, partner, n, run_id))

        async def funnel():  # type: ignore[no-untyped-def]
            """The funnel's totals counted since the demo began (the ledger may hold earlier runs)."""
            r = await http.get(f"{urls['outcomes']}/v1/funnel", headers=op)
            r.raise_for_status()
            doc = r.json()
            doc["since_start"] = {s: n - baseline.get(s, 0) for s, n in doc["total"].items()}
            return doc

        baseline: dict[str, int] = {}
        baseline = (await funnel())["total"]
        tally.referred.update(await refer_all(http, urls, keys, bootstrap, people, run_id, kafka_security))

        async def all_decided():  # type: ignore[no-untyped-def]
            f = (await funnel())["since_start"]
            return f if f["referred"] == referrals and f["routed"] + f["unmatched"] == referrals else None

        await until("routing to decide every referral", all_decided)

        # 3. Employers work their inboxes.
        async def inbox(employer: str) -> list[dict]:
            items, after = [], None
            while True:
                params = {"limit": 100, "status": "routed", **({"after": after} if after else {})}
                r = await http.get(f"{urls['employer_gateway']}/v1/referrals", params=params,
                                   headers=_auth(keys[f"employer:{employer}"]))
                r.raise_for_status()
                page = r.json()
                items += page["items"]
                if page["next_after"] is None:
                    return items
                after = page["next_after"]

        routed_total = (await funnel())["since_start"]["routed"]

        async def inboxes_full():  # type: ignore[no-untyped-def]
            boxes = {e: await inbox(e) for e in EMPLOYERS}
            return boxes if sum(map(len, boxes.values())) == routed_total else None

        boxes = await until("the gateway to receive every routed referral", inboxes_full)
        work = [(employer, i) for employer, items in boxes.items() for i in items]
        for _, item in work:
            tally.add(item["referral_id"], item["partner_id"], "routed")
        tally.unmatched_at_first = referrals - routed_total
        while work:
            outcomes = await asyncio.gather(*(
                _work(http, urls, keys[f"employer:{employer}"], item, random.Random(f"{seed}-{item['referral_id']}"),
                      tally) for employer, item in work))
            # Declined ones are routed again (another employer, or they wait): work those next.
            again = [item for item, declined in zip((i for _, i in work), outcomes, strict=True) if declined]
            work = [w for w in await asyncio.gather(*(_rerouted(http, urls, keys, op, item, tally) for item in again))
                    if w is not None]

        # 4. Wait for the ledger to catch up, then compare.
        expected = tally.counts

        async def caught_up():  # type: ignore[no-untyped-def]
            f = await funnel()
            return f if all(f["since_start"][s] == expected[s] for s in f["since_start"]) else None

        try:
            final = await until("the ledger to record every step", caught_up, timeout=60.0)
            matches = True
        except TimeoutError:
            final, matches = await funnel(), False
    return DemoResult(tally, final, time.monotonic() - started, matches)


MAX_ROUTING_ATTEMPTS = Settings().max_routing_attempts


async def _rerouted(http: httpx.AsyncClient, urls: dict[str, str], keys: dict[str, str], op: dict[str, str],
                    item: dict, tally: Tally) -> tuple[str, dict] | None:
    """Routing's next decision on a declined referral: (employer, inbox item) when it was
    routed again, None when it waits unmatched or had no attempt left (then it stays declined)."""
    referral_id, attempt = item["referral_id"], item["attempt"]
    if attempt >= MAX_ROUTING_ATTEMPTS:
        return None

    async def decided():  # type: ignore[no-untyped-def]
        r = await http.get(f"{urls['outcomes']}/v1/referrals/{referral_id}/timeline", headers=op)
        r.raise_for_status()
        found = [e for e in r.json()["events"]
                 if e["type"].startswith(("referral.routed.", "referral.unmatched.")) and e["data"].get("attempt") == attempt + 1]
        return found[0] if found else None

    decision = await until(f"routing to decide {referral_id} again", decided)
    if decision["type"].startswith("referral.unmatched."):
        tally.exit(referral_id, "unmatched")
        return None
    employer = decision["data"]["employer_id"]

    async def in_inbox():  # type: ignore[no-untyped-def]
        r = await http.get(f"{urls['employer_gateway']}/v1/referrals/{referral_id}", headers=_auth(keys[f"employer:{employer}"]))
        return r.json() if r.status_code == 200 else None

    tally.exit(referral_id, None)
    return employer, await until(f"{referral_id} in {employer}'s inbox", in_inbox)


async def _work(http: httpx.AsyncClient, urls: dict[str, str], key: str, item: dict, rng: random.Random,
                tally: Tally) -> bool:
    """One employer's handling of one referral: decline, or acknowledge -> interview -> offer
    -> place (or decline after the interview). Returns whether it declined."""
    base = f"{urls['employer_gateway']}/v1/referrals/{item['referral_id']}"
    headers = _auth(key)
    referral_id, partner = item["referral_id"], item["partner_id"]

    async def post(path: str, body: dict | None = None) -> dict:
        r = await http.post(f"{base}{path}", json=body,
                            headers={**headers, "Idempotency-Key": f"{referral_id}-{key[-6:]}{path}"})
        r.raise_for_status()
        return r.json()

    async def decline(reason: str) -> bool:
        await post("/decline", {"reason": reason})
        tally.exit(referral_id, "declined")
        return True

    if rng.random() < 0.15:
        return await decline(rng.choice(["position_filled", "requirements_not_met", "no_capacity"]))
    await post("/acknowledge")
    tally.add(referral_id, partner, "acknowledged")
    if rng.random() < 0.3:
        return False  # still in review
    interview = await post("/interviews", {"scheduled_for": (datetime.now(UTC) + timedelta(days=3)).isoformat(),
                                           "mode": "video"})
    tally.add(referral_id, partner, "interviewed")
    advanced = rng.random() < 0.6
    await post(f"/interviews/{interview['interview_id']}/outcome", {"outcome": "advanced" if advanced else "not_selected"})
    if not advanced:
        return await decline("not_selected_after_interview")
    terms = {
        "job_title": "Junior Technologist", "onet_soc_code": "15-1252.00",
        "wage": {"amount": str(round(rng.uniform(24, 42), 2)), "unit": "hour"}, "hours_per_week": 40,
        "employment_type": rng.choice(["full_time", "full_time", "apprenticeship"]),
        "benefits": {"health": True, "retirement": rng.random() < 0.7, "paid_leave": True},
        "start_date": (date.today() + timedelta(days=14)).isoformat(),
    }
    await post("/offers", {**terms, "expires_on": (date.today() + timedelta(days=7)).isoformat()})
    tally.add(referral_id, partner, "offered")
    await post("/placement", terms)
    tally.add(referral_id, partner, "placed")
    tally.exit(referral_id, None)
    return False
