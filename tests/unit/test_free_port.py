"""`talentloop.network.free_port`: the ports a test or benchmark network is given one after the
other are all different (a fresh-clone run failed once with Kafka's client and controller
listeners on the same port: the kernel had handed the same free port to two binds in a row)."""

from __future__ import annotations

import socket

import pytest

from talentloop import network
from talentloop.network import free_port

pytestmark = pytest.mark.unit


def test_ports_given_in_a_row_are_all_different_and_free() -> None:
    ports = [free_port() for _ in range(300)]
    assert len(set(ports)) == len(ports)
    with socket.socket() as s:
        s.bind(("127.0.0.1", ports[-1]))  # nothing listens on it


def test_ports_are_never_in_the_kernels_ephemeral_range() -> None:
    """A port from the ephemeral range may go to an outgoing connection before the service binds
    it (an e2e run's outcomes once failed to start: "address already in use")."""
    low, high = (int(n) for n in open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
    assert all(not low <= free_port() <= high for _ in range(300))


def test_a_port_something_listens_on_is_never_given(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        other = free_port()  # free a moment ago
        picks = iter([busy, busy, other])
        monkeypatch.setattr(network, "_PICK", type("Picks", (), {"choice": lambda self, _: next(picks)})())
        monkeypatch.setattr(network, "_PORTS_GIVEN", set())
        assert free_port() == other
