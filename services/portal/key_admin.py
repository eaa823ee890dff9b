"""An organisation admin's machine keys (docs/portals.md, "API keys"): listed, issued, rotated
and revoked in the shared key store (plumbing/apikeys.py), for the organisation's own principal
only, so no id typed into a URL reaches another organisation's keys. The portal's own key for
the organisation (machine_keys.py) is listed but neither revoked nor rotated here: revoking it
would cut the portal off, and every portal process keeps the key it opened, so a rotation would
cut them off when the old key's grace ends."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import timedelta

from plumbing import apikeys
from plumbing.auth import KIND_TAGS, Kind
from services.portal import store
from services.portal.application import Portal, Refused
from services.portal.domain import PRINCIPAL_KIND, Member
from services.portal.messages import N_

SCOPES = {"read": N_("Read"), "write": N_("Write"), "webhooks": N_("Webhooks")}
KEY_STATUSES = {"active": N_("Active"), "expired": N_("Expired"), "revoked": N_("Revoked")}
EXPIRIES = (0, 30, 90, 365)  # days a new key lives; 0: until revoked
# How long a rotated key keeps working beside its successor, in hours; 0: revoked at once.
GRACES = {0: N_("At once"), 24: N_("After 24 hours"), 168: N_("After 7 days")}
LABEL_MAX = 200
MESSAGES = {
    "bad_label": N_("Say what the key is for, in 1 to 200 characters."),
    "bad_scopes": N_("Choose at least one permission."),
    "bad_expiry": N_("Choose how long the key lives."),
    "portal_key": N_("This is the key the portal itself acts with for your organisation: it cannot be revoked here."),
    "already_revoked": N_("This key was already revoked."),
    "portal_key_rotation": N_(
        "This is the key the portal itself acts with for your organisation: it cannot be rotated here."
    ),
    "not_rotatable": N_("Only an active key not rotated before can be rotated. Make a new key instead."),
    "bad_grace": N_("Choose when the old key stops working."),
}


class NotOurs(Exception):
    """Not a key of the organisation (or no key at all): the page answers 404 either way."""


@dataclass(frozen=True)
class Owner:
    kind: Kind
    principal_id: str
    portal_key_id: str | None  # the portal's own key for the organisation, once issued

    def prefix(self, key_id: str) -> str:
        """How the key's plaintext starts (`tl_par_key_…_`): enough to recognise it, not to use it."""
        return f"tl_{KIND_TAGS[self.kind]}_{key_id}_"


def _store(p: Portal) -> apikeys.ApiKeys:
    assert p.services is not None
    return p.services.keys.keys


async def owner_of(p: Portal, member: Member) -> Owner:
    org = await store.org(p.pool, member.org_id)
    assert org is not None
    portal_key = await p.pool.fetchval("SELECT key_id FROM org_keys WHERE org_id = $1::uuid", member.org_id)
    return Owner(PRINCIPAL_KIND[org["kind"]], org["tenant_id"], portal_key)


def _admin(member: Member) -> None:
    if not member.may_manage_users:
        raise Refused("not_allowed")


async def keys(p: Portal, member: Member) -> tuple[Owner, list[apikeys.KeyInfo]]:
    """The organisation's keys, newest first (never a secret: the store keeps only hashes)."""
    _admin(member)
    owner = await owner_of(p, member)
    return owner, await _store(p).list(owner.kind, owner.principal_id)


async def issue(p: Portal, member: Member, label: str, scopes: list[str], expires_in_days: int) -> apikeys.Issued:
    """A new key of the organisation: the only copy of its plaintext is in the answer."""
    _admin(member)
    label = label.strip()
    if not 1 <= len(label) <= LABEL_MAX:
        raise Refused("bad_label")
    chosen = sorted(set(scopes))
    if not chosen or any(s not in SCOPES for s in chosen):
        raise Refused("bad_scopes")
    if expires_in_days not in EXPIRIES:
        raise Refused("bad_expiry")
    owner = await owner_of(p, member)
    expires = p.clock() + timedelta(days=expires_in_days) if expires_in_days else None
    issued = await _store(p).issue(owner.kind, owner.principal_id, chosen, label=label, expires_at=expires)
    await store.audit(
        p.pool,
        "key_issued",
        org_id=member.org_id,
        user_id=member.user_id,
        target=issued.info.key_id,
        detail={"scopes": chosen, "expires_in_days": expires_in_days},
    )
    return issued


async def _ours(p: Portal, member: Member, key_id: str, portal_key_refusal: str) -> None:
    """NotOurs unless the key is the organisation's; Refused when it is the portal's own."""
    _admin(member)
    owner = await owner_of(p, member)
    info = await _store(p).get(key_id)
    if info is None or (info.kind, info.principal_id) != (owner.kind, owner.principal_id):
        raise NotOurs(key_id)
    if key_id == owner.portal_key_id:
        raise Refused(portal_key_refusal)


async def rotate(p: Portal, member: Member, key_id: str, grace_hours: int) -> tuple[apikeys.Issued, apikeys.KeyInfo]:
    """A successor with the same label, permissions and lifetime (plumbing/apikeys.py `rotate`:
    the lifetime counts again from now); the old key keeps working `grace_hours` beside it
    (never past its own expiry), or is revoked at once. The new key's plaintext is in the answer
    only; the old key as it is now beside it."""
    if grace_hours not in GRACES:
        _admin(member)
        raise Refused("bad_grace")
    await _ours(p, member, key_id, "portal_key_rotation")
    keys = _store(p)
    try:
        new, old = await keys.rotate(key_id, grace_s=grace_hours * 3600)
    except apikeys.KeyConflict:
        raise Refused("not_rotatable") from None
    if not grace_hours:
        # Expired as of now already; revoked too, so the list and the services say so.
        with contextlib.suppress(apikeys.KeyConflict):  # revoked meanwhile by another admin
            old = await keys.revoke(key_id)
    await store.audit(
        p.pool,
        "key_rotated",
        org_id=member.org_id,
        user_id=member.user_id,
        target=key_id,
        detail={"new_key": new.info.key_id, "grace_hours": grace_hours},
    )
    return new, old


async def revoke(p: Portal, member: Member, key_id: str) -> apikeys.KeyInfo:
    await _ours(p, member, key_id, "portal_key")
    try:
        revoked = await _store(p).revoke(key_id)
    except apikeys.KeyConflict:
        raise Refused("already_revoked") from None
    await store.audit(p.pool, "key_revoked", org_id=member.org_id, user_id=member.user_id, target=key_id)
    return revoked
