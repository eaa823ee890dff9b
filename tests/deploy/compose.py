"""deploy/docker-compose.yml run by a test: its own project, ports, passwords and clock.

The demo plays its year on a simulated clock (plumbing/clock.py), which a service accepts only
when its broker and database are on loopback: a clock anyone may set is no clock for shared
data. So the test runs the compose file with one change of topology, made here and nowhere
else: every container joins the network namespace of one `net` container (as the containers of
a Kubernetes pod do), which publishes every port on 127.0.0.1, and the services reach Kafka,
PostgreSQL and each other at 127.0.0.1 instead of by service name. Images, commands, the setup
job, healthchecks, volumes, settings and dependencies are the file's own.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from deploy.images.build import ImageNames, docker

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "deploy" / "docker-compose.yml"
SERVICE_PORTS = {
    "intake": 8001,
    "routing": 8002,
    "employer-gateway": 8003,
    "outcomes": 8004,
    "console": 8005,
    "support": 8006,
    "portal": 8007,
}
PORT_VARIABLES = {
    "kafka": "KAFKA_PORT",
    "postgres": "POSTGRES_PORT",
    "intake": "INTAKE_PORT",
    "routing": "ROUTING_PORT",
    "employer-gateway": "GATEWAY_PORT",
    "outcomes": "OUTCOMES_PORT",
    "console": "CONSOLE_PORT",
    "support": "SUPPORT_PORT",
    "portal": "PORTAL_PORT",
}
SECRETS = (
    "POSTGRES_PASSWORD",
    "KAFKA_ADMIN_PASSWORD",
    "KAFKA_CONTROLLER_PASSWORD",
    "KAFKA_INTAKE_PASSWORD",
    "KAFKA_ROUTING_PASSWORD",
    "KAFKA_GATEWAY_PASSWORD",
    "KAFKA_OUTCOMES_PASSWORD",
    "KAFKA_SUPPORT_PASSWORD",
    "KAFKA_CONSOLE_PASSWORD",
    "KAFKA_FORGE_PASSWORD",
)
CLOCK_DIR = "/var/lib/talentloop-clock"
_BY_NAME = re.compile(r"\b(kafka|postgres|intake|routing|employer-gateway|outcomes|support|console|portal):(\d+)")


def compose_command() -> list[str] | None:
    """docker-compose (Debian's 1.29) or the Compose plugin (`docker compose`), whichever is here."""
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    found = subprocess.run([docker(), "compose", "version"], capture_output=True, check=False)
    return [docker(), "compose"] if found.returncode == 0 else None


def on_loopback(doc: dict[str, Any], clock_dir: Path) -> dict[str, Any]:
    """The compose document with every container in the `net` container's network namespace
    (see the module's docstring) and the clock folder mounted into every service."""
    services = doc["services"]
    app_image = services["setup"]["image"]
    ports = [p for s in services.values() for p in s.pop("ports", [])]
    for name, service in services.items():
        service["network_mode"] = "service:net"
        env = service.get("environment") or {}
        for key, value in env.items():
            if isinstance(value, str):
                env[key] = _BY_NAME.sub(r"127.0.0.1:\2", value)
        if name == "kafka":
            env["KAFKA_INTERNAL_HOST"] = "127.0.0.1"
        if name in SERVICE_PORTS:
            env["TALENTLOOP_CLOCK_FILE"] = f"{CLOCK_DIR}/clock"
            service.setdefault("volumes", []).append(f"{clock_dir}:{CLOCK_DIR}:ro")
    services["net"] = {
        "image": app_image,
        "command": ["sleep", "infinity"],
        "stop_signal": "SIGKILL",
        "healthcheck": {"disable": True},
        "ports": ports,
    }
    return doc


class Compose:
    """One project of the compose file: `up`, the services' URLs and keys, restarts, `down -v`."""

    def __init__(self, project: str, workdir: Path, images: ImageNames, free_port: Any) -> None:
        command = compose_command()
        assert command is not None
        self.project, self.workdir = project, workdir
        self.ports = {name: free_port() for name in PORT_VARIABLES}
        self.env = {
            **images.env(),
            **{v: str(self.ports[n]) for n, v in PORT_VARIABLES.items()},
            "TALENTLOOP_PSEUDONYM_KEY": secrets.token_hex(32),
            "TALENTLOOP_MASTER_KEY": secrets.token_urlsafe(32),
            **{name: secrets.token_hex(24) for name in SECRETS},
            # The demo's simulated days: sweepers that keep up with them (talentloop.network.clock_env).
            "TALENTLOOP_STALE_SWEEP_S": "0.25",
            "TALENTLOOP_REROUTE_SWEEP_S": "0.25",
            "TALENTLOOP_KEY_CACHE_S": "1",
        }
        self.clock_dir = workdir / "clock"
        self.clock_dir.mkdir(mode=0o755)
        self.clock_dir.chmod(0o755)  # the services run as another user
        env_file = workdir / "compose.env"
        env_file.write_text("".join(f"{k}={v}\n" for k, v in self.env.items()))
        env_file.chmod(0o600)
        doc = on_loopback(yaml.safe_load(COMPOSE_FILE.read_text()), self.clock_dir)
        self.file = workdir / "docker-compose.yml"
        self.file.write_text(yaml.safe_dump(doc, sort_keys=False))
        self.base = [
            *command,
            "--project-name",
            project,
            "--project-directory",
            str(COMPOSE_FILE.parent),
            "--env-file",
            str(env_file),
            "-f",
            str(self.file),
        ]

    def run(self, *args: str, timeout: float = 300) -> str:
        result = subprocess.run(
            [*self.base, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**_host_env(), **self.env},
            check=False,
        )
        if result.returncode != 0:
            raise AssertionError(
                f"compose {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr[-4000:]}"
            )
        return result.stdout

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.ports['kafka']}"

    @property
    def urls(self) -> dict[str, str]:
        return {name.replace("-", "_"): f"http://127.0.0.1:{self.ports[name]}" for name in SERVICE_PORTS}

    def keys(self) -> dict[str, str]:
        """The demo principals' plaintext keys the setup job stored in the `keys` volume."""
        doc = json.loads(self.run("run", "--rm", "--no-deps", "setup", "cat", "/var/lib/talentloop/keys.json"))
        return {f"{e['kind']}:{e['id']}": e["key"] for e in doc}

    def healthy(self) -> set[str]:
        """The services whose running container's healthcheck passes, in one `docker ps` (the
        engine's own client: docker-compose 1.29 is a Python program, and asking it each service's
        container every half second kept a core busy while the containers were starting)."""
        out = subprocess.run(
            [
                docker(),
                "ps",
                "--filter",
                f"label=com.docker.compose.project={self.project}",
                "--filter",
                "label=com.docker.compose.oneoff=False",
                "--format",
                '{{.Label "com.docker.compose.service"}}\t{{.Status}}',
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        rows = (line.split("\t", 1) for line in out.stdout.splitlines() if "\t" in line)
        return {service for service, status in rows if status.endswith("(healthy)")}

    def wait_healthy(self, services: list[str], timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while waiting := sorted(set(services) - self.healthy()):
            if time.monotonic() > deadline:
                logs = self.run("logs", "--tail", "40", *waiting)
                raise AssertionError(f"not healthy after {timeout:.0f} s: {waiting}\n{logs[-6000:]}")
            time.sleep(0.5)

    def all_services(self) -> list[str]:
        return ["kafka", "postgres", *SERVICE_PORTS]

    def up(self) -> None:
        try:
            self.run("up", "-d", timeout=600)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.run('logs', '--tail', '30')[-8000:]}") from None
        self.wait_healthy(self.all_services())

    def recreate(self, service: str) -> None:
        """A new container for `service` (its volumes kept), started once it is built: what is
        not on a volume is gone."""
        self.run("up", "-d", "--no-deps", "--force-recreate", "--timeout", "60", service)
        self.wait_healthy([service])

    def restart(self, service: str) -> None:
        self.run("restart", service)
        self.wait_healthy([service])

    def down(self) -> None:
        self.run("down", "-v", "--remove-orphans", "--timeout", "5")


def _host_env() -> Mapping[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "DOCKER_HOST", "LANG")}


@contextmanager
def running(project: str, workdir: Path, images: ImageNames, free_port: Any) -> Iterator[Compose]:
    compose = Compose(project, workdir, images, free_port)
    try:
        compose.up()
        yield compose
    finally:
        compose.down()
