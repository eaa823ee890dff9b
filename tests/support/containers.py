"""The session's Kafka and PostgreSQL as containers (TALENTLOOP_TEST_INFRA=containers), through testcontainers.

The images are the ones `make images` builds (deploy/images; names from the same variables).
Only the two servers change: `ContainerNetworkConfig.stack()` is a LocalStack whose Kafka and
PostgreSQL are containers on the loopback ports the local processes would take, with the same
settings (the broker's SASL/SCRAM listeners, authorizer and super-user with the passwords of the
state directory; the database `talentloop` of user `postgres` without a password), so
`talentloop.network` provisions principals, creates topics and starts the services exactly as
on the local processes, and the tests cannot tell the two apart but by how fast they start.

testcontainers' reaper (Ryuk) is an image from a registry; without one it is disabled and the
session's teardown removes the containers (`discard`), as it stops the local processes.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
import uuid
from pathlib import Path

from deploy import kafka_credentials
from deploy.kafka_local import LocalKafka, LocalKafkaError
from deploy.kafka_principals import wait_for_login
from deploy.postgres_local import WAL_SETTINGS, LocalPostgres, LocalPostgresError
from deploy.stack import LocalStack
from talentloop.network import NetworkConfig

INFRA_ENV = "TALENTLOOP_TEST_INFRA"


def infra() -> str:
    """`processes` (the default, fastest) or `containers`."""
    mode = os.environ.get(INFRA_ENV, "").strip() or "processes"
    if mode not in ("processes", "containers"):
        raise ValueError(f"{INFRA_ENV} must be `processes` or `containers`, not {mode!r}")
    return mode


def docker_prefix() -> str:
    """Every container, network and volume a test creates is named with this prefix
    (TALENTLOOP_TEST_DOCKER_PREFIX, default `talentloop-test`), so none is mistaken for another's."""
    return os.environ.get("TALENTLOOP_TEST_DOCKER_PREFIX") or "talentloop-test"


def docker_unusable() -> str | None:
    """Why containers cannot run here, or None."""
    from deploy.images.build import docker

    try:
        info = subprocess.run([docker(), "info"], capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"no Docker client ({exc}); `make docker` installs it as root"
    return None if info.returncode == 0 else "the Docker engine does not answer; `make docker` starts it as root"


def _container(image: str, name: str):  # type: ignore[no-untyped-def]
    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")  # read when testcontainers is first used
    from testcontainers.core.container import DockerContainer

    return DockerContainer(image).with_name(f"{docker_prefix()}-{name}-{uuid.uuid4().hex[:6]}")


def _publish(container, port: int, on: int) -> None:  # type: ignore[no-untyped-def]
    # testcontainers' with_bind_ports binds every interface; docker-py takes (address, port).
    container.ports[f"{port}/tcp"] = ("127.0.0.1", on)


class ContainerKafka(LocalKafka):
    """LocalKafka's broker (its port, its state directory's passwords) in a container."""

    def __init__(self, state_dir: Path, port: int, controller_port: int, image: str) -> None:
        super().__init__(state_dir, port=port, controller_port=controller_port)
        self.image = image
        self.container = None

    def is_running(self) -> bool:
        return self.container is not None

    def start(self, timeout: float = 180) -> str:
        if self.container is not None:
            return self.bootstrap
        creds = kafka_credentials.passwords(self.state_dir, [kafka_credentials.ADMIN, kafka_credentials.CONTROLLER])
        container = _container(self.image, "kafka").with_envs(
            ADMIN_PASSWORD=creds[kafka_credentials.ADMIN],
            CONTROLLER_PASSWORD=creds[kafka_credentials.CONTROLLER],
            KAFKA_INTERNAL_HOST="127.0.0.1",
            KAFKA_EXTERNAL_ADVERTISED=self.bootstrap,
        )
        _publish(container, 9092, self.port)
        container.start()
        self.container = container
        try:
            asyncio.run(wait_for_login(self.bootstrap, self.admin_security, timeout))
        except Exception as exc:
            logs = container.get_wrapped_container().logs(tail=40).decode(errors="replace")
            self.discard()
            raise LocalKafkaError(f"the Kafka container did not take a login within {timeout:.0f} s:\n{logs}") from exc
        return self.bootstrap

    def stop(self, timeout: float = 30) -> None:
        self.discard()

    def discard(self) -> None:
        if self.container is not None:
            self.container.stop()
            self.container = None


class ContainerPostgres(LocalPostgres):
    """LocalPostgres's database (its port, user and database name, no password) in a container."""

    def __init__(self, state_dir: Path, port: int, image: str) -> None:
        super().__init__(state_dir, port=port)
        self.image = image
        self.container = None

    def is_running(self) -> bool:
        return self.container is not None

    def start(self, timeout: float = 120) -> str:
        if self.container is not None:
            return self.database_url
        container = _container(self.image, "postgres").with_envs(
            POSTGRES_HOST_AUTH_METHOD="trust", POSTGRES_USER=self.USER, POSTGRES_DB=self.DATABASE
        )
        container.with_command([arg for k, v in WAL_SETTINGS.items() for arg in ("-c", f"{k}={v}")])
        _publish(container, 5432, self.port)
        container.start()
        self.container = container
        try:
            asyncio.run(_connects(self.database_url, timeout))
        except Exception as exc:
            logs = container.get_wrapped_container().logs(tail=40).decode(errors="replace")
            self.discard()
            raise LocalPostgresError(
                f"the PostgreSQL container did not answer within {timeout:.0f} s:\n{logs}"
            ) from exc
        return self.database_url

    def stop(self, timeout: float = 30) -> None:
        self.discard()

    def discard(self, timeout: float = 30) -> None:
        if self.container is not None:
            self.container.stop()
            self.container = None


async def _connects(url: str, timeout: float) -> None:
    import asyncpg

    deadline = time.monotonic() + timeout
    while True:
        try:
            conn = await asyncpg.connect(url, timeout=5)
        except (OSError, asyncpg.PostgresError, asyncio.TimeoutError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)
        else:
            await conn.close()
            return


class ContainerStack(LocalStack):
    def __init__(self, cfg: NetworkConfig, kafka_image: str, postgres_image: str) -> None:
        super().__init__(cfg.home, kafka_port=cfg.kafka_port, controller_port=cfg.controller_port, pg_port=cfg.pg_port)
        self.kafka = ContainerKafka(self.state_dir, cfg.kafka_port, cfg.controller_port, kafka_image)
        self.postgres = ContainerPostgres(self.state_dir, cfg.pg_port, postgres_image)


def network_config_class() -> type[NetworkConfig]:
    """The session's NetworkConfig: the containers' (after building their images if missing:
    cache hits after `make images`) or the local processes'."""
    if infra() == "processes":
        return NetworkConfig
    reason = docker_unusable()
    if reason:
        raise RuntimeError(f"{INFRA_ENV}=containers, but {reason}")
    from deploy.images.build import build_images

    build_images(("kafka", "postgres"), say=lambda _: None)
    return ContainerNetworkConfig


class ContainerNetworkConfig(NetworkConfig):
    """A NetworkConfig whose stack is the containers (one stack object for the session, so
    every `stack()` call sees the containers it started)."""

    _stack: ContainerStack | None = None

    def stack(self) -> LocalStack:
        if self._stack is None:
            from deploy.images.build import ImageNames

            names = ImageNames.from_env()
            self._stack = ContainerStack(self, names.kafka, names.postgres)
        return self._stack
