"""The local broker's JVM flags: C1 only by default, and TALENTLOOP_KAFKA_JVM_OPTS after ours so
that an operator's flag wins (the JVM takes the last of repeated -XX flags)."""

from __future__ import annotations

import pytest

from deploy.kafka_local import JVM_OPTS_ENV, jvm_options


def test_the_broker_runs_without_c2_by_default() -> None:
    flags = jvm_options("768m", [], env={})
    assert flags[0] == "-Xmx768m"
    assert "-XX:TieredStopAtLevel=1" in flags
    assert "-XX:+UseG1GC" in flags


def test_class_data_sharing_flags_are_kept() -> None:
    flags = jvm_options("768m", ["-XX:SharedArchiveFile=/x.jsa", "-Xlog:cds=off"], env={})
    assert flags[1:3] == ["-XX:SharedArchiveFile=/x.jsa", "-Xlog:cds=off"]


def test_operator_flags_come_last_and_are_shell_split() -> None:
    env = {JVM_OPTS_ENV: "-XX:TieredStopAtLevel=4 '-XX:StartFlightRecording=filename=/tmp/a b.jfr'"}
    flags = jvm_options("768m", [], env=env)
    assert flags[-2:] == ["-XX:TieredStopAtLevel=4", "-XX:StartFlightRecording=filename=/tmp/a b.jfr"]
    last_tier = [f for f in flags if f.startswith("-XX:TieredStopAtLevel=")][-1]
    assert last_tier == "-XX:TieredStopAtLevel=4"


@pytest.mark.parametrize("value", ["", "   "])
def test_an_empty_setting_adds_nothing(value: str) -> None:
    assert jvm_options("1g", [], env={JVM_OPTS_ENV: value}) == jvm_options("1g", [], env={})
