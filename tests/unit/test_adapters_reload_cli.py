"""`talentloop adapters reload` lists each adapter intake now holds with its record (referral or
training), so an operator sees which of a provider's two adapters is which."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from talentloop import ops_cli
from talentloop.cli import app

ANSWER = {
    "folder": "/adapters",
    "adapters": [
        {"partner_id": "riverbend-community-college", "format": "csv", "record": "referral", "kafka_topic": None},
        {"partner_id": "riverbend-community-college", "format": "csv", "record": "training", "kafka_topic": None},
        {"partner_id": "kafka-trainer", "format": "json", "record": "training",
         "kafka_topic": "talentloop.inbound.kafka-trainer.training"},
    ],
    "restart_required_for": [],
}


def test_reload_prints_each_adapter_s_record(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = SimpleNamespace(home=tmp_path, services=lambda: [SimpleNamespace(name="intake", url="http://intake.test")])
    monkeypatch.setattr(ops_cli.NetworkConfig, "load", staticmethod(lambda home: cfg))
    monkeypatch.setenv("TALENTLOOP_OPERATOR_KEY", "op-key")
    asked: list[str] = []

    def post(url: str, **kwargs: Any) -> httpx.Response:
        asked.append(url)
        return httpx.Response(200, json=ANSWER)

    monkeypatch.setattr(ops_cli.httpx, "post", post)
    result = CliRunner().invoke(app, ["adapters", "reload"])
    assert result.exit_code == 0, result.output
    assert asked == ["http://intake.test/v1/adapters/reload"]
    lines = result.output.splitlines()
    assert [line.split()[:3] for line in lines[:3]] == [
        ["riverbend-community-college", "csv", "referral"],
        ["riverbend-community-college", "csv", "training"],
        ["kafka-trainer", "json", "training"],
    ]
    assert lines[2].endswith("kafka: talentloop.inbound.kafka-trainer.training")
    assert lines[3] == "Reloaded 3 adapters from /adapters."
