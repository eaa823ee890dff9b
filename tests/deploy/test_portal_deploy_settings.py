"""The portal's OpenID Connect settings reach it from both deployments (docs/deploy.md): the
compose file passes them through from the environment of `up` or deploy/.env (unset, the
portal's defaults: no provider); the Helm chart takes them from `services.portal.oidc` and the
client secret from its Secret, and refuses a half-done provider as the portal would at start.
What each gives the portal is read by the portal's own settings. Static: neither runs a
container (`docker-compose config` only reads the file)."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
import yaml

from services.portal.config import PortalSettings
from services.portal.oidc import ProviderSettings
from tests.deploy.compose import COMPOSE_FILE, SECRETS, compose_command
from tests.support.containers import docker_prefix
from tests.unit.test_helm_chart import CHART, HELM, KUBERNETES, documents, kubeconform, template, tools

pytestmark = pytest.mark.unit

OIDC = sorted(
    f.alias for f in PortalSettings.model_fields.values() if f.alias and f.alias.startswith("TALENTLOOP_PORTAL_OIDC_")
)
ISSUER = "https://id.example.org/realms/coalition"


def provider_of(env: dict[str, Any]) -> ProviderSettings | None:
    """What the portal makes of an environment (None values: unset)."""
    return ProviderSettings.of(PortalSettings(**{k: v for k, v in env.items() if v is not None}))


def test_the_compose_file_passes_the_oidc_settings_to_the_portal_alone_unset_by_default() -> None:
    assert OIDC == [
        f"TALENTLOOP_PORTAL_OIDC_{s}" for s in ("CLIENT_ID", "CLIENT_SECRET", "ISSUER", "NAME", "PASSWORDS", "SCOPES")
    ]
    services = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    portal = services["portal"]["environment"]
    # A key without a value: the value of `up`'s environment (or deploy/.env), else unset.
    assert {k: portal.get(k, "absent") for k in (*OIDC, "TALENTLOOP_PORTAL_URL")} == dict.fromkeys(
        (*OIDC, "TALENTLOOP_PORTAL_URL")
    )
    assert provider_of(portal) is None  # nothing set: no provider, passwords
    for name, service in services.items():
        if name != "portal":
            assert not set(OIDC) & set(service.get("environment") or {}), name


def test_compose_gives_the_portal_what_the_environment_and_deploy_env_say(tmp_path) -> None:  # type: ignore[no-untyped-def]
    command = compose_command()
    if command is None:
        pytest.skip("neither docker-compose nor `docker compose`")
    (tmp_path / "docker-compose.yml").write_text(COMPOSE_FILE.read_text())
    dot_env = {name: "x" for name in (*SECRETS, "TALENTLOOP_PSEUDONYM_KEY", "TALENTLOOP_MASTER_KEY")}
    dot_env["TALENTLOOP_PORTAL_OIDC_CLIENT_SECRET"] = "from-dot-env"
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in dot_env.items()))
    environment = {
        "TALENTLOOP_PORTAL_OIDC_ISSUER": ISSUER,
        "TALENTLOOP_PORTAL_OIDC_CLIENT_ID": "portal",
        "TALENTLOOP_PORTAL_OIDC_PASSWORDS": "false",
        "TALENTLOOP_PORTAL_URL": "https://portal.example.org",
    }
    done = subprocess.run(
        [*command, "-f", str(tmp_path / "docker-compose.yml"), "-p", f"{docker_prefix()}-config", "config"],
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", **environment},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    portal = yaml.safe_load(done.stdout)["services"]["portal"]["environment"]
    assert {k: portal[k] for k in environment} == environment
    assert portal["TALENTLOOP_PORTAL_OIDC_CLIENT_SECRET"] == "from-dot-env"
    assert portal["TALENTLOOP_PORTAL_OIDC_SCOPES"] is None and portal["TALENTLOOP_PORTAL_OIDC_NAME"] is None
    found = provider_of(portal)
    assert found is not None
    assert (found.issuer, found.client_id, found.client_secret, found.scopes, found.name, found.passwords) == (
        ISSUER,
        "portal",
        "from-dot-env",
        "openid email profile",
        "id.example.org",
        False,
    )


def containers(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0] for d in docs if d["kind"] == "Deployment"
    }


def test_the_chart_gives_the_portal_its_provider_from_values_and_the_secret() -> None:
    assert not [
        e
        for c in containers(documents(template())).values()
        for e in c["env"]
        if e["name"].startswith("TALENTLOOP_PORTAL_OIDC")
    ]  # by default: no provider
    rendered = template(
        f"services.portal.oidc.issuer={ISSUER}",
        "services.portal.oidc.clientId=portal",
        "services.portal.oidc.name=Coalition SSO",
        "services.portal.oidc.passwords=false",
        "secrets.create=true",
        *(f"secrets.values.{k}=x" for k in ("DATABASE_URL", "TALENTLOOP_MASTER_KEY", "TALENTLOOP_PSEUDONYM_KEY")),
        "secrets.values.TALENTLOOP_PORTAL_OIDC_CLIENT_SECRET=from-the-secret",
    )
    docs = documents(rendered)
    assert kubeconform(rendered).returncode == 0
    by_name = containers(docs)
    env = {e["name"]: e for e in by_name.pop("tl-portal")["env"]}
    secret_ref = env.pop("TALENTLOOP_PORTAL_OIDC_CLIENT_SECRET")["valueFrom"]["secretKeyRef"]
    assert secret_ref == {"name": "talentloop-keys", "key": "TALENTLOOP_PORTAL_OIDC_CLIENT_SECRET", "optional": True}
    secret = next(d for d in docs if d["kind"] == "Secret")["stringData"]
    plain = {k: e["value"] for k, e in env.items() if k.startswith("TALENTLOOP_PORTAL_OIDC")}
    found = provider_of({**plain, "TALENTLOOP_PORTAL_OIDC_CLIENT_SECRET": secret[secret_ref["key"]]})
    assert found is not None
    assert (found.issuer, found.client_id, found.client_secret, found.name, found.passwords) == (
        ISSUER,
        "portal",
        "from-the-secret",
        "Coalition SSO",
        False,
    )
    for name, container in by_name.items():  # the portal's alone
        assert not [e for e in container["env"] if e["name"].startswith("TALENTLOOP_PORTAL_OIDC")], name


@pytest.mark.parametrize(
    ("sets", "says"),
    [
        ([f"services.portal.oidc.issuer={ISSUER}"], "clientId is required"),
        (["services.portal.oidc.passwords=false"], "needs services.portal.oidc.issuer"),
    ],
    ids=["issuer-without-client-id", "passwords-off-without-issuer"],
)
def test_the_chart_refuses_a_half_done_provider(sets: list[str], says: str) -> None:
    tools()
    args = [a for s in sets for a in ("--set", s)]
    done = subprocess.run(
        [str(HELM), "template", "tl", str(CHART), "--kube-version", KUBERNETES, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0 and says in done.stderr, done.stderr
