"""API keys on real PostgreSQL: issue, authenticate, expire, revoke, rotate, and scopes over HTTP.

Each test has its own key schema (the services use the shared `credentials` one) and a clock
it moves by hand. The HTTP app is the real `principal` dependency and `/v1/keys` router in
front of a few routes like the services' (a read, a write, a webhook).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated

import asyncpg
import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI

from deploy.stack import StackInfo
from plumbing import apikeys, keys_api, problems
from plumbing.apikeys import ApiKeys, KeyConflict
from plumbing.auth import InvalidKey, Principal, format_key, new_secret, parse_key, principal

pytestmark = pytest.mark.integration

Caller = Annotated[Principal, Depends(principal)]


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def keys(stack: StackInfo, clock: Clock) -> AsyncIterator[ApiKeys]:
    schema = f"k_{uuid.uuid4().hex[:10]}"
    pool = await asyncpg.create_pool(stack.database_url, min_size=1, max_size=4)
    async with pool.acquire() as conn:
        await apikeys.ensure_schema(conn, schema)
        await apikeys.ensure_schema(conn, schema)  # idempotent
    yield ApiKeys(pool, schema=schema, cache_s=0, grace_s=3600, clock=clock)
    await pool.execute(f"DROP SCHEMA {schema} CASCADE")
    await pool.close()


def app_for(store: ApiKeys) -> httpx.AsyncClient:
    routes = APIRouter(prefix="/v1")

    @routes.get("/things")
    async def read(who: Caller) -> dict:
        return {"who": who.ref}

    @routes.post("/things")
    async def write(who: Caller) -> dict:
        return {"who": who.ref}

    @routes.post("/webhooks/referrals")
    async def hook(who: Caller) -> dict:
        return {"who": who.ref}

    @routes.get("/webhooks/endpoints")
    async def endpoints(who: Caller) -> dict:
        return {"who": who.ref}

    app = FastAPI()
    problems.install(app)
    app.include_router(routes)
    app.include_router(keys_api.router)
    app.state.keys = store
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc")


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_an_issued_key_authenticates_as_its_principal_and_only_its_hash_is_stored(keys):
    issued = await keys.issue("employer", "emp1", ["read"], label="reporting")
    who = await keys.authenticate(issued.key)
    assert (who.kind, who.id, who.scopes, who.key_id) == ("employer", "emp1", frozenset({"read"}), issued.info.key_id)
    row = await keys.pool.fetchrow(f"SELECT * FROM {keys.table} WHERE key_id = $1", issued.info.key_id)
    secret = parse_key(issued.key).secret
    assert secret not in repr(dict(row)) and row["label"] == "reporting" and row["last_used_at"] == keys.clock()


async def test_last_used_at_is_written_at_most_once_a_minute(keys, clock):
    issued = await keys.issue("partner", "p1", ["read"])
    used = "SELECT last_used_at FROM {} WHERE key_id = $1".format(keys.table)
    first = clock.now
    await keys.authenticate(issued.key)
    clock.advance(seconds=59)
    await keys.authenticate(issued.key)
    assert await keys.pool.fetchval(used, issued.info.key_id) == first
    clock.advance(seconds=1)
    await keys.authenticate(issued.key)
    assert await keys.pool.fetchval(used, issued.info.key_id) == clock.now


async def test_a_wrong_secret_for_a_real_key_id_or_the_wrong_kind_is_refused(keys):
    issued = await keys.issue("partner", "p1", ["read", "write"])
    key_id = issued.info.key_id
    with pytest.raises(InvalidKey, match="unknown API key"):
        await keys.authenticate(format_key("partner", key_id, new_secret()))
    with pytest.raises(InvalidKey, match="unknown API key"):
        await keys.authenticate(format_key("operator", key_id, parse_key(issued.key).secret))
    with pytest.raises(InvalidKey, match="unknown API key"):
        await keys.authenticate(format_key("partner", "key_0123456789abcdef0123", new_secret()))


async def test_an_expired_key_is_refused(keys, clock):
    issued = await keys.issue("partner", "p1", ["read"], expires_at=clock.now + timedelta(hours=1))
    assert (await keys.authenticate(issued.key)).id == "p1"
    clock.advance(hours=1)
    with pytest.raises(InvalidKey, match="expired"):
        await keys.authenticate(issued.key)


async def test_a_revoked_key_is_refused_and_revoking_twice_conflicts(keys):
    issued = await keys.issue("employer", "emp1", ["read"])
    await keys.authenticate(issued.key)
    info = await keys.revoke(issued.info.key_id)
    assert info.revoked_at is not None
    with pytest.raises(InvalidKey, match="revoked"):
        await keys.authenticate(issued.key)
    with pytest.raises(KeyConflict):
        await keys.revoke(issued.info.key_id)


async def test_a_revocation_elsewhere_takes_effect_within_the_cache_bound(keys, clock):
    issued = await keys.issue("employer", "emp1", ["read"])
    other_process = ApiKeys(keys.pool, schema=keys.table.split(".")[0], cache_s=60, clock=clock)
    await other_process.authenticate(issued.key)  # now cached there
    await keys.revoke(issued.info.key_id)
    await other_process.authenticate(issued.key)  # still cached: accepted, within the bound
    other_process.cache_s = 0  # the bound has passed
    with pytest.raises(InvalidKey, match="revoked"):
        await other_process.authenticate(issued.key)


async def test_rotation_keeps_both_keys_during_the_grace_period_then_only_the_new_one(keys, clock):
    old = await keys.issue("partner", "p1", ["read", "webhooks"], label="ats sync")
    new, previous = await keys.rotate(old.info.key_id)
    assert (new.info.kind, new.info.principal_id, new.info.scopes, new.info.label) == (
        "partner",
        "p1",
        ("read", "webhooks"),
        "ats sync",
    )
    assert previous.replaced_by == new.info.key_id and previous.expires_at == clock.now + timedelta(hours=1)
    assert (await keys.authenticate(old.key)).id == "p1"
    assert (await keys.authenticate(new.key)).key_id == new.info.key_id
    with pytest.raises(KeyConflict, match="already rotated"):
        await keys.rotate(old.info.key_id)
    clock.advance(minutes=59)
    await keys.authenticate(old.key)
    clock.advance(minutes=1)
    with pytest.raises(InvalidKey, match=f"expired \\(rotated to {new.info.key_id}\\)"):
        await keys.authenticate(old.key)
    assert (await keys.authenticate(new.key)).id == "p1"


async def test_rotating_a_key_with_a_lifetime_passes_the_lifetime_on(keys, clock):
    old = await keys.issue("employer", "emp1", ["read"], expires_at=clock.now + timedelta(days=90))
    clock.advance(days=80)
    new, previous = await keys.rotate(old.info.key_id, grace_s=30 * 86400)
    assert previous.expires_at == old.info.expires_at  # the grace never extends a key
    assert new.info.expires_at == clock.now + timedelta(days=90)


async def test_seeding_a_known_key_is_idempotent_and_keeps_a_revocation(keys):
    key = format_key("operator", "key_00000000000000000001", new_secret())
    assert await keys.seed(key, "operator", "ops", ["read", "write", "webhooks"], "seed") is True
    await keys.revoke("key_00000000000000000001")
    assert await keys.seed(key, "operator", "ops", ["read", "write", "webhooks"], "seed") is False
    with pytest.raises(InvalidKey, match="revoked"):
        await keys.authenticate(key)


# --- over HTTP: the principal dependency and /v1/keys ---------------------------------------


async def test_unknown_expired_and_revoked_keys_answer_401_problems_with_a_challenge(keys, clock):
    expiring = await keys.issue("partner", "p1", ["read"], expires_at=clock.now + timedelta(minutes=1))
    revoked = await keys.issue("partner", "p1", ["read"])
    await keys.revoke(revoked.info.key_id)
    clock.advance(minutes=2)
    async with app_for(keys) as http:
        r = await http.get("/v1/things")
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        for key, says in [
            ("tl_par_not-a-key", "not a TalentLoop API key"),
            (format_key("partner", revoked.info.key_id, new_secret()), "unknown API key"),
            (expiring.key, "expired"),
            (revoked.key, "revoked"),
        ]:
            r = await http.get("/v1/things", headers=bearer(key))
            assert r.status_code == 401 and r.headers["content-type"] == problems.MEDIA_TYPE
            assert r.json()["type"] == "urn:talentloop:problem:unauthorized" and says in r.json()["detail"]
            assert r.headers["www-authenticate"] == 'Bearer error="invalid_token"'


async def test_a_read_only_key_reads_but_gets_403_naming_the_scope_on_writes_and_webhooks(keys):
    reader = await keys.issue("employer", "emp1", ["read"])
    async with app_for(keys) as http:
        assert (await http.get("/v1/things", headers=bearer(reader.key))).json() == {"who": "employer:emp1"}
        r = await http.post("/v1/things", headers=bearer(reader.key))
        assert r.status_code == 403 and r.json()["type"] == "urn:talentloop:problem:insufficient-scope"
        assert r.json()["required_scope"] == "write" and "'write'" in r.json()["detail"]
        assert r.headers["www-authenticate"] == 'Bearer error="insufficient_scope", scope="write"'
        r = await http.get("/v1/webhooks/endpoints", headers=bearer(reader.key))
        assert r.status_code == 403 and r.json()["required_scope"] == "webhooks"


async def test_the_webhooks_scope_manages_endpoints_and_submitting_by_webhook_needs_write(keys):
    writer = await keys.issue("partner", "p1", ["read", "write"])
    hooks = await keys.issue("partner", "p1", ["webhooks"])
    async with app_for(keys) as http:
        # A partner's webhook submission is a submission: `write`, never `webhooks`.
        assert (await http.post("/v1/webhooks/referrals", headers=bearer(writer.key))).status_code == 200
        r = await http.post("/v1/webhooks/referrals", headers=bearer(hooks.key))
        assert r.status_code == 403 and r.json()["required_scope"] == "write"
        assert (await http.get("/v1/webhooks/endpoints", headers=bearer(hooks.key))).status_code == 200
        assert (await http.get("/v1/webhooks/endpoints", headers=bearer(writer.key))).status_code == 403
        assert (await http.post("/v1/things", headers=bearer(hooks.key))).status_code == 403
        assert (await http.get("/v1/things", headers=bearer(hooks.key))).status_code == 403


async def test_rotate_over_http_returns_the_new_key_once_and_lists_never_show_secrets(keys, clock):
    reader = await keys.issue("employer", "emp1", ["read"])  # even a read-only key rotates itself
    await keys.issue("employer", "emp2", ["read"])
    async with app_for(keys) as http:
        r = await http.post("/v1/keys/rotate", headers=bearer(reader.key))
        assert r.status_code == 201, r.text
        new = r.json()["new"]
        assert new["scopes"] == ["read"] and new["principal"] == {"kind": "employer", "id": "emp1"}
        assert r.json()["previous"]["replaced_by"] == new["key_id"]
        assert (await http.get("/v1/things", headers=bearer(new["key"]))).status_code == 200
        assert (await http.get("/v1/things", headers=bearer(reader.key))).status_code == 200  # grace
        assert (await http.post("/v1/keys/rotate", headers=bearer(reader.key))).status_code == 409

        r = await http.get("/v1/keys", headers=bearer(new["key"]))
        listed = {k["key_id"]: k for k in r.json()}
        assert listed.keys() == {reader.info.key_id, new["key_id"]}  # only emp1's
        assert "key" not in listed[new["key_id"]] and parse_key(new["key"]).secret not in r.text
        assert listed[reader.info.key_id]["replaced_by"] == new["key_id"]
        clock.advance(hours=1)
        assert (await http.get("/v1/things", headers=bearer(reader.key))).status_code == 401
        r = await http.get("/v1/keys", headers=bearer(new["key"]))
        assert {k["key_id"]: k["status"] for k in r.json()}[reader.info.key_id] == "expired"
        r = await http.get("/v1/keys?kind=employer&id=emp2", headers=bearer(new["key"]))
        assert r.status_code == 403 and r.json()["type"] == "urn:talentloop:problem:forbidden"


async def test_operators_issue_keys_for_any_principal_and_revoke_them(keys):
    ops = await keys.issue("operator", "ops")
    partner = await keys.issue("partner", "p1", ["read", "write"])
    async with app_for(keys) as http:
        r = await http.post("/v1/keys", json={"principal": {"kind": "partner", "id": "p2"}}, headers=bearer(ops.key))
        assert r.status_code == 201, r.text
        issued = r.json()
        assert issued["scopes"] == ["read", "write"] and issued["key"].startswith(f"tl_par_{issued['key_id']}_")
        r = await http.post(
            "/v1/keys",
            json={"principal": {"kind": "operator", "id": "ops2"}, "label": "auditor"},
            headers=bearer(ops.key),
        )
        assert r.json()["scopes"] == ["read", "webhooks", "write"]  # operators: every scope by default
        r = await http.post(
            "/v1/keys",
            json={"principal": {"kind": "partner", "id": "p2"}, "scopes": ["admin"]},
            headers=bearer(ops.key),
        )
        assert r.status_code == 422
        assert (await http.get("/v1/things", headers=bearer(issued["key"]))).json() == {"who": "partner:p2"}
        r = await http.get("/v1/keys?kind=partner&id=p2", headers=bearer(ops.key))
        assert [k["key_id"] for k in r.json()] == [issued["key_id"]]

        r = await http.post(
            "/v1/keys", json={"principal": {"kind": "partner", "id": "p3"}}, headers=bearer(partner.key)
        )
        assert r.status_code == 403
        r = await http.post(f"/v1/keys/{issued['key_id']}/revoke", headers=bearer(partner.key))
        assert r.status_code == 403
        r = await http.post(f"/v1/keys/{issued['key_id']}/revoke", headers=bearer(ops.key))
        assert r.status_code == 200 and r.json()["status"] == "revoked"
        assert (await http.get("/v1/things", headers=bearer(issued["key"]))).status_code == 401
        assert (await http.post(f"/v1/keys/{issued['key_id']}/revoke", headers=bearer(ops.key))).status_code == 409
        assert (await http.post("/v1/keys/key_nope/revoke", headers=bearer(ops.key))).status_code == 404


# --- the CLI, against the session's database ------------------------------------------------


def test_the_cli_seeds_creates_lists_rotates_and_revokes_keys(stack, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from talentloop import credentials
    from talentloop.cli import app

    monkeypatch.setenv("DATABASE_URL", stack.database_url)
    run = CliRunner().invoke
    home = ["--home", str(tmp_path)]
    out = run(app, ["keys", *home])
    assert out.exit_code == 0, out.output
    assert "keys.json" in out.output and "7 new" in out.output
    assert (tmp_path / "keys.json").stat().st_mode & 0o777 == 0o600
    assert "0 new" in run(app, ["keys", *home]).output  # seeded once
    ops_key = credentials.load_keys(tmp_path)["operator:coalition-ops"]
    ops_id = parse_key(ops_key).key_id

    employer = f"emp-{uuid.uuid4().hex[:6]}"
    out = run(app, ["keys", "create", "--kind", "employer", "--id", employer, "--scopes", "read", *home])
    assert out.exit_code == 0, out.output
    key_id = out.output.split()[0]
    assert f"tl_emp_{key_id}_" in out.output
    out = run(app, ["keys", "list", "--id", employer, *home])
    assert key_id in out.output and "read" in out.output and "active" in out.output
    assert run(app, ["keys", "create", "--kind", "employer", "--id", "x", "--scopes", "admin", *home]).exit_code == 2

    out = run(app, ["keys", "rotate", ops_id, "--grace-s", "60", *home])
    assert out.exit_code == 0, out.output
    assert "Updated" in out.output
    new_ops_key = credentials.load_keys(tmp_path)["operator:coalition-ops"]
    assert new_ops_key != ops_key and new_ops_key in out.output
    assert run(app, ["keys", "rotate", ops_id, *home]).exit_code == 1  # rotated already

    out = run(app, ["keys", "revoke", key_id, *home])
    assert out.exit_code == 0 and f"Revoked {key_id}" in out.output
    assert run(app, ["keys", "revoke", key_id, *home]).exit_code == 1
    listed = {k["key_id"]: k for k in json.loads(run(app, ["keys", "list", "--json", "--id", employer, *home]).output)}
    assert listed[key_id]["status"] == "revoked"


@pytest.mark.parametrize("principal_id", ["", "x" * 101, "with space", "tab\tid", "ünïcode"])
async def test_a_principal_id_no_event_could_carry_gets_no_key(keys, principal_id):
    with pytest.raises(ValueError, match="printable ASCII"):
        await keys.issue("partner", principal_id, ["read"])
