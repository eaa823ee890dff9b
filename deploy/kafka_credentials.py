"""The local broker's principals and their passwords, generated once per state directory.

`state_dir/kafka-credentials.json` (mode 0600) maps each Kafka username to its password: the
super-user the `talentloop` tool acts as, the controller's own user, one user per service and
one per partner with a Kafka adapter. A password is made the first time its user is asked for
and never changes afterwards, so a restarted broker, service or partner keeps working.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

from deploy.processes import file_lock

FILE_NAME = "kafka-credentials.json"

ADMIN = "talentloop-admin"  # super-user: topics, principals and ACLs, the operators' tools
CONTROLLER = "talentloop-controller"  # the broker's own user on its controller listener (SASL/PLAIN)


def service_user(service: str) -> str:
    return f"talentloop-{service.replace('_', '-')}"


def partner_user(partner_id: str) -> str:
    return f"partner-{partner_id}"


def credentials_file(state_dir: Path) -> Path:
    return Path(state_dir) / FILE_NAME


def _read(path: Path) -> dict[str, str]:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in doc.items()} if isinstance(doc, dict) else {}


def passwords(state_dir: Path, users: Iterable[str]) -> dict[str, str]:
    """The passwords of `users`, made (and stored) for those that have none yet."""
    path = credentials_file(state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    wanted = list(dict.fromkeys(users))
    known = _read(path)
    if all(u in known for u in wanted):
        return {u: known[u] for u in wanted}
    with file_lock(path.with_name(f".{FILE_NAME}.lock")):
        known = _read(path)
        # Letters and digits only: the password goes into JAAS and kafka-storage arguments unquoted.
        missing = {u: secrets.token_hex(24) for u in wanted if u not in known}
        if missing:
            known.update(missing)
            tmp = path.with_name(f".{FILE_NAME}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                json.dump(known, out, indent=2, sort_keys=True)
            os.replace(tmp, path)
    return {u: known[u] for u in wanted}


def known_users(state_dir: Path) -> set[str]:
    """The users that have a password (whether or not the broker has them yet)."""
    return set(_read(credentials_file(state_dir)))


def password(state_dir: Path, user: str) -> str:
    return passwords(state_dir, [user])[user]
