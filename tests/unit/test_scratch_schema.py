"""A rebuild drops its target schema first: only a scratch schema may be named, and the name
is checked before anything is dropped."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from plumbing.db import scratch_schema
from talentloop.cli import app

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("name", ["outcomes", "keyvault", "intake", "employer_gateway", "support", "portal", "public",
                                  "pg_catalog",
                                  "information_schema", 'x"; DROP SCHEMA outcomes; --', "Outcomes", "", "a" * 64])
def test_live_or_odd_schema_names_are_refused(name):
    with pytest.raises(ValueError):
        scratch_schema(name)


def test_scratch_names_are_accepted():
    assert scratch_schema("outcomes_rebuild") == "outcomes_rebuild"
    assert scratch_schema("rebuild_2026") == "rebuild_2026"


@pytest.mark.parametrize("name", ["outcomes", "keyvault"])
def test_the_rebuild_command_refuses_a_live_schema_before_touching_anything(name, tmp_path, monkeypatch):
    def never(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("the network was reached before the name was checked")

    monkeypatch.setattr("talentloop.cli._config", never)
    result = CliRunner().invoke(app, ["outcomes", "rebuild", "--schema", name, "--home", str(tmp_path)])
    assert result.exit_code == 2
    assert "live schema" in result.output
