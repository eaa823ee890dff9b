"""Master key rotation on real PostgreSQL (talentloop/master_rotation.py, docs/deploy.md): data
sealed under key A reads with B as current and A as previous; the rotation re-wraps every value
sealed with the master key (candidate keys, webhook secrets of every schema, the portal's
organisation keys); afterwards B alone reads everything and A alone nothing; a rotation
interrupted between batches finishes on a rerun; a wrong previous key is refused and changes
nothing; `talentloop keys rotate-master` reports the counts.

Each test has a database of its own: the rotation covers every schema of its database."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest
from cryptography.exceptions import InvalidTag
from typer.testing import CliRunner, Result

from plumbing import apikeys, db, webhooks
from plumbing.vault import Unreadable, Vault, new_master_key, parse_master_key
from services.portal.machine_keys import KeyBox, MachineKeys
from talentloop import master_rotation as rotation
from talentloop.cli import app as cli

pytestmark = pytest.mark.integration

PORTAL_MIGRATIONS = Path(__file__).parents[2] / "services" / "portal" / "migrations"
CONTACT = {"email": "ana@example.org", "phone": "+1 305 555 0100"}
A, B, C = (new_master_key() for _ in range(3))


def key(text: str) -> bytes:
    return parse_master_key(text)


class World:
    """What the master key seals, as the services seal it: candidate keys (and contacts sealed with
    them), webhook secrets in two service schemas (one endpoint mid secret-rotation), and the
    portal's organisation keys."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sealed: dict[str, object] = {}  # candidate -> their sealed contact
        self.secrets: dict[tuple[str, str], list[str]] = {}  # (schema, endpoint) -> [secret, previous]
        self.org_keys: dict[str, str] = {}  # org id -> its API key

    async def build(self, master: str) -> None:
        vault = Vault(key(master))
        conn = await asyncpg.connect(self.url)
        try:
            async with conn.transaction():
                await Vault.ensure_schema(conn)
                keys = await vault.keys(conn, [f"cand_{i}" for i in range(5)], create=True)
            self.sealed = {c: k.seal(CONTACT, "contact") for c, k in keys.items()}
        finally:
            await conn.close()
        box = webhooks.SecretBox(key(master))
        for schema in ("outcomes", "support"):
            pool = await db.create_pool(self.url, schema)
            try:
                await db.migrate(pool)
                async with pool.acquire() as conn:
                    for owner in ("employer:e1", "partner:p1", "partner:p2"):
                        view, secret = await webhooks.create_endpoint(conn, box, owner, "https://example.org/h", [])
                        self.secrets[(schema, view["endpoint_id"])] = [secret]
                    rotated, newer = await webhooks.rotate_secret(  # type: ignore[misc]
                        conn, box, "partner:p2", view["endpoint_id"], timedelta(hours=1)
                    )
                    self.secrets[(schema, view["endpoint_id"])].insert(0, newer)
            finally:
                await pool.close()
        pool = await db.create_pool(self.url, "portal")
        try:
            await db.migrate(pool, PORTAL_MIGRATIONS)
            async with pool.acquire() as conn:
                await apikeys.ensure_schema(conn)
            machine = MachineKeys(pool, apikeys.ApiKeys(pool), KeyBox(key(master)))
            for tenant in ("alpha", "beta"):
                org_id = str(uuid.uuid4())
                await pool.execute(
                    "INSERT INTO organisations (org_id, kind, tenant_id, name) VALUES ($1, 'partner', $2, $2)",
                    uuid.UUID(org_id),
                    tenant,
                )
                self.org_keys[org_id] = await machine.key_for(org_id)
        finally:
            await pool.close()

    async def read_candidates(self, master: str, previous: tuple[str, ...] = ()) -> None:
        """Opens every sealed contact with a vault of these keys, else raises Unreadable."""
        vault = Vault(key(master), tuple(key(p) for p in previous))
        conn = await asyncpg.connect(self.url)
        try:
            for candidate, sealed in self.sealed.items():
                assert await vault.open(conn, candidate, sealed, "contact") == CONTACT  # type: ignore[arg-type]
        finally:
            await conn.close()

    async def read(self, master: str) -> None:
        """Opens everything with this key as the services do (the webhook and portal boxes take
        one key), else raises."""
        await self.read_candidates(master)
        conn = await asyncpg.connect(self.url)
        try:
            box = webhooks.SecretBox(key(master))
            for (schema, endpoint), secrets in self.secrets.items():
                row = await conn.fetchrow(
                    f"SELECT secret_sealed, previous_sealed FROM {schema}.webhook_endpoints WHERE endpoint_id = $1",
                    endpoint,
                )
                opened = [box.open(endpoint, s) for s in (row["secret_sealed"], row["previous_sealed"]) if s]
                assert opened == secrets
            org_box = KeyBox(key(master))
            for org_id, api_key in self.org_keys.items():
                sealed = await conn.fetchval("SELECT sealed FROM portal.org_keys WHERE org_id = $1::uuid", org_id)
                assert org_box.open(org_id, sealed) == api_key
        finally:
            await conn.close()

    async def rotate(self, current: str, *previous: str, **options: object) -> dict[str, rotation.Rotated]:
        conn = await asyncpg.connect(self.url)
        try:
            keys = rotation.Keys(key(current), tuple(key(p) for p in previous))
            return await rotation.rotate(conn, keys, **options)  # type: ignore[arg-type]
        finally:
            await conn.close()

    async def survey(self, current: str, *previous: str) -> dict[str, rotation.Count]:
        conn = await asyncpg.connect(self.url)
        try:
            keys = rotation.Keys(key(current), tuple(key(p) for p in previous))
            return await rotation.survey(conn, keys, await rotation.targets(conn))
        finally:
            await conn.close()


@pytest.fixture
async def world(stack) -> AsyncIterator[World]:  # type: ignore[no-untyped-def]
    name = f"rotation_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(stack.database_url)
    await admin.execute(f"CREATE DATABASE {name}")
    try:
        found = World(stack.database_url.rsplit("/", 1)[0] + f"/{name}")
        await found.build(A)
        yield found
    finally:
        await admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
        await admin.close()


# candidate keys: 5; webhook values per schema: 3 secrets + 1 previous secret; org keys: 2
EXPECTED = {
    "keyvault.candidate_keys": 5,
    "outcomes.webhook_endpoints": 4,
    "support.webhook_endpoints": 4,
    "portal.org_keys": 2,
    "portal.webhook_endpoints": 0,  # the plumbing tables are in every service's schema
}


async def test_a_rotation_rewraps_everything_after_which_the_new_key_alone_reads_it(world: World) -> None:
    await world.read_candidates(B, previous=(A,))  # a vault with B current and A previous
    report = await world.rotate(B, A, batch=2)
    assert {name: r.rewrapped for name, r in report.items()} == EXPECTED
    assert all(r.already_current == 0 and r.left_on_previous == 0 for r in report.values())
    await world.read(B)
    with pytest.raises(Unreadable):
        await world.read_candidates(A)
    with pytest.raises(InvalidTag):  # webhook secrets: not with A either (nor org keys: below)
        world.sealed = {}
        await world.read(A)
    assert (await world.survey(A))["portal.org_keys"].unreadable == 2
    again = await world.rotate(B, A)  # a rerun finds nothing left to do
    assert {name: (r.already_current, r.rewrapped) for name, r in again.items()} == {
        name: (n, 0) for name, n in EXPECTED.items()
    }


async def test_the_vault_wraps_new_keys_with_the_current_key_only(world: World) -> None:
    conn = await asyncpg.connect(world.url)
    try:
        during = Vault(key(B), (key(A),))
        async with conn.transaction():
            (fresh,) = (await during.keys(conn, ["cand_new"], create=True)).values()
        assert (await Vault(key(B)).key(conn, "cand_new")) == fresh
        with pytest.raises(Unreadable):
            await Vault(key(A)).key(conn, "cand_new")
    finally:
        await conn.close()


class Interrupted(Exception):
    pass


async def test_a_rotation_interrupted_between_batches_finishes_on_a_rerun(world: World) -> None:
    batches = 0

    async def crash_after_two(target: rotation.Target, rewrapped: int) -> None:
        nonlocal batches
        batches += 1
        if batches == 2:
            raise Interrupted

    with pytest.raises(Interrupted):
        await world.rotate(B, A, batch=2, on_batch=crash_after_two)
    halfway = await world.survey(B, A)
    assert halfway["keyvault.candidate_keys"].current == 4 and halfway["keyvault.candidate_keys"].previous == 1
    assert sum(c.previous for c in halfway.values()) == sum(EXPECTED.values()) - 4
    await world.read_candidates(B, previous=(A,))  # a vault given both keys reads both halves

    report = await world.rotate(B, A, batch=2)
    assert report["keyvault.candidate_keys"].already_current == 4
    assert sum(r.rewrapped for r in report.values()) == sum(EXPECTED.values()) - 4
    after = await world.survey(B)
    assert all(c.previous == 0 and c.unreadable == 0 for c in after.values())
    assert {name: c.current for name, c in after.items()} == EXPECTED
    await world.read(B)


async def test_a_wrong_previous_key_is_refused_and_nothing_changes(world: World) -> None:
    with pytest.raises(rotation.WrongMasterKey, match=r"keyvault.candidate_keys: 5.*Nothing was re-wrapped"):
        await world.rotate(B, C)
    with pytest.raises(rotation.WrongMasterKey):
        await world.rotate(B)  # no previous key at all
    await world.read(A)  # untouched


async def run(args: list[str]) -> Result:
    """The command as an operator runs it (its own event loop: in a thread beside the test's)."""
    return await asyncio.to_thread(CliRunner().invoke, cli, args)


async def test_the_command_reports_counts_and_checks_that_the_previous_key_can_go(
    world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DATABASE_URL", world.url)
    monkeypatch.setenv("TALENTLOOP_MASTER_KEY", B)
    monkeypatch.setenv("TALENTLOOP_MASTER_KEY_PREVIOUS", C)
    home = ["--home", str(tmp_path)]
    refused = await run(["keys", "rotate-master", *home])
    assert refused.exit_code == 1 and "Nothing was re-wrapped" in refused.output

    monkeypatch.setenv("TALENTLOOP_MASTER_KEY_PREVIOUS", f"{C},{A}")
    check = await run(["keys", "rotate-master", "--check", *home])
    assert check.exit_code == 1 and "still needed" in check.output  # nothing rotated yet

    done = await run(["keys", "rotate-master", "--batch", "3", *home])
    assert done.exit_code == 0, done.output
    assert "keyvault.candidate_keys" in done.output and "15 re-wrapped" in done.output

    monkeypatch.delenv("TALENTLOOP_MASTER_KEY_PREVIOUS")
    check = await run(["keys", "rotate-master", "--check", *home])
    assert check.exit_code == 0 and "the previous key is no longer needed" in check.output


async def test_a_key_wrapped_with_the_old_key_during_the_rotation_is_reported_and_a_rerun_takes_it(
    world: World,
) -> None:
    """A service still on the old key (not stopped, as docs/deploy.md asks) wraps a new candidate's
    key with it behind the rotation's position: the report says so, a rerun re-wraps it."""

    batches: list[str] = []

    async def old_writer(target: rotation.Target, rewrapped: int) -> None:
        batches.append(target.name)
        if batches == ["keyvault.candidate_keys"]:  # after the first batch: cand_0, cand_1
            conn = await asyncpg.connect(world.url)
            try:
                await Vault(key(A)).keys(conn, ["cand_00"], create=True)  # sorts before the position
            finally:
                await conn.close()

    report = await world.rotate(B, A, batch=2, on_batch=old_writer)
    assert report["keyvault.candidate_keys"].left_on_previous == 1
    again = await world.rotate(B, A)
    assert again["keyvault.candidate_keys"].rewrapped == 1
    assert all(r.left_on_previous == 0 for r in again.values())
