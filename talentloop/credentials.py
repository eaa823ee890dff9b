"""The local network's principals and their API keys.

`talentloop up` creates one operator, three partners and three employers the first time it
runs against a state directory. Services get only the hashes (credentials.json); the
plaintext keys go to keys.json (mode 0600) for the demo and for you to use with curl.
"""

from __future__ import annotations

import json
from pathlib import Path

from plumbing.auth import Principal, new_key, write_keyring

PARTNERS = ("northside-tech-collective", "riverbend-community-college", "forge-coding-bootcamp")
EMPLOYERS = ("civic-data-labs", "harborview-health", "bluewave-fintech")
OPERATOR = "coalition-ops"


def ensure(state_dir: Path) -> Path:
    """Create credentials once; return the hashed credentials file the services read."""
    hashed, plain = state_dir / "credentials.json", state_dir / "keys.json"
    if hashed.exists() and plain.exists():
        return hashed
    principals = [Principal("operator", OPERATOR)]
    principals += [Principal("partner", p) for p in PARTNERS]
    principals += [Principal("employer", e) for e in EMPLOYERS]
    keys = {new_key(p.kind): p for p in principals}
    write_keyring(hashed, keys)
    plain.write_text(json.dumps([{"kind": p.kind, "id": p.id, "key": k} for k, p in keys.items()], indent=2))
    plain.chmod(0o600)
    return hashed


def load_keys(state_dir: Path) -> dict[str, str]:
    """principal ref ('partner:forge-coding-bootcamp') -> plaintext key."""
    doc = json.loads((state_dir / "keys.json").read_text())
    return {f"{k['kind']}:{k['id']}": k["key"] for k in doc}
