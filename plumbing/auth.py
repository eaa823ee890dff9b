"""Bearer keys -> principals (partner, employer or operator). Keys are stored hashed."""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from fastapi import Request

from plumbing.problems import Problem

Kind = Literal["partner", "employer", "operator"]


@dataclass(frozen=True)
class Principal:
    kind: Kind
    id: str

    @property
    def ref(self) -> str:
        return f"{self.kind}:{self.id}"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key(kind: Kind) -> str:
    return f"tl_{kind[:3]}_{secrets.token_urlsafe(24)}"


class KeyRing:
    """Maps a presented key to its principal by the key's SHA-256; plaintext is never kept."""

    def __init__(self, principals_by_hash: dict[str, Principal]) -> None:
        self._by_hash = principals_by_hash

    @classmethod
    def load(cls, path: Path | None) -> KeyRing:
        if path is None or not path.exists():
            return cls({})
        doc = json.loads(path.read_text())
        return cls({k["sha256"]: Principal(k["kind"], k["id"]) for k in doc["keys"]})

    def lookup(self, key: str) -> Principal | None:
        return self._by_hash.get(hash_key(key))


def write_keyring(path: Path, keys: dict[str, Principal]) -> None:
    """Store the hashes of `keys` (plaintext -> principal) as a credentials file."""
    doc = {"keys": [{"sha256": hash_key(k), "kind": p.kind, "id": p.id} for k, p in keys.items()]}
    path.write_text(json.dumps(doc, indent=2))
    path.chmod(0o600)


def principal(request: Request) -> Principal:
    """FastAPI dependency: the caller, or 401."""
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    found = request.app.state.keyring.lookup(key.strip()) if scheme.lower() == "bearer" and key else None
    if found is None:
        problem = Problem(401, "unauthorized", "Unauthorized", "send 'Authorization: Bearer <your API key>'")
        problem.headers["WWW-Authenticate"] = "Bearer"
        raise problem
    return found


def require(who: Principal, *kinds: Kind) -> None:
    if who.kind not in kinds:
        raise Problem(403, "forbidden", "Forbidden", f"this route is for {' or '.join(kinds)} credentials")
