"""Who is calling the console's API: an operator's key (Bearer), checked like every service checks
keys (plumbing/auth.py, the shared `credentials` schema) on every request, so a revoked key is
refused at once (within TALENTLOOP_KEY_CACHE_S). People no longer sign in here: they use the
portal, which calls this API with the operators' organisation's own key (docs/portals.md)."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from plumbing.auth import InvalidKey, Principal, require, required_scope
from plumbing.problems import Problem

# A portal user's action names them by id in its correlation id (services/portal/domain.py):
# the console records it with the operator's principal, so a replay or a discard says who did it.
PORTAL_USER = "portal-user-"


@dataclass(frozen=True)
class Operator:
    principal: Principal
    key: str  # the operator's own key: the console calls outcomes with it
    correlation_id: str | None = None

    @property
    def acting(self) -> str:
        """Who a replay or discard is recorded as: the key's operator, and the portal's user if any."""
        user = self.correlation_id if (self.correlation_id or "").startswith(PORTAL_USER) else None
        return f"console:{self.principal.id}" + (f" {user}" if user else "")


async def operator(request: Request) -> Operator | None:
    """The operator behind this request's Bearer key, or None if it has none (or an unknown one)."""
    scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
    key = bearer.strip()
    if scheme.lower() != "bearer" or not key:
        return None
    try:
        who: Principal = await request.app.state.keys.authenticate(key)
    except InvalidKey:
        return None
    # A valid key of another kind is known, not anonymous: 403, as every service answers a
    # route that serves other kinds (docs/api-keys.md), not the 401 that asks for a key.
    require(who, "operator")
    needed = required_scope(request.method, request.url.path)
    if needed is not None and needed not in who.scopes:
        raise Problem(
            403, "insufficient-scope", "Insufficient scope", f"this needs the '{needed}' scope", required_scope=needed
        )
    return Operator(who, key, getattr(request.state, "correlation_id", None))


async def require_operator(request: Request) -> Operator:
    """FastAPI dependency for /api: 401 without an operator key."""
    found = await operator(request)
    if found is None:
        problem = Problem(401, "unauthorized", "Unauthorized", "send 'Authorization: Bearer <operator API key>'")
        problem.headers["WWW-Authenticate"] = "Bearer"
        raise problem
    return found
