"""The pure parts of the image build and of the compose test's one change to the compose file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from deploy.images.build import ImageNames, apt_mirror, context_tar, postgres_major
from deploy.kafka_local import KAFKA_VERSION
from tests.deploy.compose import COMPOSE_FILE, SERVICE_PORTS, on_loopback

pytestmark = pytest.mark.unit


def test_the_mirror_is_the_one_apt_uses_in_either_format(tmp_path: Path):
    deb822, one_line = tmp_path / "d", tmp_path / "sources.list"
    deb822.mkdir()
    (deb822 / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm\n"
    )
    assert apt_mirror(deb822, tmp_path / "absent") == "http://mirror.example/debian"
    one_line.write_text("deb [arch=amd64] http://other.example/debian bookworm main\n")
    assert apt_mirror(tmp_path / "empty", one_line) == "http://other.example/debian"
    assert apt_mirror(tmp_path / "empty", tmp_path / "absent") == "http://deb.debian.org/debian"


def test_image_names_from_a_namespace_or_one_by_one():
    assert ImageNames.from_env({}) == ImageNames(
        "talentloop/base:bookworm",
        f"talentloop/kafka:{KAFKA_VERSION}",
        f"talentloop/postgres:{postgres_major()}",
        "talentloop/talentloop:local",
    )
    names = ImageNames.from_env({"TALENTLOOP_IMAGE_NAMESPACE": "ci", "KAFKA_IMAGE": "apache/kafka:4.4.0"})
    assert (names.base, names.kafka, names.talentloop) == (
        "ci/base:bookworm",
        "apache/kafka:4.4.0",
        "ci/talentloop:local",
    )
    assert names.env() == {
        "KAFKA_IMAGE": "apache/kafka:4.4.0",
        "POSTGRES_IMAGE": names.postgres,
        "TALENTLOOP_IMAGE": "ci/talentloop:local",
    }


def test_a_context_of_the_same_files_is_the_same_bytes(tmp_path: Path):
    # A build context that changed with every run (times, owners) would still be cached by the
    # builder, which hashes contents, but would not be reproducible.
    a = tmp_path / "a.txt"
    a.write_text("one")
    first = context_tar({"x/a.txt": a})
    a.touch()
    assert context_tar({"x/a.txt": a}) == first
    a.write_text("two")
    assert context_tar({"x/a.txt": a}) != first


def test_on_loopback_every_container_shares_one_network_namespace_and_reaches_the_others_at_127_0_0_1(
    tmp_path: Path,
):
    shipped = yaml.safe_load(COMPOSE_FILE.read_text())
    doc = on_loopback(yaml.safe_load(COMPOSE_FILE.read_text()), tmp_path)
    services = doc["services"]
    assert set(services) == set(shipped["services"]) | {"net"}
    assert sorted(services["net"]["ports"]) == sorted(
        p for s in shipped["services"].values() for p in s.get("ports", [])
    )
    for name, service in services.items():
        if name == "net":
            continue
        assert service["network_mode"] == "service:net" and "ports" not in service, name
        assert service["image"] == shipped["services"][name]["image"], name
        env = " ".join(str(v) for v in (service.get("environment") or {}).values())
        assert "kafka:29092" not in env and "@postgres:" not in env and "//intake:" not in env, name
    assert services["intake"]["environment"]["KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:29092"
    assert services["kafka"]["environment"]["KAFKA_INTERNAL_HOST"] == "127.0.0.1"
    assert all(services[s]["environment"]["TALENTLOOP_CLOCK_FILE"].endswith("/clock") for s in SERVICE_PORTS)
