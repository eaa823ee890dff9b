"""End-to-end fixtures: the five services and the console as separate OS processes on the session's stack.

`running_network` starts intake, routing, employer_gateway, outcomes, support and the console with
`talentloop.network.up` (the same code as `talentloop up`) on top of the session `stack`
fixture, whose teardown (`network.discard`) stops the services, then kills the stack and deletes its data.
Every test collected under tests/e2e is marked `e2e`. The tests whose script runs as a process of its
own (`own_process` mark: the benchmarks, the three-broker fault suite) start it once the session has
collected, in the background, and run at the session's end (tests/e2e/own_processes.py).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from deploy.stack import StackInfo
from plumbing.settings import Settings
from talentloop import network
from talentloop.credentials import load_keys
from talentloop.network import NetworkConfig
from tests.e2e import own_processes
from tests.e2e.helpers import VERSIONS, Api, RunningNetwork

E2E_DIR = Path(__file__).parent


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", own_processes.MARK_DOC)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if E2E_DIR in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.e2e)
    own_processes.last(items)  # their scripts run in the background meanwhile


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start the selected tests' own processes (tests/e2e/own_processes.py), one after the other."""
    option = session.config.option
    if not (option.collectonly or option.setupplan):  # runs no test: starts nothing
        own_processes.SESSION.start(session.items)


def pytest_sessionfinish(session: pytest.Session) -> None:
    own_processes.SESSION.close()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if VERSIONS:
        terminalreporter.section("e2e interop client versions")
        for name, version in VERSIONS.items():
            terminalreporter.write_line(f"{name}: {version}")


own_process = own_processes.own_process  # the fixture


@pytest.fixture(scope="session")
def adapters_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the adapters folder that the network's intake reads (TALENTLOOP_ADAPTERS), so a
    test may change a mapping and reload it (`talentloop adapters reload`) without touching deploy/."""
    folder = tmp_path_factory.mktemp("adapters")
    for path in Settings().adapters_dir.glob("*.yaml"):
        shutil.copy(path, folder / path.name)
    return folder


@pytest.fixture(scope="session")
def running_network(stack: StackInfo, network_config: NetworkConfig, adapters_dir: Path) -> RunningNetwork:
    t0 = time.monotonic()
    os.environ["TALENTLOOP_ADAPTERS"] = str(adapters_dir)  # the services inherit it (talentloop.launcher)
    # A revoked key is refused within this bound (5 s by default); the revocation test waits it out.
    os.environ.setdefault("TALENTLOOP_KEY_CACHE_S", "1")
    # The services read a simulated clock from this file (tests/e2e/test_demo_year.py writes it);
    # while there is none, which is the case for every other test, the system clock.
    net = network.up(network_config, clock_file=network_config.home / "clock")
    # (up reuses the session stack; the stack fixture's teardown calls network.discard)
    return RunningNetwork(
        urls=net.urls,
        keys=load_keys(network_config.home),
        bootstrap=net.bootstrap,
        network=net,
        startup_s=round(time.monotonic() - t0, 2),
    )


@pytest.fixture(scope="session")
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=15.0) as client:
        yield client


@pytest.fixture
def api(running_network: RunningNetwork, http: httpx.AsyncClient) -> Api:
    return Api(running_network, http)
