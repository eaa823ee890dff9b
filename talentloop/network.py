"""The whole local network: the stack (Kafka, PostgreSQL), its topics, and the four services."""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from contracts import topics
from deploy.stack import LocalStack
from deploy.topics import TopicSpec, create_topics
from plumbing.settings import DEFAULT_PORTS
from talentloop import credentials, launcher

CONSUMERS = ("intake", "routing", "employer_gateway", "outcomes")  # each has a dead-letter topic


def default_home() -> Path:
    return Path(os.environ.get("TALENTLOOP_HOME", Path.cwd() / ".talentloop")).resolve()


@dataclass
class NetworkConfig:
    home: Path = field(default_factory=default_home)
    kafka_port: int = 9092
    controller_port: int = 9093
    pg_port: int = 54329
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))

    @property
    def state_file(self) -> Path:
        return self.home / "network.json"

    def stack(self) -> LocalStack:
        return LocalStack(
            self.home, kafka_port=self.kafka_port, controller_port=self.controller_port, pg_port=self.pg_port
        )

    def services(self) -> list[launcher.ServiceProcess]:
        return launcher.processes(self.home, self.ports)

    def save(self, info: dict) -> None:
        doc = {"config": {**asdict(self), "home": str(self.home)}, **info}
        self.state_file.write_text(json.dumps(doc, indent=2))

    @classmethod
    def load(cls, home: Path | None = None) -> NetworkConfig:
        """The configuration the network at `home` was started with, else the defaults."""
        home = home or default_home()
        path = home / "network.json"
        if not path.exists():
            return cls(home=home)
        cfg = json.loads(path.read_text())["config"]
        return cls(
            home=Path(cfg["home"]),
            kafka_port=cfg["kafka_port"],
            controller_port=cfg["controller_port"],
            pg_port=cfg["pg_port"],
            ports={**DEFAULT_PORTS, **cfg["ports"]},  # a network.json from before the console has no port for it
        )


def topic_specs() -> list[TopicSpec]:
    """Every event topic with the partitions setting (TALENTLOOP_TOPIC_PARTITIONS) and every
    dead-letter topic with one partition (they are read by operators, not consumer groups);
    all with `max.message.bytes` at the producer's limit (deploy.topics.TopicSpec)."""
    specs = [TopicSpec(t.name, partitions=t.partitions) for t in topics.ALL]
    specs += [TopicSpec(topics.dead_letter_topic(c), partitions=1) for c in CONSUMERS]
    return specs


@dataclass
class Network:
    bootstrap: str
    database_url: str
    urls: dict[str, str]
    keys_file: Path  # the demo principals' plaintext keys (keys.json)
    timings: dict[str, float]


def up(cfg: NetworkConfig, only: tuple[str, ...] | None = None) -> Network:
    """Start the stack and the services (all, or `only` these, e.g. for a benchmark)."""
    cfg.home.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    stack = cfg.stack().start()
    t_stack = time.monotonic() - t0
    asyncio.run(create_topics(stack.bootstrap, topic_specs()))
    keys_file = credentials.ensure(cfg.home)
    asyncio.run(credentials.seed(stack.database_url, cfg.home))  # hashed, once; a later `up` changes nothing
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": stack.bootstrap,
        "DATABASE_URL": stack.database_url,
        "TALENTLOOP_PSEUDONYM_KEY": launcher.pseudonym_key(cfg.home),
        "TALENTLOOP_MASTER_KEY": launcher.master_key(cfg.home),
        # For the console: the services it asks for health, the funnel and reports.
        "TALENTLOOP_SERVICE_URLS": json.dumps({s.name: s.url for s in cfg.services()}),
    }
    services = [s for s in cfg.services() if only is None or s.name in only]
    for service in services:
        launcher.start(service, env)
    launcher.wait_healthy(services)
    network = Network(
        bootstrap=stack.bootstrap,
        database_url=stack.database_url,
        urls={s.name: s.url for s in services},
        keys_file=keys_file,
        timings={"stack_s": round(t_stack, 2), "total_s": round(time.monotonic() - t0, 2)},
    )
    cfg.save({"bootstrap": network.bootstrap, "database_url": network.database_url, "urls": network.urls})
    return network


def database_url(cfg: NetworkConfig) -> str:
    """The network's database: DATABASE_URL when set, else the local PostgreSQL of `cfg`."""
    return LocalStack.external_database() or cfg.stack().postgres.database_url


def bootstrap(cfg: NetworkConfig) -> str:
    """The network's Kafka: KAFKA_BOOTSTRAP_SERVERS when set, else the local broker of `cfg`."""
    return LocalStack.external_kafka() or cfg.stack().kafka.bootstrap


def down(cfg: NetworkConfig) -> None:
    for service in reversed(cfg.services()):
        launcher.stop(service)
    cfg.stack().stop()


def status(cfg: NetworkConfig) -> dict:
    return {
        "stack": cfg.stack().status(),
        "services": {
            s.name: {"url": s.url, "pid": s.pid(), "health": s.healthy(), "log": str(s.log_file)}
            for s in cfg.services()
        },
    }
