"""The Helm chart (deploy/helm/talentloop): `helm lint`, `helm template`, and kubeconform against
the Kubernetes and Strimzi schemas (tools/k8s/install.sh, `make k8s-tools`); its KafkaTopics are
the code's topic specs and its KafkaUsers the code's ACLs; every service has replicas, probes,
resources and a disruption budget."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy import kafka_credentials, kafka_principals
from deploy.topics import TopicPolicy
from talentloop import launcher
from talentloop.network import topic_specs
from tools.k8s import chart_data

pytestmark = pytest.mark.unit

CHART = Path(__file__).parents[2] / "deploy" / "helm" / "talentloop"
CACHE = Path(os.environ.get("TALENTLOOP_K8S_CACHE", Path.home() / ".cache" / "talentloop" / "k8s"))
HELM, KUBECONFORM = CACHE / "bin" / "helm", CACHE / "bin" / "kubeconform"
KUBERNETES = "1.33.0"  # tools/k8s/install.sh KUBERNETES_VERSION
STRIMZI_ACL = {"Read": kafka_principals.READ, "Write": kafka_principals.WRITE, "Create": kafka_principals.CREATE,
               "Delete": kafka_principals.DELETE, "Describe": kafka_principals.DESCRIBE}
STRIMZI_RESOURCE = {"topic": kafka_principals.TOPIC, "group": kafka_principals.GROUP, "cluster": kafka_principals.CLUSTER}


def tools() -> None:
    if not (HELM.exists() and KUBECONFORM.exists() and (CACHE / "strimzi").exists() and (CACHE / "kubernetes").exists()):
        if os.environ.get("CI"):
            pytest.fail("helm, kubeconform and the schemas are not installed: `make k8s-tools` should have installed them")
        pytest.skip("run `make k8s-tools` to install helm, kubeconform and the Kubernetes and Strimzi schemas")


def helm(*args: str) -> str:
    tools()
    done = subprocess.run([str(HELM), *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def template(*sets: str) -> str:
    return helm("template", "tl", str(CHART), "--kube-version", KUBERNETES, *(a for s in sets for a in ("--set", s)))


def documents(rendered: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(rendered) if d]


def kubeconform(rendered: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(KUBECONFORM), "-strict", "-summary", "-output", "json", "-kubernetes-version", KUBERNETES,
         "-schema-location", f"{CACHE}/kubernetes/{{{{ .NormalizedKubernetesVersion }}}}-local-strict/"
                             "{{ .ResourceKind }}{{ .KindSuffix }}.json",
         "-schema-location", f"{CACHE}/strimzi/{{{{ .Group }}}}/{{{{ .ResourceKind }}}}_{{{{ .ResourceAPIVersion }}}}.json",
         "-"],
        input=rendered, capture_output=True, text=True, timeout=120,
    )


@pytest.fixture(scope="module")
def rendered() -> str:
    return template()


@pytest.fixture(scope="module")
def by_kind(rendered: str) -> dict[str, dict[str, dict[str, Any]]]:
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for doc in documents(rendered):
        out.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = doc
    return out


def test_the_chart_s_kafka_data_is_what_the_code_says():
    assert chart_data.FILE.read_text() == chart_data.render(), "run `python -m tools.k8s.chart_data`"


def test_helm_lint_passes():
    assert "0 chart(s) failed" in helm("lint", str(CHART), "--kube-version", KUBERNETES)


def test_the_rendered_manifests_validate_against_the_kubernetes_and_strimzi_schemas(rendered):
    done = kubeconform(rendered)
    summary = json.loads(done.stdout)["summary"]
    assert done.returncode == 0 and summary["invalid"] == summary["errors"] == summary["skipped"] == 0, done.stdout
    assert summary["valid"] == len(documents(rendered))


def test_kubeconform_refuses_what_either_schema_refuses():
    bad = template("kafka.topics.replicas=0", "probes.readiness.periodSeconds=often")  # a KafkaTopic, a Deployment
    chosen = [d for d in documents(bad) if d["metadata"]["name"] in ("talentloop.referrals", "tl-intake")
              and d["kind"] in ("KafkaTopic", "Deployment")]
    report = json.loads(kubeconform(yaml.safe_dump_all(chosen)).stdout)
    invalid = {(r["kind"], r["name"]) for r in report["resources"] if r["status"] == "statusInvalid"}
    assert ("KafkaTopic", "talentloop.referrals") in invalid
    assert ("Deployment", "tl-intake") in invalid


def test_the_kafka_topics_are_the_code_s_topic_specs(by_kind):
    policy = TopicPolicy()  # the production defaults, as the chart's
    expected = {s.name: (s.partitions, policy.replicas(s), policy.configs(s)) for s in topic_specs()}
    rendered = {
        t["spec"]["topicName"]: (t["spec"]["partitions"], t["spec"]["replicas"], t["spec"]["config"])
        for t in by_kind["KafkaTopic"].values()
    }
    assert rendered == expected


def test_topic_values_reach_the_topics_and_the_services_alike():
    docs = documents(template("kafka.topics.partitions=24", "kafka.topics.replicas=5",
                              "kafka.topics.config.talentloop\\.referrals.remote\\.storage\\.enable=true"))
    topics = {d["spec"]["topicName"]: d["spec"] for d in docs if d["kind"] == "KafkaTopic"}
    referrals = topics["talentloop.referrals"]
    assert (referrals["partitions"], referrals["replicas"], referrals["config"]["remote.storage.enable"]) == (24, 5, "true")
    assert referrals["config"]["retention.ms"] == "-1"
    assert topics["talentloop.deadletter.outcomes"]["partitions"] == 1
    config = next(d for d in docs if d["kind"] == "ConfigMap")["data"]
    env = {k: v for k, v in config.items() if k.startswith("TALENTLOOP_TOPIC")}
    policy = TopicPolicy.from_env(env)
    assert (env["TALENTLOOP_TOPIC_PARTITIONS"], policy.replication_factor, policy.min_insync_replicas) == ("24", 5, 2)
    assert policy.overrides == {"talentloop.referrals": {"remote.storage.enable": "true"}}


def acls_of(user: dict[str, Any]) -> set[kafka_principals.Acl]:
    principal = f"User:{user['metadata']['name']}"
    out = set()
    for rule in user["spec"]["authorization"]["acls"]:
        resource = rule["resource"]
        pattern = kafka_principals.PREFIXED if resource.get("patternType") == "prefix" else kafka_principals.LITERAL
        name = resource.get("name", "kafka-cluster")
        for op in rule["operations"]:
            out.add(kafka_principals.Acl(principal, STRIMZI_RESOURCE[resource["type"]], name, pattern, STRIMZI_ACL[op]))
    return out


def test_the_kafka_users_carry_the_code_s_acls(by_kind):
    expected = kafka_principals.network_acls([])
    users = by_kind["KafkaUser"]
    assert set(users) == set(expected)
    for name, acls in expected.items():
        assert acls_of(users[name]) == set(acls), name
        assert users[name]["spec"]["authentication"]["type"] == "scram-sha-512"


def test_partners_get_the_code_s_partner_acls():
    docs = documents(template("kafka.partners[0].id=acme", "kafka.partners[1].id=forge", "kafka.partners[1].training=true"))
    users = {d["metadata"]["name"]: d for d in docs if d["kind"] == "KafkaUser"}
    expected = kafka_principals.network_acls(["acme", "forge"], ["forge"])
    for partner in ("acme", "forge"):
        user = kafka_credentials.partner_user(partner)
        assert acls_of(users[user]) == set(expected[user])


def test_every_service_runs_replicated_with_probes_resources_a_budget_and_its_keys(by_kind):
    everything = (*launcher.SERVICES, *launcher.WEB_APPS)
    services = [s.name for s in launcher.processes(Path("/nonexistent"), dict.fromkeys(everything, 1))]
    assert set(services) == set(everything)
    for service in services:
        name = f"tl-{service.replace('_', '-')}"
        deployment = by_kind["Deployment"][name]
        assert deployment["spec"]["replicas"] >= 2, name
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["command"] == ["python", "-m", f"services.{service}.main"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/health"
        assert "tcpSocket" in container["livenessProbe"]
        assert {"cpu", "memory"} <= set(container["resources"]["requests"])
        secrets = {e["name"]: e["valueFrom"]["secretKeyRef"]["name"] for e in container["env"] if "valueFrom" in e}
        assert secrets["TALENTLOOP_MASTER_KEY"] == secrets["DATABASE_URL"] == "talentloop-keys"
        if service in launcher.SERVICES:  # a web application has no Kafka principal
            assert secrets["KAFKA_SASL_PASSWORD"] == kafka_credentials.service_user(service)  # Strimzi's Secret
        else:
            assert "KAFKA_SASL_PASSWORD" not in secrets
        assert container["envFrom"] == [{"configMapRef": {"name": "tl-config"}}]
        budget = by_kind["PodDisruptionBudget"][name]
        assert budget["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
        assert by_kind["Service"][name]["spec"]["ports"][0]["port"] == container["ports"][0]["containerPort"]


def test_migrations_run_as_a_hook_before_the_pods_roll_out(by_kind):
    job = by_kind["Job"]["tl-migrate"]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["python", "-m", "deploy.migrate"]


def test_the_kafka_cluster_is_kraft_with_three_brokers_and_production_replication(by_kind):
    pool = next(iter(by_kind["KafkaNodePool"].values()))
    assert pool["spec"]["replicas"] == 3 and set(pool["spec"]["roles"]) == {"controller", "broker"}
    config = by_kind["Kafka"]["talentloop"]["spec"]["kafka"]["config"]
    assert (config["default.replication.factor"], config["min.insync.replicas"]) == (3, 2)
    assert config["unclean.leader.election.enable"] is False and config["auto.create.topics.enable"] is False
