"""The local network's principals and their API keys.

`talentloop up` creates one operator, three partners and three employers the first time it
runs against a state directory, with every scope. The plaintext keys go to keys.json (mode
0600) for the demo and for you to use with curl; the database gets only their hashes
(plumbing/apikeys.py), stored once: a key revoked or rotated since keeps that state.
"""

from __future__ import annotations

import json
from pathlib import Path

import asyncpg

from plumbing import apikeys
from plumbing.auth import ALL_SCOPES, InvalidKey, Principal, format_key, new_key_id, new_secret, parse_key

PARTNERS = ("northside-tech-collective", "riverbend-community-college", "forge-coding-bootcamp")
EMPLOYERS = ("civic-data-labs", "harborview-health", "bluewave-fintech")
OPERATOR = "coalition-ops"
SEED_LABEL = "seeded by talentloop up"


def principals() -> list[Principal]:
    return [
        Principal("operator", OPERATOR),
        *(Principal("partner", p) for p in PARTNERS),
        *(Principal("employer", e) for e in EMPLOYERS),
    ]


def keys_file(state_dir: Path) -> Path:
    return state_dir / "keys.json"


def _current(path: Path) -> list[dict] | None:
    """keys.json's entries, unless it is missing or from before database keys (no key id)."""
    if not path.exists():
        return None
    doc = json.loads(path.read_text())
    try:
        for entry in doc:
            parse_key(entry["key"])
    except (InvalidKey, KeyError, TypeError):
        return None
    return doc


def _write(path: Path, doc: list[dict]) -> None:
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(json.dumps(doc, indent=2))


def ensure(state_dir: Path) -> Path:
    """Create the demo principals' keys once (keys.json, mode 0600); return the file."""
    path = keys_file(state_dir)
    if _current(path) is None:
        doc = [
            {"kind": p.kind, "id": p.id, "key": format_key(p.kind, new_key_id(), new_secret())} for p in principals()
        ]
        _write(path, doc)
    return path


async def seed(database_url: str, state_dir: Path) -> int:
    """Store keys.json's keys in the database (hashed, every scope) if they are not there yet;
    return how many were new."""
    ensure(state_dir)
    conn = await asyncpg.connect(database_url)
    try:
        await apikeys.ensure_schema(conn)
    finally:
        await conn.close()
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    try:
        store = apikeys.ApiKeys(pool)
        added = 0
        for entry in json.loads(keys_file(state_dir).read_text()):
            added += await store.seed(entry["key"], entry["kind"], entry["id"], ALL_SCOPES, SEED_LABEL)
        return added
    finally:
        await pool.close()


def replace_key(state_dir: Path, old_key_id: str, new_key: str) -> bool:
    """After a rotation: put the new key in keys.json in place of the old one, if it is there."""
    path = keys_file(state_dir)
    doc = _current(path) or []
    for entry in doc:
        if parse_key(entry["key"]).key_id == old_key_id:
            entry["key"] = new_key
            _write(path, doc)
            return True
    return False


def load_keys(state_dir: Path) -> dict[str, str]:
    """principal ref ('partner:forge-coding-bootcamp') -> plaintext key."""
    doc = json.loads(keys_file(state_dir).read_text())
    return {f"{k['kind']}:{k['id']}": k["key"] for k in doc}
