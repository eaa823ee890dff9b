"""The whole local network: the stack (Kafka, PostgreSQL), its topics, its Kafka principals and
ACLs, and the five services (and the console).

On the local broker every service runs as its own Kafka principal and every partner with a
Kafka adapter gets one that may only write its inbound topic (deploy/kafka_principals.py);
the `talentloop` tool itself acts as the super-user (`use_admin_credentials`). With
KAFKA_BOOTSTRAP_SERVERS set, the cluster's principals are the operator's business: every
process uses the KAFKA_SECURITY_PROTOCOL / KAFKA_SASL_* / KAFKA_SSL_* settings it is given.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from deploy import kafka_credentials, kafka_principals
from deploy.stack import LocalStack
from deploy.topics import TopicSpec, create_topics, network_specs
from plumbing.kafka import KafkaSecurity
from plumbing.settings import DEFAULT_PORTS
from talentloop import credentials, launcher

_PORTS_GIVEN: set[int] = set()


# Listening ports are chosen below the kernel's ephemeral range (32768-60999 on Linux): a port
# the kernel picked for `bind(0)` may be handed to a client's outgoing connection in the moment
# before the service binds it ("address already in use"); ports here never are.
LISTEN_PORTS = range(20_000, 32_768)
_PICK = random.SystemRandom()  # not the global generator, which tests may seed


def free_port() -> int:
    """A loopback port nothing listens on now, outside the ephemeral range, and never one this
    process was given before (a network's ports are chosen one after the other: a Kafka whose
    client and controller listeners got the same port would not start)."""
    while True:
        port = _PICK.choice(LISTEN_PORTS)
        if port in _PORTS_GIVEN:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue  # taken by a listener (another test run's) or a connection
        _PORTS_GIVEN.add(port)
        return port

CONSUMERS = ("intake", "routing", "employer_gateway", "outcomes", "support")  # each has a dead-letter topic


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
    """Every event topic and every consumer's dead-letter topic, with their partitions and
    retention (deploy.topics.network_specs)."""
    return network_specs(CONSUMERS)


def kafka_partners() -> list[str]:
    """Partners whose adapter reads a Kafka topic (`kafka: true`), from TALENTLOOP_ADAPTERS."""
    from plumbing.settings import Settings
    from services.intake import mapping

    return sorted({a.partner_id for a in mapping.load_all(Settings().adapters_dir).values() if a.kafka})


def kafka_training_partners() -> list[str]:
    """Training providers whose training adapter reads a Kafka topic (`record: training`, `kafka: true`)."""
    from plumbing.settings import Settings
    from services.intake import mapping

    adapters = mapping.load_all(Settings().adapters_dir).values()
    return sorted({a.partner_id for a in adapters if a.kafka and a.record == "training"})


def admin_security(cfg: NetworkConfig) -> KafkaSecurity:
    """How the `talentloop` tool reaches Kafka: the local broker's super-user, or the settings
    of this process when the broker is external."""
    if LocalStack.external_kafka():
        return KafkaSecurity.from_env()
    return cfg.stack().kafka.admin_security


def use_admin_credentials(cfg: NetworkConfig) -> KafkaSecurity:
    """Make this process's Kafka clients (those built with the settings' default security) act
    as the local broker's super-user, unless it has Kafka credentials of its own."""
    security = admin_security(cfg)
    if not LocalStack.external_kafka() and not os.environ.get("KAFKA_SASL_USERNAME"):
        os.environ.update(security.env())
    return security


def provision_principals(cfg: NetworkConfig, bootstrap: str) -> dict[str, KafkaSecurity]:
    """Create (once) the services' and Kafka partners' principals and their ACLs on the local
    broker; return each service's and partner's security (keyed by service name and
    `partner:<id>`). Nothing to do on an external broker."""
    if LocalStack.external_kafka():
        return {}
    partners = kafka_partners()
    acls = kafka_principals.network_acls(partners, kafka_training_partners())
    passwords = kafka_credentials.passwords(cfg.home, acls)
    asyncio.run(kafka_principals.provision(bootstrap, admin_security(cfg), passwords, acls))
    kafka = cfg.stack().kafka
    out = {s: kafka.security_for(kafka_credentials.service_user(s)) for s in kafka_principals.SERVICES}
    out.update({f"partner:{p}": kafka.security_for(kafka_credentials.partner_user(p)) for p in partners})
    return out


@dataclass
class Network:
    bootstrap: str
    database_url: str
    urls: dict[str, str]
    keys_file: Path  # the demo principals' plaintext keys (keys.json)
    timings: dict[str, float]
    # Each service's and Kafka partner's (`partner:<id>`) Kafka security on the local broker.
    kafka_principals: dict[str, KafkaSecurity] = field(default_factory=dict)
    clock_file: Path | None = None  # the simulated clock the services read (None: the system's)


# With a simulated clock the sweepers look every quarter second, so a demo's day is swept
# moments after the demo sets it (their defaults, a minute, suit real time).
CLOCK_SWEEP_S = "0.25"


def service_env(cfg: NetworkConfig, bootstrap: str, database_url: str) -> dict[str, str]:
    """What every service process of the network is started with, beside its own Kafka
    principal's settings and a clock (`up`; a test's or a benchmark's extra instances)."""
    return {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "DATABASE_URL": database_url,
        "TALENTLOOP_PSEUDONYM_KEY": launcher.pseudonym_key(cfg.home),
        "TALENTLOOP_MASTER_KEY": launcher.master_key(cfg.home),
        # For the console: the services it asks for health, the funnel and reports.
        "TALENTLOOP_SERVICE_URLS": json.dumps({s.name: s.url for s in cfg.services()}),
    }


def clock_env(clock_file: Path | None) -> dict[str, str]:
    """What the services get for a simulated clock (plumbing/clock.py): the file, and sweepers
    that keep up with it (unless TALENTLOOP_*_SWEEP_S say otherwise)."""
    if clock_file is None:
        return {}
    env = {"TALENTLOOP_CLOCK_FILE": str(clock_file)}
    for name in ("TALENTLOOP_STALE_SWEEP_S", "TALENTLOOP_REROUTE_SWEEP_S"):
        env[name] = os.environ.get(name, CLOCK_SWEEP_S)
    return env


def _clock_of(service: launcher.ServiceProcess) -> str | None:
    health = service.healthy()
    return None if health is None else health.get("clock")


def up(cfg: NetworkConfig, only: tuple[str, ...] | None = None, clock_file: Path | None = None) -> Network:
    """Start the stack and the services (all, or `only` these, e.g. for a benchmark).

    `clock_file`: the services run on the simulated clock of that file (TALENTLOOP_CLOCK_FILE;
    no file: the system clock). A service already running without it is restarted with it,
    so a demo never drives a network whose clock it cannot set."""
    cfg.home.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    stack = cfg.stack().start()
    t_stack = time.monotonic() - t0
    use_admin_credentials(cfg)
    asyncio.run(create_topics(stack.bootstrap, topic_specs()))
    principals = provision_principals(cfg, stack.bootstrap)
    keys_file = credentials.ensure(cfg.home)
    asyncio.run(credentials.seed(stack.database_url, cfg.home))  # hashed, once; a later `up` changes nothing
    env = {**service_env(cfg, stack.bootstrap, stack.database_url), **clock_env(clock_file)}
    services = [s for s in cfg.services() if only is None or s.name in only]
    if clock_file is not None:
        for service in services:
            if service.name != "console" and service.pid() and not (_clock_of(service) or "").startswith("simulated"):
                launcher.stop(service)  # running on the system clock: start it again with the file
    for service in services:
        own = principals.get(service.name)
        launcher.start(service, {**env, **own.env()} if own else env)
    launcher.wait_healthy(services)
    network = Network(
        bootstrap=stack.bootstrap,
        database_url=stack.database_url,
        urls={s.name: s.url for s in services},
        keys_file=keys_file,
        timings={"stack_s": round(t_stack, 2), "total_s": round(time.monotonic() - t0, 2)},
        kafka_principals=principals,
        clock_file=clock_file,
    )
    cfg.save({"bootstrap": network.bootstrap, "database_url": network.database_url, "urls": network.urls,
              "clock_file": str(clock_file) if clock_file else None})
    return network


def database_url(cfg: NetworkConfig) -> str:
    """The network's database: DATABASE_URL when set, else the local PostgreSQL of `cfg`."""
    return LocalStack.external_database() or cfg.stack().postgres.database_url


def bootstrap(cfg: NetworkConfig) -> str:
    """The network's Kafka: KAFKA_BOOTSTRAP_SERVERS when set, else the local broker of `cfg`,
    which this process then reaches as the super-user (`use_admin_credentials`)."""
    use_admin_credentials(cfg)
    return LocalStack.external_kafka() or cfg.stack().kafka.bootstrap


def down(cfg: NetworkConfig) -> None:
    for service in reversed(cfg.services()):
        launcher.stop(service)
    cfg.stack().stop()


def discard(cfg: NetworkConfig) -> None:
    """`down` for a network made for one run (a benchmark's, a test session's), whose data nobody
    reads again: the services stop as usual, then Kafka and PostgreSQL are killed and their data
    deleted (deploy/stack.py's `discard`), which saves the seconds of flushing and checkpointing
    a clean shutdown spends on it."""
    for service in reversed(cfg.services()):
        launcher.stop(service)
    cfg.stack().discard()


def status(cfg: NetworkConfig) -> dict:
    return {
        "stack": cfg.stack().status(),
        "services": {
            s.name: {"url": s.url, "pid": s.pid(), "health": s.healthy(), "log": str(s.log_file)}
            for s in cfg.services()
        },
    }
