"""Session fixtures: one real Kafka broker and one real PostgreSQL on free loopback ports.

Started with the same code as `talentloop up`, as local processes; with TALENTLOOP_TEST_INFRA=containers
as containers of the images `make images` builds (tests/support/containers.py). KAFKA_BOOTSTRAP_SERVERS
and DATABASE_URL, when set, point the tests at an existing broker and database instead.

The broker requires SASL/SCRAM and ACLs as `talentloop up` runs it: the test process acts as
its super-user (`network.use_admin_credentials` sets KAFKA_SASL_* in its environment, so every
client built with the default settings and every child process it starts logs in); tests that
need another principal take it from tests/kafka_helpers.py.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from deploy.stack import StackInfo
from deploy.topics import TopicSpec, create_topics
from plumbing import db
from talentloop import launcher, network
from talentloop.network import NetworkConfig, free_port
from tests.support import containers


@pytest.fixture(scope="session")
def network_config(tmp_path_factory: pytest.TempPathFactory) -> NetworkConfig:
    home: Path = tmp_path_factory.mktemp("talentloop-home")
    # TALENTLOOP_TEST_INFRA=containers: Kafka and PostgreSQL as containers of the images
    # `make images` builds, through testcontainers (tests/support/containers.py); else processes.
    config = containers.network_config_class()
    return config(
        home=home,
        kafka_port=free_port(),
        controller_port=free_port(),
        pg_port=free_port(),
        ports={name: free_port() for name in launcher.SERVICES},  # every process the network starts
    )


@pytest.fixture(scope="session")
def stack(network_config: NetworkConfig) -> Iterator[StackInfo]:
    info = network_config.stack().start()
    network.use_admin_credentials(network_config)
    asyncio.run(create_topics(info.bootstrap, network.topic_specs()))
    yield info
    network.discard(network_config)  # a session's stack: its data goes with its temporary directory


@pytest.fixture
async def pool(stack: StackInfo) -> AsyncIterator[asyncpg.Pool]:
    """A pool on a fresh schema with the plumbing tables, dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:10]}"
    pool = await db.create_pool(stack.database_url, schema)
    await db.migrate(pool)
    yield pool
    await pool.close()
    conn = await asyncpg.connect(stack.database_url)
    await conn.execute(f"DROP SCHEMA {schema} CASCADE")
    await conn.close()


@pytest.fixture
async def topic(stack: StackInfo) -> str:
    name = f"test.{uuid.uuid4().hex[:10]}"
    await create_topics(stack.bootstrap, [TopicSpec(name, partitions=1)])
    return name
