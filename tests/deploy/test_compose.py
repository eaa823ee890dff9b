"""deploy/docker-compose.yml brought up with the images `make images` builds, the demo driven through it.

Up (Kafka, PostgreSQL, the setup job, five services and the console, each healthy by its own
healthcheck); the topics the setup job made have the code's partition counts and configs. The
demo's program year (10 referrals, seed 79, as tests/e2e/test_demo_year.py) is played through it
while, a third and two thirds into the year, the Kafka container is replaced by a new one (its
data only on the volume) and the routing container is restarted: no stage of the operator's
funnel is lower just after each than just before, and at the end the ledger matches what the
demo did (nothing lost, nothing counted twice). Torn down with its volumes. The compose file's one change for the simulated clock:
tests/deploy/compose.py.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from deploy.images.build import ImageNames, build_images
from deploy.topics import TopicSpec
from plumbing.kafka import KafkaSecurity, client_options
from plumbing.operations import our_groups
from talentloop import credentials, demo, network
from tests.conftest import free_port
from tests.deploy.compose import Compose, compose_command, running
from tests.support.containers import docker_prefix, docker_unusable

pytestmark = pytest.mark.slow

REFERRALS, SEED = 10, 79


@pytest.fixture(scope="module")
def compose(tmp_path_factory: pytest.TempPathFactory):
    reason = docker_unusable() or (None if compose_command() else "neither docker-compose nor `docker compose`")
    if reason:
        pytest.skip(reason)
    names = ImageNames.from_env()
    build_images(names=names, say=lambda _: None)  # `make images` built them: cache hits
    project = f"{docker_prefix()}-compose-{uuid.uuid4().hex[:6]}"
    with running(project, tmp_path_factory.mktemp("compose"), names, free_port) as stack:
        yield stack


def admin_security(compose: Compose) -> KafkaSecurity:
    return KafkaSecurity(
        protocol="SASL_PLAINTEXT", username="talentloop-admin", password=compose.env["KAFKA_ADMIN_PASSWORD"]
    )


async def consumer_groups(compose: Compose) -> dict[str, tuple[str, ...]]:
    admin = AIOKafkaAdminClient(**client_options(compose.bootstrap, admin_security(compose)))
    await admin.start()
    try:
        return {g: topics for g, (_, topics, _, _) in (await our_groups(admin)).items()}
    finally:
        await admin.close()


class Faults:
    """The demo's lag reader, which also performs the faults while the year is under way: the demo
    asks for the lag whenever it waits for the network to settle (at least once a simulated day,
    and the year has 21), so fault i comes at ask `every * (i + 1)`, while the day's events are
    still being handled. Around each, the funnel as the operator reads it; after it, the lag is asked again (retried while a new broker comes back)."""

    def __init__(
        self,
        lag: Callable[[], Awaitable[int]],
        funnel: Callable[[], Awaitable[dict]],
        faults: list[tuple[str, Callable[[], None]]],
        every: int = 7,
    ) -> None:
        self.lag, self.funnel, self.faults, self.every = lag, funnel, list(faults), every
        self.asked = 0
        self.done: list[tuple[str, float, dict, dict]] = []  # name, seconds until healthy, funnel before, after

    async def __call__(self) -> int:
        self.asked += 1
        if self.faults and self.asked == self.every * (len(self.done) + 1):
            name, fault = self.faults.pop(0)
            before = await self.funnel()
            t0 = time.monotonic()
            await asyncio.to_thread(fault)
            self.done.append((name, round(time.monotonic() - t0, 1), before, await self.funnel()))
        deadline = time.monotonic() + 180
        while True:
            try:
                return await self.lag()
            except Exception:  # the admin client reconnecting to the new broker
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)


async def topic_settings(compose: Compose, wanted: dict[str, TopicSpec]) -> dict[str, tuple[int, dict[str, str]]]:
    """Each topic's partitions and the configs its spec sets, as the broker describes them."""
    admin = AIOKafkaAdminClient(**client_options(compose.bootstrap, admin_security(compose)))
    await admin.start()
    try:
        described = {t["topic"]: len(t["partitions"]) for t in await admin.describe_topics(list(wanted))}
        responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, n) for n in wanted])
    finally:
        await admin.close()
    configs = {r[3]: {e[0]: e[1] for e in r[4]} for response in responses for r in response.resources}
    return {n: (described[n], {k: configs[n][k] for k in spec.topic_configs()}) for n, spec in wanted.items()}


@pytest.mark.timeout(1200)  # 3.5-4.5 min here under load; more when the fixture must build the images first
async def test_the_compose_deployment_plays_the_demo_through_a_broker_and_a_service_restart(
    compose: Compose, tmp_path: Path
):
    specs = {s.name: s for s in network.topic_specs()}
    assert await topic_settings(compose, specs) == {n: (s.partitions, s.topic_configs()) for n, s in specs.items()}

    keys = compose.keys()
    operator = {"Authorization": f"Bearer {keys[f'operator:{credentials.OPERATOR}']}"}

    async def funnel() -> dict:
        async with httpx.AsyncClient(timeout=30) as http:
            answer = await http.get(f"{compose.urls['outcomes']}/v1/funnel", headers=operator)
        answer.raise_for_status()
        return answer.json()

    forge = KafkaSecurity(
        protocol="SASL_PLAINTEXT",
        username="partner-forge-coding-bootcamp",
        password=compose.env["KAFKA_FORGE_PASSWORD"],
    )
    faults = [
        ("kafka recreated", lambda: compose.recreate("kafka")),
        ("routing restarted", lambda: compose.restart("routing")),
    ]
    async with demo.LagReader(compose.bootstrap, await consumer_groups(compose), admin_security(compose)) as reader:
        lag = Faults(reader, funnel, faults)
        year = await demo.run(
            compose.urls,
            keys,
            REFERRALS,
            SEED,
            compose.bootstrap,
            forge,
            clock_file=compose.clock_dir / "clock",
            lag=lag,
            state_dir=tmp_path,
        )
    # Both faults mid-year (with events in flight), and no stage of the operator's funnel lower just
    # after each than just before it: nothing counted was lost.
    assert [name for name, *_ in lag.done] == ["kafka recreated", "routing restarted"]
    for name, _, before, after in lag.done:
        stages = before["total"]["referrals"]["stages"]
        assert all(after["total"]["referrals"]["stages"][s] >= n for s, n in stages.items()), name
    # The year's ledger is what the demo did: nothing lost, nothing counted twice.
    assert year.matches, (year.funnel["since_start"], year.tally.counts)
    referrals = year.funnel["since_start"]["referrals"]
    assert referrals["stages"]["referred"] == REFERRALS and referrals["stages"]["placed"] > 0
    assert sum(referrals["outcomes"].values()) == REFERRALS
    print(f"faults, seconds until healthy again: {[(n, s) for n, s, *_ in lag.done]}; the year: {year.seconds:.1f} s")
