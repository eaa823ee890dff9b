"""The local network's demo organisations and users (`talentloop up` asks for them with
TALENTLOOP_PORTAL_DEMO_USERS): one organisation per demo principal of talentloop/credentials.py,
an admin in each and a staff member and a read-only user at the nonprofit. Passwords are
generated once per state directory into that file (mode 0600), which `talentloop up` and the
demo print; a user already there is left as it is."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import asyncpg

from services.portal import passwords, store

DEMO_ORGS = (
    ("operators", "coalition-ops", "Coalition operators"),
    ("partner", "northside-tech-collective", "Northside Tech Collective"),
    ("training_provider", "riverbend-community-college", "Riverbend Community College"),
    ("training_provider", "forge-coding-bootcamp", "Forge Coding Bootcamp"),
    ("employer", "civic-data-labs", "Civic Data Labs"),
    ("employer", "harborview-health", "Harborview Health"),
    ("employer", "bluewave-fintech", "Bluewave Fintech"),
    # The demo's community organisation (talentloop/demo_plan.py SERVICE_PROVIDER): the requests
    # the demo's participants make are addressed to it.
    ("service_provider", "eastside-community-services", "Eastside Community Services"),
)
EXTRA = {"northside-tech-collective": (("staff", "Sam Ortiz"), ("read_only", "Rita Chen"))}


def demo_users() -> list[dict[str, str]]:
    users = []
    for kind, tenant, name in DEMO_ORGS:
        people = (("admin", f"{name} admin"), *EXTRA.get(tenant, ()))
        for role, display in people:
            users.append(
                {
                    "email": f"{role.replace('_', '-')}@{tenant}.example.org",
                    "password": _password(),
                    "role": role,
                    "kind": kind,
                    "tenant_id": tenant,
                    "organisation": name,
                    "display_name": display,
                }
            )
    return users


def _password() -> str:
    return "-".join(secrets.token_urlsafe(4) for _ in range(4))  # 4 × 5-6 characters: easy to type


def users_file(path: Path) -> list[dict[str, Any]]:
    """The demo users with their passwords, made once; a demo user added to DEMO_ORGS since the
    file was written is added to it (the others keep theirs)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(json.dumps(demo_users(), indent=2))
    users = json.loads(path.read_text())
    known = {u["email"] for u in users}
    missing = [u for u in demo_users() if u["email"] not in known]
    if missing:
        users += missing
        path.write_text(json.dumps(users, indent=2))
    return users


async def seed(pool: asyncpg.Pool, path: Path) -> int:
    """Create what is missing of the demo organisations and users; how many users were new."""
    added = 0
    for entry in users_file(path):
        async with pool.acquire() as conn, conn.transaction():
            org_id = await store.ensure_org(conn, entry["kind"], entry["tenant_id"], entry["organisation"])
            if await store.user_by_email(conn, entry["email"]) is not None:
                continue
            user_id = await store.create_user(
                conn,
                org_id,
                entry["email"],
                entry["display_name"],
                entry["role"],
                passwords.hash_password(entry["password"]),
                None,
            )
            await store.audit(conn, "seeded", org_id=org_id, user_id=user_id)
            added += 1
    return added
