"""Per-candidate encryption keys (crypto-shredding) and sealing of personal data.

Every candidate gets a random 256-bit key. Personal data (contact details, demographics)
is sealed with it (AES-256-GCM) before it is stored or published, so the database and
Kafka only ever hold ciphertext. Candidate keys are kept in the `keyvault` schema,
wrapped (encrypted) with the network's master key; erasure deletes the candidate's key,
which makes every copy of their data unreadable, including copies on Kafka topics and in
backups that no service can reach to delete.

The associated data binds each ciphertext to its key id and its purpose, so a sealed
contact cannot be passed off as another candidate's or as demographics.

The master key can be rotated (talentloop/master_rotation.py, docs/deploy.md): a vault wraps
with its current master key only and unwraps with the current one or any previous one it is
given, so data wrapped before a rotation stays readable until the rotation has re-wrapped it.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from contracts.events import Sealed

SCHEMA_SQL = """
CREATE SCHEMA IF NOT EXISTS keyvault;
CREATE TABLE IF NOT EXISTS keyvault.candidate_keys (
    candidate_id text PRIMARY KEY,
    version      int         NOT NULL DEFAULT 1,
    wrapped      bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
"""


class Unreadable(Exception):
    """The key is gone (erased) or the ciphertext does not match it."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def parse_master_key(text: str) -> bytes:
    """The master key as configured: 32 bytes, base64url (`talentloop up` generates one)."""
    try:
        key = _unb64(text.strip())
    except ValueError:
        key = b""
    if len(key) != 32:
        raise ValueError("TALENTLOOP_MASTER_KEY must be 32 random bytes, base64url-encoded")
    return key


def parse_previous_master_keys(text: str | None) -> tuple[bytes, ...]:
    """TALENTLOOP_MASTER_KEY_PREVIOUS: comma-separated master keys that still unwrap (never wrap)."""
    try:
        return tuple(parse_master_key(part) for part in (text or "").split(",") if part.strip())
    except ValueError:
        raise ValueError(
            "TALENTLOOP_MASTER_KEY_PREVIOUS must be master keys (32 bytes, base64url), comma-separated"
        ) from None


def new_master_key() -> str:
    return _b64(os.urandom(32))


def candidate_of(sealed: Sealed) -> str:
    """Whose key sealed it (a kid is `<candidate id>#<key version>`)."""
    return sealed.kid.rsplit("#", 1)[0]


# What `json.dumps(data, separators=(",", ":"), sort_keys=True, default=str)` writes, with
# the encoder made once: its construction cost as much as encoding a contact.
_PLAINTEXT = json.JSONEncoder(separators=(",", ":"), sort_keys=True, default=str)


@dataclass(frozen=True)
class CandidateKey:
    candidate_id: str
    version: int
    secret: bytes
    # The cipher set up once per key, not once per seal: an import seals each person's
    # contact and demographics with the same key, and setting up AES-GCM costs about as
    # much as sealing a contact. Not part of the key's identity.
    _aead: AESGCM = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_aead", AESGCM(self.secret))

    @property
    def kid(self) -> str:
        return f"{self.candidate_id}#{self.version}"

    def seal(self, data: dict[str, Any], purpose: str) -> Sealed:
        nonce = os.urandom(12)
        kid = self.kid
        plaintext = _PLAINTEXT.encode(data).encode()
        ciphertext = self._aead.encrypt(nonce, plaintext, f"{kid}|{purpose}".encode())
        return Sealed(kid=kid, nonce=_b64(nonce), ciphertext=_b64(ciphertext))

    def open(self, sealed: Sealed, purpose: str) -> dict[str, Any]:
        if sealed.kid != self.kid:
            raise Unreadable(f"sealed with {sealed.kid}, not {self.kid}")
        try:
            plaintext = self._aead.decrypt(
                _unb64(sealed.nonce), _unb64(sealed.ciphertext), f"{sealed.kid}|{purpose}".encode()
            )
        except InvalidTag:
            raise Unreadable("ciphertext does not match the key") from None
        return json.loads(plaintext)


class KeyWrap:
    """A candidate key wrapped with one master key: nonce + AES-256-GCM, the candidate's id as
    associated data (a wrapped key cannot be moved to another candidate's row)."""

    def __init__(self, master_key: bytes) -> None:
        self._aead = AESGCM(master_key)

    def seal(self, candidate_id: str, secret: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, secret, candidate_id.encode())

    def open(self, candidate_id: str, wrapped: bytes) -> bytes:
        try:
            return self._aead.decrypt(wrapped[:12], wrapped[12:], candidate_id.encode())
        except InvalidTag:
            raise Unreadable(f"the key of {candidate_id} is not wrapped with this master key") from None


class Vault:
    """Candidate keys, wrapped with the master key; reads and writes on the caller's connection,
    so creating a key commits with the data it protects. `previous` master keys only unwrap:
    during a rotation, keys not yet re-wrapped under the current one stay readable."""

    def __init__(self, master_key: bytes, previous: tuple[bytes, ...] = ()) -> None:
        self._current = KeyWrap(master_key)
        self._unwrappers = (self._current, *(KeyWrap(k) for k in previous if k != master_key))

    @classmethod
    def configured(cls, master_key: str, previous: str | None = None) -> Vault:
        """From TALENTLOOP_MASTER_KEY and TALENTLOOP_MASTER_KEY_PREVIOUS as configured."""
        return cls(parse_master_key(master_key), parse_previous_master_keys(previous))

    @staticmethod
    async def ensure_schema(conn: asyncpg.Connection) -> None:
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('keyvault'))")
        await conn.execute(SCHEMA_SQL)

    def _wrap(self, candidate_id: str, secret: bytes) -> bytes:
        return self._current.seal(candidate_id, secret)

    def _unwrap(self, candidate_id: str, version: int, wrapped: bytes) -> CandidateKey:
        for wrap in self._unwrappers:
            try:
                return CandidateKey(candidate_id, version, wrap.open(candidate_id, wrapped))
            except Unreadable:
                continue
        raise Unreadable(f"the key of {candidate_id} is not wrapped with this master key (nor a previous one)")

    async def keys(
        self, conn: asyncpg.Connection, candidate_ids: list[str], create: bool = False
    ) -> dict[str, CandidateKey]:
        """The keys of these candidates; with `create`, a new key for each that has none."""
        wanted = sorted(set(candidate_ids))
        if create and wanted:
            await conn.execute(
                "INSERT INTO keyvault.candidate_keys (candidate_id, wrapped)"
                " SELECT * FROM unnest($1::text[], $2::bytea[]) ON CONFLICT DO NOTHING",
                wanted,
                [self._wrap(c, os.urandom(32)) for c in wanted],
            )
        rows = await conn.fetch(
            "SELECT candidate_id, version, wrapped FROM keyvault.candidate_keys WHERE candidate_id = ANY($1::text[])",
            wanted,
        )
        return {r["candidate_id"]: self._unwrap(r["candidate_id"], r["version"], r["wrapped"]) for r in rows}

    async def key(self, conn: asyncpg.Connection, candidate_id: str) -> CandidateKey | None:
        return (await self.keys(conn, [candidate_id])).get(candidate_id)

    async def open(self, conn: asyncpg.Connection, candidate_id: str, sealed: Sealed, purpose: str) -> dict[str, Any]:
        key = await self.key(conn, candidate_id)
        if key is None:
            raise Unreadable(f"no key for {candidate_id} (erased?)")
        return key.open(sealed, purpose)

    @staticmethod
    async def destroy(conn: asyncpg.Connection, candidate_id: str) -> bool:
        """Crypto-shred: without its key, every sealed copy of the candidate's data is noise."""
        return (
            await conn.fetchval(
                "DELETE FROM keyvault.candidate_keys WHERE candidate_id = $1 RETURNING true", candidate_id
            )
            is True
        )
