"""The three-broker fault suite at CI size (bench/cluster_faults.py --small): referrals through
intake, routing, the gateway and outcomes on a local three-node KRaft cluster (RF 3, min ISR 2,
no unclean election, acks=all) while the leader of talentloop.referrals' partition 0 is killed
(SIGKILL) and restarted twice, paused (SIGSTOP) for 5 s, and a second routing and a second
outcomes instance are killed mid-batch; then the same input on a clean single broker.

It runs as its own process (it points KAFKA_BOOTSTRAP_SERVERS at the cluster, which this
session's own stack must not see), started early in the background (tests/e2e/own_processes.py);
the fixture's teardown stops whatever it started should it fail or time out. Its figures (the
time to recover after each fault) are printed and kept in the test's temporary directory
(cluster_faults.json).
"""

from __future__ import annotations

import json

import pytest

from bench import cluster_faults
from tests.e2e.own_processes import Finished

pytestmark = [pytest.mark.slow, pytest.mark.timeout(660)]


@pytest.mark.own_process(
    "bench/cluster_faults.py",
    "--small",
    out="cluster_faults.json",
    home=True,
    timeout=600,
    discard=cluster_faults.discard,
)
def test_three_broker_faults_lose_nothing_and_duplicate_nothing(own_process: Finished) -> None:
    proc, out = own_process, own_process.out
    assert out.exists(), f"no result (exit {proc.returncode}):\n{proc.tail('stderr')}"
    result = json.loads(out.read_text())
    faulted, clean = result["faulted"], result["clean"]
    print(
        "\ncluster fault suite:",
        json.dumps(
            {"seconds": result["seconds"], "referrals": faulted["referrals"], "recoveries": faulted["recoveries"]},
            indent=1,
        ),
    )
    assert result["problems"] == [], result["problems"]
    assert proc.returncode == 0, proc.tail("stderr")
    assert faulted["referrals"] == clean["referrals"] > 0
    assert faulted["lost"] == faulted["duplicated_in_ledger"] == faulted["created_twice"] == 0
    assert faulted["routed"] == faulted["in_gateway"] == faulted["referrals"]
    assert faulted["digest"] == clean["digest"]
    assert faulted["rebuild_equals_live"]
    kinds = [r["fault"].split(" (")[0] for r in faulted["recoveries"]]
    assert sum(k.startswith("kill -9 broker") for k in kinds) == 2, kinds
    assert sum(k.startswith("SIGSTOP broker") for k in kinds) == 1, kinds
    assert sum("second" in k for k in kinds) == 2, kinds
    assert all(r["flow_s"] >= 0 for r in faulted["recoveries"] if "flow_s" in r)
    assert faulted["instances_killed"] == {"routing": -9, "outcomes": -9}
