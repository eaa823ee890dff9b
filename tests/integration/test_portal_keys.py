"""An organisation admin's API keys in the portal on real PostgreSQL (docs/portals.md, "API
keys"): made (the key shown once, then only its prefix), listed with their permissions, used,
rotated (the old key kept for the grace chosen, or revoked at once) and revoked in the shared
key store the services authenticate with; the portal's own key neither revocable nor
rotatable; staff and read-only users refused; another organisation's key 404; CSRF required."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from plumbing import apikeys
from plumbing.auth import InvalidKey, parse_key
from tests.support.portal import Browser, fresh_schema, member, running_portal

pytestmark = pytest.mark.integration
NEW_KEY = re.compile(r'id="new-key"[^>]*>(tl_par_key_[0-9a-f]{20}_[^<]+)</textarea>')


@pytest.fixture
async def schema(stack):  # type: ignore[no-untyped-def]
    async with fresh_schema(stack.database_url) as name:
        yield name


async def test_an_admin_makes_uses_and_revokes_a_key_of_their_organisation_only(stack, schema) -> None:  # type: ignore[no-untyped-def]
    async with running_portal(stack.database_url, schema) as app:
        pool = app.state.pool
        admin = await member(pool, "partner", "keys-alpha", "admin")
        other = await member(pool, "partner", "keys-beta", "admin")
        store = apikeys.ApiKeys(pool, cache_s=0)
        portal_key = await app.state.portal_app.services.keys.key_for(admin["org_id"])  # the portal's own
        async with Browser(app) as browser:
            await browser.sign_in(admin["email"])
            made = await browser.post(
                "/keys",
                {"label": "our CRM", "scopes": ["read", "webhooks"], "expires_in_days": "90"},
                "/keys",
            )
            assert made.status_code == 201, made.text[:500]
            key = NEW_KEY.search(made.text).group(1)  # type: ignore[union-attr]
            who = await store.authenticate(key)
            assert (who.kind, who.id, sorted(who.scopes)) == ("partner", "keys-alpha", ["read", "webhooks"])
            key_id = who.key_id
            listed = await browser.http.get("/keys")
            assert listed.status_code == 200 and 'href="/keys" aria-current="page"' in listed.text
            assert key not in listed.text and parse_key(key).secret not in listed.text  # shown once
            row = re.search(rf'<tr data-key="{key_id}" data-status="active">.*?</tr>', listed.text, re.S)
            assert row and f"tl_par_key_{key_id[4:]}_" in row.group(0) and "Read, Webhooks" in row.group(0)
            assert "our CRM" in row.group(0) and f"/keys/{key_id}/revoke" in row.group(0)
            portal_row = re.search(
                r'<tr data-key="(key_[0-9a-f]+)" data-status="active">(?:(?!</tr>).)*?'
                r"The portal&#39;s own key",
                listed.text,
                re.S,
            )
            assert portal_row and portal_row.group(1) == apikeys_id(portal_key)

            # Nothing without the form's token.
            refused = await browser.http.post(f"/keys/{key_id}/revoke", data={})
            assert refused.status_code == 403 and "did not come from this site" in refused.text
            assert (await browser.http.post("/keys", data={"label": "x", "scopes": "read"})).status_code == 403
            assert len(await store.list("partner", "keys-alpha")) == 2  # the portal's and ours

            # The portal's own key stays: revoking it would cut the portal off.
            kept = await browser.post(f"/keys/{apikeys_id(portal_key)}/revoke", {}, "/keys")
            assert kept.status_code == 409 and "cannot be revoked here" in kept.text
            assert (await store.authenticate(portal_key)).id == "keys-alpha"

            # Another organisation's key, and one that does not exist: 404, and it still works.
            async with Browser(app) as theirs:
                await theirs.sign_in(other["email"])
                their_key = NEW_KEY.search(
                    (await theirs.post("/keys", {"label": "b", "scopes": "read"}, "/keys")).text
                ).group(1)  # type: ignore[union-attr]
                assert key_id not in (await theirs.http.get("/keys")).text
            for foreign in (apikeys_id(their_key), "key_00000000000000000000", "../keys"):
                r = await browser.post(f"/keys/{foreign}/revoke", {}, "/keys")
                assert r.status_code == 404, (foreign, r.status_code)
            assert (await store.authenticate(their_key)).id == "keys-beta"
            assert apikeys_id(their_key) not in (await browser.http.get("/keys")).text

            # A form the rules refuse says why, and makes nothing.
            for data, words in (
                ({"label": " ", "scopes": "read"}, "1 to 200 characters"),
                ({"label": "x"}, "at least one permission"),
                ({"label": "x", "scopes": "admin"}, "at least one permission"),
                ({"label": "x", "scopes": "read", "expires_in_days": "7"}, "how long the key lives"),
            ):
                r = await browser.post("/keys", data, "/keys")
                assert r.status_code == 422 and words in r.text, (data, r.status_code)
            assert len(await store.list("partner", "keys-alpha")) == 2

            revoked = await browser.post(f"/keys/{key_id}/revoke", {}, "/keys")
            assert revoked.status_code == 303 and revoked.headers["location"] == f"/keys?revoked={key_id}"
            with pytest.raises(InvalidKey, match="revoked"):
                await store.authenticate(key)
            shown = (await browser.http.get(revoked.headers["location"])).text
            assert f'<tr data-key="{key_id}" data-status="revoked">' in shown and f"/keys/{key_id}/revoke" not in shown
            again = await browser.post(f"/keys/{key_id}/revoke", {}, "/keys")
            assert again.status_code == 409 and "already revoked" in again.text

            await browser.post("/language", {"language": "es", "next": "/keys"}, "/keys")
            spanish = (await browser.http.get("/keys")).text
            assert "Claves de API" in spanish and "Revocada" in spanish

        audit = await pool.fetch(
            "SELECT action, target FROM audit WHERE user_id = $1::uuid AND action LIKE 'key_%' ORDER BY audit_id",
            admin["user_id"],
        )
        assert [(a["action"], a["target"]) for a in audit] == [("key_issued", key_id), ("key_revoked", key_id)]


async def test_staff_and_read_only_users_neither_see_nor_make_nor_revoke_keys(stack, schema) -> None:  # type: ignore[no-untyped-def]
    async with running_portal(stack.database_url, schema) as app:
        pool = app.state.pool
        admin = await member(pool, "employer", "keys-gamma", "admin")
        store = apikeys.ApiKeys(pool, cache_s=0)
        issued = await store.issue("employer", "keys-gamma", ["read"], label="theirs")
        for role in ("staff", "read_only"):
            user = await member(pool, "employer", "keys-gamma", role)
            async with Browser(app) as browser:
                await browser.sign_in(user["email"])
                page = await browser.http.get("/keys")
                assert page.status_code == 403 and 'href="/keys"' not in page.text  # nor in the menu
                made = await browser.post("/keys", {"label": "x", "scopes": "read"}, "/sign-in")
                gone = await browser.post(f"/keys/{issued.info.key_id}/revoke", {}, "/sign-in")
                turned = await browser.post(f"/keys/{issued.info.key_id}/rotate", {"grace_hours": "0"}, "/sign-in")
                assert (made.status_code, gone.status_code, turned.status_code) == (403, 403, 403), role
        assert [k.key_id for k in await store.list("employer", "keys-gamma")] == [issued.info.key_id]
        assert (await store.authenticate(issued.key)).id == "keys-gamma"
        async with Browser(app) as browser:
            await browser.sign_in(admin["email"])
            assert 'href="/keys" aria-current="page"' in (await browser.http.get("/keys")).text


async def test_an_admin_rotates_a_key_keeping_the_old_one_for_the_grace_chosen_or_not_at_all(stack, schema) -> None:  # type: ignore[no-untyped-def]
    async with running_portal(stack.database_url, schema) as app:
        pool = app.state.pool
        admin = await member(pool, "partner", "keys-delta", "admin")
        other = await member(pool, "partner", "keys-epsilon", "admin")
        store = apikeys.ApiKeys(pool, cache_s=0)
        portal_key = await app.state.portal_app.services.keys.key_for(admin["org_id"])
        async with Browser(app) as browser:
            await browser.sign_in(admin["email"])
            made = await browser.post(
                "/keys", {"label": "nightly export", "scopes": ["read", "write"], "expires_in_days": "90"}, "/keys"
            )
            old_key = NEW_KEY.search(made.text).group(1)  # type: ignore[union-attr]
            old_id = apikeys_id(old_key)
            listed = (await browser.http.get("/keys")).text
            assert f'id="rotate-{old_id}"' in listed and f'id="rotate-{apikeys_id(portal_key)}"' not in listed

            no_token = await browser.http.post(f"/keys/{old_id}/rotate", data={"grace_hours": "24"})
            assert no_token.status_code == 403
            bad = await browser.post(f"/keys/{old_id}/rotate", {"grace_hours": "5"}, "/keys")
            assert bad.status_code == 422 and "when the old key stops working" in bad.text
            assert len(await store.list("partner", "keys-delta")) == 2  # nothing made

            rotated = await browser.post(f"/keys/{old_id}/rotate", {"grace_hours": "24"}, "/keys")
            assert rotated.status_code == 201, rotated.text[:500]
            new_key = NEW_KEY.search(rotated.text).group(1)  # type: ignore[union-attr]
            assert (
                'id="rotated"' in rotated.text and f"replaces key {old_id}, which keeps working until" in rotated.text
            )
            new, old = await store.authenticate(new_key), await store.authenticate(old_key)  # both work, for now
            assert (new.kind, new.id, sorted(new.scopes)) == ("partner", "keys-delta", ["read", "write"])
            assert old.key_id == old_id
            new_info, old_info = await store.get(new.key_id), await store.get(old_id)
            assert new_info and old_info and new_info.label == "nightly export" and old_info.replaced_by == new.key_id
            lifetime = new_info.expires_at - new_info.created_at  # type: ignore[operator]
            assert abs(lifetime - timedelta(days=90)) < timedelta(minutes=1)  # counted again from now
            grace = old_info.expires_at - new_info.created_at  # type: ignore[operator]
            assert timedelta(hours=23) < grace <= timedelta(hours=24)
            shown = (await browser.http.get("/keys")).text
            assert new_key not in shown and f"Replaced by {new.key_id}" in shown
            assert f'id="rotate-{old_id}"' not in shown and f'id="rotate-{new.key_id}"' in shown
            again = await browser.post(f"/keys/{old_id}/rotate", {"grace_hours": "24"}, "/keys")
            assert again.status_code == 409 and "not rotated before" in again.text

            # At once: the old key is revoked with the answer, the new one works.
            at_once = await browser.post(f"/keys/{new.key_id}/rotate", {"grace_hours": "0"}, "/keys")
            assert at_once.status_code == 201 and "which was revoked" in at_once.text
            newest = NEW_KEY.search(at_once.text).group(1)  # type: ignore[union-attr]
            with pytest.raises(InvalidKey, match="revoked"):
                await store.authenticate(new_key)
            assert (await store.authenticate(newest)).scopes == frozenset({"read", "write"})
            shown = (await browser.http.get("/keys")).text
            assert f'<tr data-key="{new.key_id}" data-status="revoked">' in shown

            # The portal's own key stays as it is; another organisation's key is not found.
            kept = await browser.post(f"/keys/{apikeys_id(portal_key)}/rotate", {"grace_hours": "0"}, "/keys")
            assert kept.status_code == 409 and "cannot be rotated here" in kept.text
            assert (await store.get(apikeys_id(portal_key))).replaced_by is None  # type: ignore[union-attr]
            theirs = await store.issue("partner", "keys-epsilon", ["read"], label="theirs")
            for foreign in (theirs.info.key_id, "key_00000000000000000000"):
                r = await browser.post(f"/keys/{foreign}/rotate", {"grace_hours": "24"}, "/keys")
                assert r.status_code == 404, foreign
            assert (await store.get(theirs.info.key_id)).replaced_by is None  # type: ignore[union-attr]
            assert len(await store.list("partner", "keys-epsilon")) == 1 and other

            await browser.post("/language", {"language": "es", "next": "/keys"}, "/keys")
            spanish = (await browser.http.get("/keys")).text
            assert "Rotar la clave" in spanish and f"Sustituida por {new.key_id}" in spanish

        audit = await pool.fetch(
            "SELECT action, target, detail FROM audit WHERE user_id = $1::uuid AND action = 'key_rotated'"
            " ORDER BY audit_id",
            admin["user_id"],
        )
        assert [(a["action"], a["target"]) for a in audit] == [("key_rotated", old_id), ("key_rotated", new.key_id)]
        assert '"grace_hours": 24' in audit[0]["detail"] and new.key_id in audit[0]["detail"]


def apikeys_id(key: str) -> str:
    return "key_" + key.split("_")[3]
