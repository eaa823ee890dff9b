"""The local stack: Kafka + PostgreSQL as detached processes under one state directory.

`KAFKA_BOOTSTRAP_SERVERS` / `DATABASE_URL`, when set, replace the local broker / database:
nothing is started for them. This module prints nothing; the CLI does.
"""

from __future__ import annotations

import os
import socket
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from deploy.kafka_local import LocalKafka
from deploy.postgres_local import LocalPostgres
from deploy.processes import LocalServiceError
from deploy.topics import TopicPolicy

__all__ = ["LocalStack", "StackError", "StackInfo"]

KAFKA_ENV = "KAFKA_BOOTSTRAP_SERVERS"
DATABASE_ENV = "DATABASE_URL"


class StackError(LocalServiceError):
    """Starting the stack failed; `errors` holds the per-component exceptions."""

    def __init__(self, errors: dict[str, BaseException]) -> None:
        self.errors = errors
        super().__init__("\n\n".join(f"[{name}] {exc}" for name, exc in errors.items()))


@dataclass
class StackInfo:
    bootstrap: str
    database_url: str
    kafka_external: bool
    postgres_external: bool


def _reachable(host: str | None, port: int | None, timeout: float = 1.0) -> bool:
    if not host or not port:
        return False
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _kafka_reachable(bootstrap: str) -> bool:
    for server in bootstrap.split(","):
        server = server.strip().split("://")[-1]
        host, _, port = server.rpartition(":")
        if port.isdigit() and _reachable(host.strip("[]") or "127.0.0.1", int(port)):
            return True
    return False


def _database_reachable(url: str) -> bool:
    try:
        parts = urlsplit(url)
        port = parts.port or 5432
    except ValueError:
        return False
    socket_dir = parse_qs(parts.query).get("host", [""])[0]
    if socket_dir.startswith("/"):  # unix-socket URI, e.g. postgresql://postgres:@/db?host=/run/pg
        return Path(socket_dir, f".s.PGSQL.{port}").exists()
    return _reachable(parts.hostname or "localhost", port)


class LocalStack:
    def __init__(
        self,
        state_dir: Path,
        kafka_port: int = 9092,
        controller_port: int = 9093,
        pg_port: int = 54329,
    ) -> None:
        self.state_dir = Path(state_dir).expanduser().absolute()
        self.kafka = LocalKafka(self.state_dir, port=kafka_port, controller_port=controller_port)
        self.postgres = LocalPostgres(self.state_dir, port=pg_port)

    @staticmethod
    def external_kafka() -> str | None:
        return os.environ.get(KAFKA_ENV) or None

    @staticmethod
    def external_database() -> str | None:
        return os.environ.get(DATABASE_ENV) or None

    def start(self) -> StackInfo:
        """Start what is not external, concurrently; idempotent (running servers are reused).

        On failure, a component this call started is stopped again and StackError is raised.

        The local broker is the only one: this process and those it starts create topics with
        one replica (TopicPolicy.single_broker). An external cluster's topic settings are
        checked before anything starts (TopicSettingsError: one replica unless allowed).
        """
        ext_kafka, ext_db = self.external_kafka(), self.external_database()
        if ext_kafka is None:
            os.environ.update(TopicPolicy.single_broker().env())
        else:
            TopicPolicy.from_env()
        jobs = {}
        if ext_kafka is None:
            jobs["kafka"] = self.kafka
        if ext_db is None:
            jobs["postgres"] = self.postgres
        was_running = {name: comp.is_running() for name, comp in jobs.items()}
        results: dict[str, str] = {}
        errors: dict[str, BaseException] = {}
        if jobs:
            with ThreadPoolExecutor(max_workers=len(jobs), thread_name_prefix="stack-start") as pool:
                futures = {name: pool.submit(comp.start) for name, comp in jobs.items()}
                for name, future in futures.items():
                    try:
                        results[name] = future.result()
                    except Exception as exc:
                        errors[name] = exc
        if errors:
            for name in results:
                if not was_running[name]:
                    jobs[name].stop()
            raise StackError(errors)
        return StackInfo(
            bootstrap=ext_kafka or results["kafka"],
            database_url=ext_db or results["postgres"],
            kafka_external=ext_kafka is not None,
            postgres_external=ext_db is not None,
        )

    def stop(self) -> None:
        """Stop the local Kafka and PostgreSQL of this state dir if running (never external ones)."""
        self._on_both("stop")

    def discard(self) -> None:
        """Kill the local Kafka and PostgreSQL of this state dir and delete their data, without
        the clean shutdowns that only data kept for later needs: for a stack made for one run
        (a benchmark's, a test session's). Never touches external ones."""
        self._on_both("discard")

    def _on_both(self, action: str) -> None:
        """`action` of Kafka and of PostgreSQL at the same time; raise what either raised."""
        errors: dict[str, BaseException] = {}
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix=f"stack-{action}") as pool:
            futures = {name: pool.submit(getattr(part, action)) for name, part in (("kafka", self.kafka), ("postgres", self.postgres))}
            for name, future in futures.items():
                try:
                    future.result()
                except Exception as exc:
                    errors[name] = exc
        if errors:
            raise StackError(errors)

    def status(self) -> dict[str, Any]:
        """A JSON-friendly snapshot: what is used, whether it runs/answers, pids and log files."""
        ext_kafka, ext_db = self.external_kafka(), self.external_database()
        kafka_pid, pg_pid = self.kafka.pid, self.postgres.pid
        return {
            "state_dir": str(self.state_dir),
            "kafka": {
                "external": ext_kafka is not None,
                "bootstrap": ext_kafka or self.kafka.bootstrap,
                "running": kafka_pid is not None,
                "reachable": _kafka_reachable(ext_kafka or self.kafka.bootstrap),
                "pid": kafka_pid,
                "log": str(self.kafka.log_file),
            },
            "postgres": {
                "external": ext_db is not None,
                "database_url": ext_db or self.postgres.database_url,
                "running": pg_pid is not None,
                "reachable": _database_reachable(ext_db or self.postgres.database_url),
                "pid": pg_pid,
                "log": str(self.postgres.log_file),
            },
        }
