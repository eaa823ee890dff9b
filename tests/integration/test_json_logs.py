"""Every line a service writes is one JSON object: its own log lines, uvicorn's, the Kafka and
database libraries' and Python's warnings all go through structlog's ProcessorFormatter
(plumbing/logging.py). Read from a real service process's stderr and stdout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from deploy.processes import remember_child, terminate
from deploy.stack import StackInfo
from plumbing import logging as tl_logging
from talentloop import launcher
from talentloop.network import NetworkConfig
from tests.conftest import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def json_lines(text: str) -> list[dict]:
    lines = [line for line in text.splitlines() if line.strip()]
    plain = [line for line in lines if not line.startswith("{")]
    assert not plain, f"plain-text lines beside the JSON ones: {plain[:5]}"
    return [json.loads(line) for line in lines]


def test_a_service_writes_only_json_lines_its_libraries_included(
    stack: StackInfo, network_config: NetworkConfig, tmp_path: Path
) -> None:
    port = free_port()
    out, err = tmp_path / "console.out", tmp_path / "console.err"
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": stack.bootstrap,
        "DATABASE_URL": stack.database_url,
        "TALENTLOOP_PSEUDONYM_KEY": launcher.pseudonym_key(network_config.home),
        "TALENTLOOP_MASTER_KEY": launcher.master_key(network_config.home),
        "TALENTLOOP_HTTP_PORT": str(port),
        "PYTHONWARNINGS": "always",
    }
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.console.main"],
            env=env,
            stdout=stdout,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    remember_child(proc)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, err.read_text()[-3000:]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the console did not answer /health"
            time.sleep(0.1)
        httpx.get(f"http://127.0.0.1:{port}/no-such-page", timeout=5)
    finally:
        terminate(proc.pid, 20)  # SIGTERM: uvicorn logs its shutdown too
    assert out.read_text() == "", "a service writes its log to stderr only"
    lines = json_lines(err.read_text())
    loggers = {line.get("logger") for line in lines}
    assert {"uvicorn.error"} <= loggers, loggers  # "Started server process", "Application startup complete"
    assert all({"event", "level", "timestamp"} <= line.keys() for line in lines), lines[:3]
    assert all(line.get("service") == "console" for line in lines if line.get("logger") == "uvicorn.error")


def test_library_records_warnings_and_exceptions_are_json_with_the_context(capsys: pytest.CaptureFixture[str]) -> None:
    import logging
    import warnings

    import faststream  # noqa: F401  (gives its logger a plain-text handler of its own at import)

    # pytest records warnings per test by replacing warnings.showwarning; a service configured
    # in-process by an earlier test left logging's capture switched on, and captureWarnings(True)
    # does nothing when it is already on, so pytest's recorder would keep the warning from logging.
    logging.captureWarnings(False)
    tl_logging.configure("logtest", stream=sys.stderr)
    tl_logging.bind_context(correlation_id="c-1")
    try:
        logging.getLogger("somelib").warning("disk %s", "full", extra={"device": "sda"})
        warnings.warn("old api", DeprecationWarning, stacklevel=1)
        logging.getLogger("faststream").info("subscriber started")
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("somelib").exception("failed")
            tl_logging.get_logger("ours").exception("ours.failed")
    finally:
        tl_logging.clear_context()
    lines = json_lines(capsys.readouterr().err)
    by_event = {line["event"]: line for line in lines}
    assert by_event["disk full"] | {"timestamp": None} == {
        "event": "disk full",
        "level": "warning",
        "logger": "somelib",
        "device": "sda",
        "service": "logtest",
        "correlation_id": "c-1",
        "timestamp": None,
    }
    assert any("old api" in line["event"] and line["logger"] == "py.warnings" for line in lines), lines
    assert by_event["subscriber started"]["logger"] == "faststream"
    assert "ValueError: boom" in by_event["failed"]["exception"]
    assert "ValueError: boom" in by_event["ours.failed"]["exception"]
