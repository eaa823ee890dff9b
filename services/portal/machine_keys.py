"""The API key the portal acts on the services with for one organisation (docs/portals.md).

Each organisation gets its own key of its own principal (`partner:<tenant id>`,
`employer:<tenant id>`, `operator:<tenant id>`), issued by the portal into the shared key
store (plumbing/apikeys.py) with the `read`, `write` and `webhooks` scopes (the last for the
admins' webhook endpoints page, pages_webhooks.py) and kept in the portal's
schema sealed with the network's master key (AES-256-GCM, the organisation's id as associated
data, so a sealed key cannot be moved to another organisation's row). The services then
decide tenancy exactly as for any API caller: a bug in the portal cannot show one
organisation another's referrals, because the key it calls with cannot see them.
"""

from __future__ import annotations

import os

import asyncpg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from plumbing import apikeys
from services.portal import store
from services.portal.domain import PRINCIPAL_KIND

SCOPES = ("read", "write", "webhooks")


class KeyBox:
    """Seals with the current master key; opens with it or with a previous one
    (TALENTLOOP_MASTER_KEY_PREVIOUS), so the portal keeps working while
    `talentloop keys rotate-master` re-wraps its rows."""

    def __init__(self, master_key: bytes, previous: tuple[bytes, ...] = ()) -> None:
        self._aead = AESGCM(master_key)
        self._openers = (self._aead, *(AESGCM(k) for k in previous if k != master_key))

    @staticmethod
    def _aad(org_id: str) -> bytes:
        return f"portal-org-key|{org_id}".encode()

    def seal(self, org_id: str, key: str) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, key.encode(), self._aad(org_id))

    def open(self, org_id: str, sealed: bytes) -> str:
        for aead in self._openers:
            try:
                return aead.decrypt(sealed[:12], sealed[12:], self._aad(org_id)).decode()
            except InvalidTag:
                continue
        raise RuntimeError(f"the machine key of organisation {org_id} opens with no master key given")


class MachineKeys:
    """Each organisation's key, issued on first use; opened keys are kept in this process."""

    def __init__(self, pool: asyncpg.Pool, keys: apikeys.ApiKeys, box: KeyBox) -> None:
        self.pool = pool
        self.keys = keys
        self.box = box
        self._open: dict[str, str] = {}

    async def key_for(self, org_id: str) -> str:
        if org_id in self._open:
            return self._open[org_id]
        sealed = await store.org_key(self.pool, org_id)
        if sealed is None:
            org = await store.org(self.pool, org_id)
            if org is None:
                raise LookupError(org_id)
            issued = await self.keys.issue(
                PRINCIPAL_KIND[org["kind"]], org["tenant_id"], SCOPES, label=f"portal: {org['name']}"[:200]
            )
            if not await store.put_org_key(self.pool, org_id, issued.info.key_id, self.box.seal(org_id, issued.key)):
                await self.keys.revoke(issued.info.key_id)  # another portal process stored one first
            sealed = await store.org_key(self.pool, org_id)
            assert sealed is not None
        key = self.box.open(org_id, sealed)
        self._open[org_id] = key
        return key
