"""The portal's rules without I/O: who may invite whom, invitations, passwords, the sign-in
rate limit, CSRF tokens, the page's language and which referrals wait too long."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from plumbing.business_days import BusinessDays
from services.portal import domain, passwords
from services.portal.domain import Member, SignInLimit

pytestmark = pytest.mark.unit

OPS = Member("u-ops", "org-ops", "operators", "admin")
ADMIN = Member("u-a", "org-a", "partner", "admin")
STAFF = Member("u-s", "org-a", "partner", "staff")
READER = Member("u-r", "org-a", "partner", "read_only")
T0 = datetime(2026, 12, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("inviter", "org", "role", "allowed"),
    [
        (OPS, "org-b", "admin", True),  # operators invite any organisation's admin
        (OPS, "org-b", "staff", False),  # … and leave its staff to its admins
        (OPS, "org-ops", "staff", True),  # their own people, any role
        (ADMIN, "org-a", "staff", True),
        (ADMIN, "org-a", "read_only", True),
        (ADMIN, "org-a", "admin", False),
        (ADMIN, "org-b", "staff", False),  # never into another organisation
        (STAFF, "org-a", "staff", False),
        (READER, "org-a", "read_only", False),
    ],
)
def test_who_may_invite_whom(inviter: Member, org: str, role: str, allowed: bool) -> None:
    assert domain.may_invite(inviter, org, role) is allowed  # type: ignore[arg-type]


def test_roles_say_what_a_member_may_do() -> None:
    assert ADMIN.may_write and STAFF.may_write and not READER.may_write
    assert ADMIN.may_manage_users and not STAFF.may_manage_users
    assert ADMIN.refers and not OPS.refers and OPS.is_operator
    assert Member("u", "o", "employer", "admin").refers is False
    assert {domain.PRINCIPAL_KIND[k] for k in ("partner", "training_provider", "service_provider")} == {"partner"}


def test_an_invitation_is_open_until_it_is_used_or_expires() -> None:
    expires = T0 + domain.INVITATION_LIFETIME
    assert domain.invitation_state(None, expires, T0) == "open"
    assert domain.invitation_state(None, expires, expires) == "expired"
    assert domain.invitation_state(T0, expires, T0) == "accepted"


def test_tokens_are_random_and_only_their_hash_is_kept() -> None:
    a, b = domain.new_token(), domain.new_token()
    assert a != b and len(a) >= 43
    assert domain.token_hash(a) != domain.token_hash(b) and len(domain.token_hash(a)) == 32


@pytest.mark.parametrize(("presented", "ok"), [("tok-123", True), ("tok-124", False), ("", False), (None, False)])
def test_the_csrf_token_must_be_the_sessions(presented: str | None, ok: bool) -> None:
    assert domain.same_token("tok-123", presented) is ok
    assert domain.same_token(None, presented) is False


def test_password_rules() -> None:
    assert domain.password_problem("short", "a@b.org") == "too_short"
    assert domain.password_problem("x" * 300, "a@b.org") == "too_long"
    assert domain.password_problem("Someone@Example.org", "someone@example.org") == "is_email"
    assert domain.password_problem("a perfectly fine passphrase", "a@b.org") is None


def test_passwords_are_argon2id_and_verified_in_constant_form() -> None:
    hashed = passwords.hash_password("a perfectly fine passphrase")
    assert hashed.startswith("$argon2id$")
    assert passwords.verify(hashed, "a perfectly fine passphrase")
    assert not passwords.verify(hashed, "another passphrase")
    assert not passwords.verify(None, "a perfectly fine passphrase")  # no user: still hashed, still no
    assert not passwords.verify("not a hash", "x")


def test_the_sign_in_limit_counts_failures_in_the_window() -> None:
    limit = SignInLimit(per_account=3, per_address=5, window=timedelta(minutes=15))
    fails = [T0 - timedelta(minutes=m) for m in (14, 10, 1)]
    assert limit.retry_after(fails[:2], [], T0) is None
    wait = limit.retry_after(fails, [], T0)
    assert wait == timedelta(minutes=1)  # when the oldest of the three leaves the window
    assert limit.retry_after(fails, [], T0 + timedelta(minutes=1)) is None
    # Old failures do not count.
    assert limit.retry_after([T0 - timedelta(hours=1)] * 10, [], T0) is None
    # The address: five failures on any accounts.
    address = [T0 - timedelta(minutes=m) for m in (9, 8, 7, 6, 5)]
    assert limit.retry_after([], address, T0) == timedelta(minutes=6)
    # Both: the longer wait.
    assert limit.retry_after(fails, address, T0) == timedelta(minutes=6)


@pytest.mark.parametrize(
    ("chosen", "header", "language"),
    [
        ("es", "en-US,en;q=0.9", "es"),  # the user's own choice first
        (None, "es-MX,es;q=0.9,en;q=0.8", "es"),
        (None, "fr-FR,en;q=0.5,es;q=0.4", "en"),
        (None, "fr-FR,es;q=0.5", "es"),
        (None, "", "en"),
        (None, "de", "en"),
        (None, "en;q=0.7,es;q=0.7", "en"),  # a tie: the first listed
        (None, "es;q=abc,en;q=0.1", "en"),  # an unreadable weight counts as 0
        ("fr", "es", "es"),  # a language we do not have is no choice
    ],
)
def test_the_language_of_a_page(chosen: str | None, header: str, language: str) -> None:
    assert domain.choose_language(chosen, header) == language


def test_waiting_too_long_is_the_networks_stale_rule() -> None:
    calendar = BusinessDays()  # UTC, no holidays
    friday = datetime(2026, 11, 27, 10, tzinfo=UTC)
    assert not domain.waiting_too_long("in_review", friday, friday + timedelta(days=3), calendar, 2)  # Monday
    assert domain.waiting_too_long("in_review", friday, datetime(2026, 12, 1, 10, tzinfo=UTC), calendar, 2)  # Tuesday
    assert domain.waiting_too_long("submitted", friday, datetime(2026, 12, 2, tzinfo=UTC), calendar, 2)
    assert not domain.waiting_too_long("hired", friday, datetime(2027, 1, 1, tzinfo=UTC), calendar, 2)


def test_the_correlation_id_names_the_user_by_id() -> None:
    cid = domain.correlation_id("3f0c9a52-0000-4000-8000-000000000001", "abc123")
    assert cid == "portal-user-3f0c9a52-0000-4000-8000-000000000001-abc123"


def test_why_a_referral_has_its_status_reads_in_the_pages_language() -> None:
    from services.portal import i18n, present

    en, es = i18n.gettext_for("en"), i18n.gettext_for("es")
    detail = {"missing_skills": ["sql", "git"]}
    assert present.reason(detail, en, "not_matched") == "Missing skills: sql, git"
    assert present.reason({}, en, "not_matched") == "No open job fits these skills now."
    assert present.reason({"reason": "position_filled"}, es, "declined") == "Motivo: el puesto ya se cubrió"
    assert present.reason({"reason": "a reason in the employer's words"}, en) == (
        "Reason: a reason in the employer's words"
    )
    hired = {"job_title": "Data analyst", "wage_band": "$25-30", "start_date": "2027-01-04"}
    assert present.reason(hired, en, "hired") == "Job: Data analyst · Wage: $25-30 · Starts 2027-01-04"
    assert present.event_label("referral.stale.v1", es) == "Esperando demasiado al empleador"
    assert present.event_label("something.new.v1", en) == "something.new"


def test_an_admin_takes_away_access_in_their_own_organisation_only() -> None:
    assert domain.may_disable(ADMIN, "org-a", "u-s")
    assert not domain.may_disable(ADMIN, "org-a", "u-a")  # not their own
    assert not domain.may_disable(ADMIN, "org-b", "u-x")
    assert not domain.may_disable(STAFF, "org-a", "u-r")
    assert not domain.may_disable(OPS, "org-a", "u-s")  # operators invite admins; admins manage their people


@pytest.mark.parametrize(
    ("asked", "went"),
    [
        ("/referrals?status=waiting", "/referrals?status=waiting"),
        ("https://evil.example/", "/"),
        ("//evil.example/path", "/"),
        ("/\\evil.example", "/"),
        ("", "/"),
        (None, "/"),
    ],
)
def test_after_sign_in_only_this_sites_paths(asked: str | None, went: str) -> None:
    from services.portal.pages_account import local_path

    assert local_path(asked) == went


def test_an_organisations_key_is_sealed_to_its_row_and_opens_across_a_rotation() -> None:
    from plumbing.vault import new_master_key, parse_master_key
    from services.portal.machine_keys import KeyBox

    old, new = parse_master_key(new_master_key()), parse_master_key(new_master_key())
    sealed = KeyBox(old).seal("org-a", "tl_par_key_x_secret")
    assert KeyBox(old).open("org-a", sealed) == "tl_par_key_x_secret"
    with pytest.raises(RuntimeError):
        KeyBox(old).open("org-b", sealed)  # bound to its organisation
    with pytest.raises(RuntimeError):
        KeyBox(new).open("org-a", sealed)
    during = KeyBox(new, (old,))  # TALENTLOOP_MASTER_KEY_PREVIOUS while the rows are re-wrapped
    assert during.open("org-a", sealed) == "tl_par_key_x_secret"
    assert KeyBox(new).open("org-a", during.seal("org-a", "k")) == "k"  # sealed with the current key only
