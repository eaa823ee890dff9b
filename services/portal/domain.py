"""The portal's rules, without I/O: organisations and roles, who may invite whom, invitations,
passwords, the sign-in rate limit, CSRF tokens, the language of a page and which referrals
wait too long (docs/portals.md)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, get_args

from plumbing.auth import Kind
from plumbing.business_days import BusinessDays

OrgKind = Literal["partner", "training_provider", "service_provider", "employer", "operators"]
ORG_KINDS: tuple[OrgKind, ...] = get_args(OrgKind)
Role = Literal["admin", "staff", "read_only"]
ROLES: tuple[Role, ...] = get_args(Role)
LANGUAGES = ("en", "es")
DEFAULT_LANGUAGE = "en"

# The services know three kinds of caller (plumbing/auth.py): every organisation that refers,
# trains or provides a service is a partner there; the coalition's staff are operators.
PRINCIPAL_KIND: dict[OrgKind, Kind] = {
    "partner": "partner",
    "training_provider": "partner",
    "service_provider": "partner",
    "employer": "employer",
    "operators": "operator",
}
REFERRING_KINDS = frozenset({"partner", "training_provider", "service_provider"})

INVITATION_LIFETIME = timedelta(days=7)
PASSWORD_MIN, PASSWORD_MAX = 12, 256


@dataclass(frozen=True)
class Member:
    """A signed-in user as the rules see them: their organisation's kind and their role."""

    user_id: str
    org_id: str
    org_kind: OrgKind
    role: Role

    @property
    def is_operator(self) -> bool:
        return self.org_kind == "operators"

    @property
    def may_write(self) -> bool:
        """Refer, upload: what changes the network on the organisation's behalf."""
        return self.role in ("admin", "staff")

    @property
    def may_manage_users(self) -> bool:
        return self.role == "admin"

    @property
    def may_manage_organisations(self) -> bool:
        """Add organisations and invite their admins: the operators' admins only."""
        return self.is_operator and self.role == "admin"

    @property
    def refers(self) -> bool:
        return self.org_kind in REFERRING_KINDS


def may_invite(inviter: Member, org_id: str, role: Role) -> bool:
    """Operators' admins invite the admins of any organisation (and anyone of their own); an
    organisation's admins invite their own staff and read-only users, never another admin."""
    if inviter.role != "admin":
        return False
    if inviter.is_operator:
        return org_id == inviter.org_id or role == "admin"
    return org_id == inviter.org_id and role in ("staff", "read_only")


def may_disable(admin: Member, target_org_id: str, target_user_id: str) -> bool:
    """An organisation's admin takes away the access of anyone of their own organisation (someone
    who left), never their own (an organisation is never left without the admin who could
    invite a new one by mistake)."""
    return admin.role == "admin" and target_org_id == admin.org_id and target_user_id != admin.user_id


def new_token() -> str:
    """A secret for a link or a cookie: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> bytes:
    """What the database keeps of a session id or an invitation token: a stolen table row
    opens no session and accepts no invitation. A plain SHA-256 suffices for 256-bit secrets."""
    return hashlib.sha256(token.encode()).digest()


def same_token(expected: str | None, presented: str | None) -> bool:
    """CSRF check: the form's token is the session's, compared in constant time."""
    if not expected or not presented:
        return False
    return hmac.compare_digest(expected.encode(), presented.encode())


InvitationState = Literal["open", "accepted", "expired"]


def invitation_state(accepted_at: datetime | None, expires_at: datetime, now: datetime) -> InvitationState:
    if accepted_at is not None:
        return "accepted"
    return "expired" if now >= expires_at else "open"


def password_problem(password: str, email: str) -> str | None:
    """Why a new password is refused (a message id for the catalogue), or None."""
    if len(password) < PASSWORD_MIN:
        return "too_short"
    if len(password) > PASSWORD_MAX:
        return "too_long"
    if password.strip().casefold() == email.strip().casefold():
        return "is_email"
    return None


@dataclass(frozen=True)
class SignInLimit:
    """At most `per_account` failed sign-ins for one e-mail address, and `per_address` from one
    client address, within `window`; then sign-in waits until the oldest counted failure
    leaves the window. Counting failures only means a user who signs in is never held up by
    their own earlier successes; counting per address too stops one client spraying many
    accounts with a few guesses each."""

    per_account: int = 5
    per_address: int = 50
    window: timedelta = timedelta(minutes=15)

    def retry_after(
        self, account_failures: Iterable[datetime], address_failures: Iterable[datetime], now: datetime
    ) -> timedelta | None:
        """How long until another attempt is allowed (None: allowed now)."""
        waits = []
        for failures, limit in ((account_failures, self.per_account), (address_failures, self.per_address)):
            recent = sorted(t for t in failures if now - t < self.window)
            if len(recent) >= limit:
                waits.append(recent[len(recent) - limit] + self.window - now)
        return max(waits) if waits else None


def choose_language(chosen: str | None, accept_language: str | None) -> str:
    """The user's (or the visitor's) own choice, else the best of Accept-Language we have."""
    if chosen in LANGUAGES:
        return chosen
    best, best_q = DEFAULT_LANGUAGE, 0.0
    for order, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().split("-")[0].lower()
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if primary in LANGUAGES and q > best_q:
            best, best_q = primary, q - order * 1e-6  # equal weights: the first listed wins
    return best


# Partner statuses that wait on someone else: the employer (in review), routing (submitted).
WAITING_STATUSES = frozenset({"submitted", "in_review"})


def waiting_too_long(status: str, since: datetime, now: datetime, calendar: BusinessDays, business_days: int) -> bool:
    """A referral still waiting for an answer more than the network's stale limit after its
    last change (the same business-day rule the gateway's `referral.stale` uses)."""
    return status in WAITING_STATUSES and now >= calendar.after(since, business_days)


def correlation_id(user_id: str, request_id: str) -> str:
    """The X-Correlation-Id the portal sends the services: every event a user's action causes
    carries it as `correlationid`, so the events name the acting user by their id (never their
    name or e-mail); `request_id` keeps one action's events apart from the next's."""
    return f"portal-user-{user_id}-{request_id}"


# Employer states that still wait for the employer's first answer: the gateway's `referral.stale`
# counts from routing while a referral is in one of them.
AWAITING_ACKNOWLEDGEMENT = frozenset({"routed"})


def answer_due(state: str, routed_at: datetime, calendar: BusinessDays, business_days: int) -> datetime | None:
    """When a referral routed to an employer goes stale if not acknowledged (the gateway's
    rule, services/employer_gateway/stale.py); None once the employer has answered."""
    if state not in AWAITING_ACKNOWLEDGEMENT:
        return None
    return calendar.after(routed_at, business_days)
