"""`talentloop.network.free_port`: the ports a test or benchmark network is given one after the
other are all different (a fresh-clone run failed once with Kafka's client and controller
listeners on the same port: the kernel had handed the same free port to two binds in a row)."""

from __future__ import annotations

import socket

import pytest

from talentloop.network import free_port

pytestmark = pytest.mark.unit


def test_ports_given_in_a_row_are_all_different_and_free() -> None:
    ports = [free_port() for _ in range(300)]
    assert len(set(ports)) == len(ports)
    with socket.socket() as s:
        s.bind(("127.0.0.1", ports[-1]))  # nothing listens on it
