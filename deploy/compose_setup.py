"""The compose deployment's setup job (deploy/docker-compose.yml, service `setup`), run before any service.

1. Topics: every topic of `talentloop.network.topic_specs()` (the code's partition counts and
   configs), created if missing (existing ones are left as they are).
2. Kafka principals and ACLs (`deploy.kafka_principals.main`: passwords from TALENTLOOP_KAFKA_PASSWORDS).
3. API keys: the demo principals' keys created once in TALENTLOOP_HOME/keys.json (a volume;
   mode 0600) and their hashes stored in DATABASE_URL; a later run changes nothing.

As the broker's super-user (KAFKA_SASL_* of this container). Every step is idempotent, so the
job runs on every `up`; it waits for Kafka and PostgreSQL up to TALENTLOOP_SETUP_TIMEOUT_S (120).
"""

from __future__ import annotations

import asyncio
import os

from deploy import kafka_principals
from deploy.topics import create_topics
from plumbing.kafka import KafkaSecurity
from plumbing.settings import Settings
from talentloop import credentials, network
from talentloop.waiting import until


async def _topics(settings: Settings, timeout: float) -> int:
    specs = network.topic_specs()

    async def created() -> bool | None:
        try:
            await create_topics(settings.kafka_bootstrap_servers, specs, security=KafkaSecurity.from_settings(settings))
        except Exception as exc:  # the broker not ready yet (a login before its metadata knows the user)
            print(f"topics: not yet ({exc!r})")
            return None
        return True

    await until("the topics to be created", created, timeout=timeout, every=1.0)
    return len(specs)


def main() -> None:
    settings = Settings()
    timeout = float(os.environ.get("TALENTLOOP_SETUP_TIMEOUT_S", "120"))
    print(f"topics: {asyncio.run(_topics(settings, timeout))}")
    kafka_principals.main()
    home = network.default_home()
    path = credentials.ensure(home)
    added = asyncio.run(credentials.seed(settings.database_url, home))
    print(f"API keys: {path} ({added} new hashes in the database)")


if __name__ == "__main__":
    main()
