"""Independent Kafka clients read TalentLoop's events: confluent-kafka (librdkafka) and kcat.

The events are CloudEvents 1.0 in structured mode, so a client that knows nothing of our
Python code base gets the whole event from the record value; the record key is the subject.
Both log in with SASL/SCRAM-SHA-512 as the local broker requires, with the librdkafka options
`KafkaSecurity.librdkafka` gives (kcat reads them from a properties file, `-F`).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import confluent_kafka
import pytest

from contracts import CONTENT_TYPE, Envelope, payload_of, topics
from tests.e2e.helpers import VERSIONS, Api, referral_body, unique
from tests.kafka_helpers import super_user

pytestmark = pytest.mark.e2e

TOPIC = topics.REFERRALS.name
TIMEOUT = 30.0


@pytest.fixture(scope="module")
async def referral_id(running_network, http) -> str:  # type: ignore[no-untyped-def]
    """One referral posted over HTTP, so talentloop.referrals holds at least one event of ours."""
    return await Api(running_network, http).refer("forge-coding-bootcamp", referral_body([unique("interop")]))


def record_versions(tmp_path_factory: pytest.TempPathFactory, **versions: str) -> None:
    VERSIONS.update(versions)
    path: Path = tmp_path_factory.getbasetemp() / "e2e-versions.txt"
    path.write_text("".join(f"{k}: {v}\n" for k, v in sorted(VERSIONS.items())))
    print(path.read_text())


def test_confluent_kafka_reads_our_events(running_network, referral_id: str,  # type: ignore[no-untyped-def]
                                          tmp_path_factory: pytest.TempPathFactory) -> None:
    lib, lib_hex = confluent_kafka.libversion()
    record_versions(tmp_path_factory, **{"confluent-kafka": confluent_kafka.__version__,
                                         "librdkafka (confluent-kafka)": f"{lib} (0x{lib_hex:08x})"})
    consumer = confluent_kafka.Consumer({
        "bootstrap.servers": running_network.bootstrap,
        "group.id": f"e2e-interop-{uuid.uuid4().hex}",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        **super_user().librdkafka(),
    })
    messages = []
    try:
        consumer.subscribe([TOPIC])
        deadline = time.monotonic() + TIMEOUT
        while not any(m.key() == referral_id.encode() for m in messages):
            assert time.monotonic() < deadline, f"{referral_id} not consumed from {TOPIC} within {TIMEOUT:.0f}s"
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            messages.append(msg)
    finally:
        consumer.close()

    for msg in messages:
        envelope = Envelope.from_bytes(msg.value())
        payload = payload_of(envelope)
        assert msg.key().decode() == envelope.subject == payload.referral_id  # type: ignore[attr-defined]
        headers = dict(msg.headers() or [])
        assert headers.get("content-type") == CONTENT_TYPE.encode(), msg.headers()
    ours = next(m for m in messages if m.key() == referral_id.encode())
    envelope = Envelope.from_bytes(ours.value())
    assert envelope.type.startswith("referral.submitted.") and envelope.partnerid == "forge-coding-bootcamp"
    assert envelope.source == "/talentloop/intake"


# librdkafka before 2.6.1 sends a SCRAM client-final nonce Kafka 4.x rejects ("invalid
# credentials"; confluentinc/librdkafka#4895, edenhill/kcat#462): Debian 12's kcat links 2.0.2.
SCRAM_FIXED = (2, 6, 1)


def kcat_env(kcat: str, tmp_path: Path) -> dict[str, str]:
    """kcat's environment: as it is, or, if its librdkafka predates the SCRAM fix, with
    confluent-kafka's bundled librdkafka (same soname and ABI) first on the library path."""
    linked = subprocess.run([kcat, "-V"], capture_output=True, text=True, timeout=10).stdout
    found = re.search(r"librdkafka (\d+)\.(\d+)\.(\d+)", linked)
    if found is None or tuple(int(x) for x in found.groups()) >= SCRAM_FIXED:
        return dict(os.environ)
    bundled = sorted((Path(confluent_kafka.__file__).parent.parent / "confluent_kafka.libs").glob("librdkafka*.so*"))
    assert bundled, f"kcat links {found.group(0)}, too old for SCRAM on Kafka 4.x, and no newer librdkafka is bundled"
    libs = tmp_path / "librdkafka"
    libs.mkdir()
    (libs / "librdkafka.so.1").symlink_to(bundled[0])
    return {**os.environ, "LD_LIBRARY_PATH": f"{libs}:{os.environ.get('LD_LIBRARY_PATH', '')}".rstrip(":")}


def test_kcat_reads_our_events(running_network, referral_id: str,  # type: ignore[no-untyped-def]
                               tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    kcat = shutil.which("kcat")
    if kcat is None:
        pytest.skip("kcat is not installed (Debian/Ubuntu: apt-get install kcat)")
    env = kcat_env(kcat, tmp_path)
    version = subprocess.run([kcat, "-V"], capture_output=True, text=True, timeout=10, env=env)
    assert version.returncode == 0, version.stderr
    record_versions(tmp_path_factory, kcat=next(line for line in version.stdout.splitlines() if "Version" in line))

    config = tmp_path / "kcat.properties"  # credentials in a file, not on the command line
    config.touch(mode=0o600)
    config.write_text("".join(f"{k}={v}\n" for k, v in super_user().librdkafka().items()))
    command = [kcat, "-F", str(config), "-C", "-b", running_network.bootstrap, "-t", TOPIC, "-o", "beginning",
               "-e", "-q", "-f", "%k\t%s\n"]
    deadline = time.monotonic() + TIMEOUT
    while True:
        run = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, env=env)
        assert run.returncode == 0, run.stderr
        lines = [line for line in run.stdout.split("\n") if line]
        if any(line.split("\t", 1)[0] == referral_id for line in lines):
            break
        assert time.monotonic() < deadline, f"kcat did not show {referral_id} within {TIMEOUT:.0f}s"
        time.sleep(0.5)

    for line in lines:
        key, value = line.split("\t", 1)
        envelope = Envelope.from_bytes(value.encode())
        assert key == envelope.subject == payload_of(envelope).referral_id  # type: ignore[attr-defined]
    assert sum(line.split("\t", 1)[0] == referral_id for line in lines) == 1


def test_each_service_runs_as_its_own_kafka_principal(running_network, network_config) -> None:  # type: ignore[no-untyped-def]
    """The services of `talentloop up` log in as themselves, not as the super-user: each
    process's environment names its own principal, and each is healthy with it (its consumers
    joined their groups, its relay publishes; the other e2e tests depend on both)."""
    from deploy import kafka_credentials

    for service in network_config.services():
        pid = service.pid()
        assert pid is not None, service.name
        env = dict(
            line.split("=", 1) for line in Path(f"/proc/{pid}/environ").read_text().split("\0") if "=" in line
        )
        assert env["KAFKA_SASL_USERNAME"] == kafka_credentials.service_user(service.name), service.name
        assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT"
        health = service.healthy()
        assert health is not None and health.get("status", "ok") == "ok", (service.name, health)
