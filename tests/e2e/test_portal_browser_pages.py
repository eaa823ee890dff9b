"""The portal's pages that were first tested over HTTP only, in headless Chromium on the running
network, in English and Spanish, each passing every page's checks (tests/e2e/portal_pages.py:
axe-core, 360 px, no English on a Spanish page, screenshots): an organisation admin's API keys
(a key made, its secret shown once and working, then revoked and refused) and webhook endpoints
(the service's refusal of an address, an endpoint added with its secret shown once, a new secret,
removed); a partner asking a provider for a supportive service and following the request as the
provider accepts it, then withdrawing it; signing in with an OpenID Connect provider
(oidc-provider-mock, as tests/integration/test_portal_oidc_interop.py starts it): an invitation
accepted through the provider, the sign-in page's button, the round trip, and the refusal page (the
module's one portal process has the provider configured, beside passwords)."""

from __future__ import annotations

import asyncio
import re
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from plumbing.auth import parse_key
from tests.e2e import portal_pages  # skips the module without Chromium
from tests.e2e.chromium import wait
from tests.e2e.helpers import OPERATOR, Api, poll, referral_body, unique
from tests.e2e.portal_pages import (
    NORTHSIDE,
    check_page,
    click_through,
    creds,
    in_language,
    portal_process,
    portal_session,
    post_form,
    screenshots,
    sign_ins,
    sign_out,
    signed_in,
)

# The mock uses Authlib's older provider API, which Authlib warns about on every token it issues.
pytestmark = pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning")
browser = portal_pages.browser  # the fixtures; the module's portal is below
module_chromium = portal_pages.module_chromium
# A public address, so the services take it (their rule refuses loopback and private ones, and
# this machine resolves no names); the endpoint is sent only `service.stale` of requests addressed
# to the nonprofit as a provider, which it is not, and is removed by the test: nothing is sent.
HOOK = "https://93.184.215.14/talentloop-portal-test"


def nav(browser, path: str) -> None:  # type: ignore[no-untyped-def]
    """The menu's link to `path`, clicked (the page may be one under `path`, whose link is marked
    current already: the new page is waited for, not the mark); the page it leads to is marked."""
    from selenium.webdriver.common.by import By

    click_through(browser, browser.find_element(By.CSS_SELECTOR, f"nav a[href='{path}']"))
    current = browser.find_element(By.CSS_SELECTOR, "nav [aria-current=page]").get_attribute("href")
    assert current.endswith(path), current


async def test_an_admins_api_keys_and_webhook_endpoints_in_the_browser(
    api: Api, portal: str, browser, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """The nonprofit's admin, in each language: makes a key (shown once; it authenticates at a
    service), revokes it (refused from then on); adds a webhook endpoint after the service refused
    plain http at the field, sees its secret once, gives it a new secret and removes it."""
    shots = screenshots(tmp_path)
    signed_in(browser, portal, sign_ins(api)[(NORTHSIDE, "admin")])
    try:
        for language in ("en", "es"):
            in_language(browser, language)
            await a_key_made_and_revoked(api, portal, browser, language, shots)
            an_endpoint_added_renewed_and_removed(portal, browser, language, shots)
    finally:
        # The language is the user's: give the demo admin back English for the other tests.
        in_language(browser, "en")


async def a_key_made_and_revoked(api: Api, portal: str, browser, language: str, shots: Path) -> None:  # type: ignore[no-untyped-def]
    """A key made (shown once, working at a service), then revoked (refused)."""
    from selenium.webdriver.common.by import By

    nav(browser, "/keys")
    label = f"Portal browser {language} {uuid.uuid4().hex[:6]}"
    browser.find_element(By.ID, "key-label").send_keys(label)
    browser.find_element(By.ID, "scope-write").click()
    browser.find_element(By.ID, "do-make-key").click()
    shown = wait(browser, "the new key", lambda d: d.find_elements(By.ID, "new-key"))[0]
    key = shown.get_attribute("value")
    assert key.startswith("tl_par_key_"), key
    row = browser.find_element(By.XPATH, f"//table[@id='keys']//tr[td[normalize-space()='{label}']]")
    key_id = row.get_attribute("data-key")
    assert row.get_attribute("data-status") == "active"
    check_page(browser, language, shots, "keys-made")
    assert await service_answers(api, key) == 200
    browser.get(f"{portal}/keys")
    wait(browser, "the keys again", lambda d: d.find_elements(By.CSS_SELECTOR, f"tr[data-key='{key_id}']"))
    assert parse_key(key).secret not in browser.page_source  # the secret is shown once only
    browser.find_element(By.CSS_SELECTOR, f"tr[data-key='{key_id}'] form[action$='/revoke'] button").click()
    wait(browser, "revoked", lambda d: d.find_elements(By.ID, "notice"))
    revoked = browser.find_element(By.CSS_SELECTOR, f"tr[data-key='{key_id}']")
    assert revoked.get_attribute("data-status") == "revoked" and key_id in browser.find_element(By.ID, "notice").text
    check_page(browser, language, shots, "keys-revoked")
    await poll("the revoked key refused", lambda: refused(api, key))


def an_endpoint_added_renewed_and_removed(portal: str, browser, language: str, shots: Path) -> None:  # type: ignore[no-untyped-def]
    """A webhook endpoint for the requests addressed to the organisation as a provider: plain http
    refused by the service, then added (its secret shown once), a new secret, removed."""
    from selenium.webdriver.common.by import By

    nav(browser, "/webhooks")
    section = "section[data-service='support']"
    browser.find_element(By.ID, "url-support").send_keys("http://example.org/hook")
    browser.find_element(By.ID, "do-add-support").click()
    wait(browser, "the service's refusal", lambda d: d.find_elements(By.CSS_SELECTOR, f"{section} #problem"))
    assert browser.find_element(By.ID, "url-support").get_attribute("aria-invalid") == "true"
    assert "https" in browser.find_element(By.ID, "problem").text
    check_page(browser, language, shots, "webhooks-refused")
    browser.find_element(By.ID, "url-support").clear()
    browser.find_element(By.ID, "url-support").send_keys(HOOK)
    browser.find_element(By.CSS_SELECTOR, f"{section} input[value='service.stale']").click()
    browser.find_element(By.ID, "do-add-support").click()
    secret = wait(browser, "the endpoint added", lambda d: d.find_elements(By.ID, "secret"))[0]
    first = secret.get_attribute("value")
    endpoint = browser.find_element(By.ID, "secret-notice").find_element(By.TAG_NAME, "label").text.split()[-1]
    row = browser.find_element(By.CSS_SELECTOR, f"{section} tr[data-endpoint='{endpoint}']")
    assert HOOK in row.text and first and first not in row.text
    check_page(browser, language, shots, "webhooks-added")
    row.find_element(By.CSS_SELECTOR, "form[action$='/rotate-secret'] button").click()
    wait(browser, "a new secret", lambda d: d.find_element(By.ID, "secret").get_attribute("value") != first)
    check_page(browser, language, shots, "webhooks-new-secret")
    browser.get(f"{portal}/webhooks")  # the secret is not shown again
    row = wait(browser, "the endpoint", lambda d: d.find_element(By.CSS_SELECTOR, f"tr[data-endpoint='{endpoint}']"))
    assert not browser.find_elements(By.ID, "secret")
    row.find_element(By.CSS_SELECTOR, "form[action$='/remove'] button").click()
    wait(browser, "removed", lambda d: d.find_elements(By.ID, "notice"))
    assert not browser.find_elements(By.CSS_SELECTOR, f"tr[data-endpoint='{endpoint}']")
    check_page(browser, language, shots, "webhooks-removed")


async def service_answers(api: Api, key: str) -> int:
    r = await api.http.get(api.url("support", "/v1/service-providers"), headers={"Authorization": f"Bearer {key}"})
    return r.status_code


async def refused(api: Api, key: str) -> bool | None:
    return True if await service_answers(api, key) == 401 else None


# --- supportive services -------------------------------------------------------------------------


async def a_provider(api: Api) -> tuple[str, dict[str, str]]:
    """A new service provider in the support service's directory, offering rides; its id."""
    provider = f"portal-rides-{uuid.uuid4().hex[:8]}"
    r = await api.http.post(
        api.url("intake", "/v1/keys"),
        headers=api.net.auth(OPERATOR),
        json={"principal": {"kind": "partner", "id": provider}, "scopes": ["read", "write"], "label": "portal test"},
    )
    assert r.status_code == 201, r.text
    headers = {"Authorization": f"Bearer {r.json()['key']}"}
    r = await api.http.post(
        api.url("support", "/v1/service-provider"),
        headers=headers,
        json={"name": "Eastside Rides", "service_types": ["transportation"]},
    )
    assert r.status_code == 201, r.text
    return provider, headers


async def known_to_support(api: Api, referral_id: str) -> None:
    """Wait until the support service has learnt the referral as the nonprofit's (from Kafka)."""
    conn = await asyncpg.connect(api.net.network.database_url)
    try:

        async def known() -> bool | None:
            owner = await conn.fetchval("SELECT owner_id FROM support.people WHERE ref_id = $1", referral_id)
            return True if owner == NORTHSIDE else None

        await poll(f"support to know {referral_id}", known)
    finally:
        await conn.close()


async def test_a_partner_asks_for_a_supportive_service_and_follows_it_in_the_browser(
    api: Api, portal: str, browser, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """The nonprofit's staff member, in each language: asks a provider for a ride for a person
    they referred (the reason first left out: marked at its field), sees the request sent, then
    accepted once the provider accepts it, and withdraws it with a reason; the list shows it."""
    shots = screenshots(tmp_path)
    provider, provider_auth = await a_provider(api)
    referrals = {language: await api.refer(NORTHSIDE, referral_body([unique()])) for language in ("en", "es")}
    await asyncio.gather(*(known_to_support(api, referral_id) for referral_id in referrals.values()))
    signed_in(browser, portal, sign_ins(api)[(NORTHSIDE, "staff")])
    try:
        for language, referral_id in referrals.items():
            in_language(browser, language)
            await asked_followed_and_withdrawn(
                api, portal, browser, language, shots, referral_id, provider, provider_auth
            )
    finally:
        in_language(browser, "en")


async def asked_followed_and_withdrawn(  # type: ignore[no-untyped-def]
    api: Api, portal: str, browser, language: str, shots: Path, referral_id: str, provider: str, auth: dict[str, str]
) -> None:
    """A ride asked for `referral_id` (the reason first left out), followed until `provider`
    accepts it (its key `auth`), withdrawn; every page checked in `language`."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    nav(browser, "/support")
    browser.find_element(By.ID, "referral_id").send_keys(referral_id)
    Select(browser.find_element(By.ID, "provider_id")).select_by_value(provider)
    Select(browser.find_element(By.ID, "service_type")).select_by_value("transportation")
    browser.find_element(By.ID, "do-ask").click()
    wait(browser, "the reason asked for", lambda d: d.find_elements(By.ID, "reason-problem"))
    assert browser.find_element(By.ID, "reason").get_attribute("aria-invalid") == "true"
    check_page(browser, language, shots, "support-problem")
    browser.find_element(By.ID, "reason").send_keys("No bus reaches the interview before 9")
    browser.find_element(By.ID, "do-ask").click()
    wait(browser, "the request sent", lambda d: "?asked=1" in d.current_url and d.find_elements(By.ID, "notice"))
    request_id = browser.current_url.split("/support/", 1)[1].split("?", 1)[0]
    assert browser.find_element(By.ID, "state").get_attribute("data-state") == "requested"
    check_page(browser, language, shots, "support-request")

    r = await api.http.post(
        api.url("support", f"/v1/service-requests/{request_id}/accept"),
        headers={**auth, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert r.status_code == 200, r.text

    def accepted(d):  # type: ignore[no-untyped-def]
        d.get(f"{portal}/support/{request_id}")
        return d.find_element(By.ID, "state").get_attribute("data-state") == "accepted"

    wait(browser, "the request accepted", accepted)
    check_page(browser, language, shots, "support-accepted")
    browser.find_element(By.ID, "cancel-reason").send_keys("The person found a lift")
    browser.find_element(By.ID, "do-cancel").click()
    wait(
        browser,
        "withdrawn",
        lambda d: d.find_element(By.ID, "state").get_attribute("data-state") == "cancelled",
    )
    assert "The person found a lift" in browser.find_element(By.TAG_NAME, "main").text
    assert not browser.find_elements(By.ID, "cancel")
    nav(browser, "/support")
    row = browser.find_element(By.CSS_SELECTOR, f"tr[data-request='{request_id}']")
    assert row.get_attribute("data-state") == "cancelled" and referral_id in row.text
    check_page(browser, language, shots, "support")


# --- signing in with an OpenID Connect provider --------------------------------------------------


@pytest.fixture(scope="module")
def invited() -> dict[str, str]:
    """An address for each language, to be invited to the nonprofit."""
    return {language: f"oidc-{language}-{uuid.uuid4().hex[:8]}@{NORTHSIDE}.example.org" for language in ("en", "es")}


@pytest.fixture(scope="module")
def portal(running_network, network_config, invited) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The module's portal signs in with oidc-provider-mock too (its own discovery, keys and RS256
    ID tokens, on loopback http), which knows the invited people (verified) and one whose address
    it has not verified: one portal process for every test of the module (passwords still work)."""
    # Authlib warns on importing its JOSE and httpx modules, which the mock uses, and makes its own
    # warnings "always" shown: kept here rather than filtered (a module fixture is outside marks).
    with warnings.catch_warnings(record=True):
        from oidc_provider_mock import User, run_server_in_thread

    users = [
        User(sub=f"sub-{language}", claims={"email": email, "email_verified": True})
        for language, email in invited.items()
    ]
    users.append(User(sub="unverified", claims={"email": invited["en"], "email_verified": False}))
    with (
        run_server_in_thread(user_claims=users, require_nonce=True) as server,
        portal_process(
            running_network,
            network_config,
            settings=lambda url: {
                "TALENTLOOP_PORTAL_URL": url,
                "TALENTLOOP_PORTAL_OIDC_ISSUER": f"http://localhost:{server.server_port}",
                "TALENTLOOP_PORTAL_OIDC_CLIENT_ID": "talentloop-portal",
                "TALENTLOOP_PORTAL_OIDC_CLIENT_SECRET": "any secret: the mock takes unregistered clients",
                "TALENTLOOP_PORTAL_OIDC_NAME": "Coalition ID",
            },
        ) as url,
    ):
        yield url


async def an_invitation(portal: str, admin: dict[str, str], email: str) -> str:
    """The nonprofit's admin invites `email` as staff (over HTTP); the invitation's path."""
    client = await portal_session(portal, **creds(admin))
    try:
        r = await post_form(client, "/team", "/team/invitations", {"email": email, "role": "staff"})
        assert r.status_code in (200, 201), r.text[:500]
        link = re.search(r'id="link"[^>]*value="([^"]+)"', r.text) or re.search(
            r'value="([^"]+)"[^>]*id="link"', r.text
        )
        return "/invitations/" + link.group(1).rsplit("/invitations/", 1)[1]
    finally:
        await client.aclose()


async def test_signing_in_with_an_openid_connect_provider_in_the_browser(  # type: ignore[no-untyped-def]
    api: Api, portal: str, invited, browser, tmp_path: Path
) -> None:
    """In each language, with a provider configured beside passwords: an invitation accepted with
    the provider (its page's button, the provider's own form, back signed in), then the sign-in
    page's button signs the new member in again through the provider; a refusal shows the
    refusal page (in English the person says no at the provider, in Spanish the provider has not
    verified the address). The identity is linked to the account."""
    from selenium.webdriver.common.by import By

    shots = screenshots(tmp_path)
    admin = sign_ins(api)[(NORTHSIDE, "admin")]
    links = {language: await an_invitation(portal, admin, email) for language, email in invited.items()}

    def at_provider(sub: str | None) -> None:
        """The provider's own page (not the portal's): the person `sub` allowed, or None: denied."""
        wait(browser, "the provider's form", lambda d: d.find_elements(By.CSS_SELECTOR, "button[value=deny]"))
        if sub is None:
            browser.find_element(By.CSS_SELECTOR, "button[value=deny]").click()
        else:
            browser.find_element(By.CSS_SELECTOR, f"button[name=sub][value='{sub}']").click()
        wait(browser, "back at the portal", lambda d: d.current_url.startswith(portal))

    for language, link in links.items():
        browser.get(f"{portal}/sign-in")
        in_language(browser, language)
        browser.get(f"{portal}{link}")
        accept = wait(browser, "the invitation", lambda d: d.find_elements(By.ID, "oidc-accept"))[0]
        assert "Coalition ID" in accept.text
        check_page(browser, language, shots, "invitation-oidc")
        accept.click()
        at_provider(f"sub-{language}")
        wait(browser, "signed in by the provider", lambda d: d.find_elements(By.ID, "sign-out"))
        sign_out(browser)

        in_language(browser, language)
        button = browser.find_element(By.ID, "oidc-sign-in")
        assert "Coalition ID" in button.text and browser.find_elements(By.ID, "password")  # beside passwords
        check_page(browser, language, shots, "sign-in-oidc")
        button.click()
        at_provider(None if language == "en" else "unverified")
        reason = "denied" if language == "en" else "unverified"
        error = wait(browser, "the refusal", lambda d: d.find_elements(By.ID, "error"))[0]
        assert error.get_attribute("data-reason") == reason and not browser.find_elements(By.ID, "sign-out")
        check_page(browser, language, shots, f"oidc-refused-{reason}")
        browser.find_element(By.ID, "back").click()
        wait(browser, "the sign-in page", lambda d: d.find_elements(By.ID, "oidc-sign-in"))[0].click()
        at_provider(f"sub-{language}")
        wait(browser, "signed in again", lambda d: d.find_elements(By.ID, "sign-out"))
        in_language(browser, "en")  # the account's language, for its e-mails: the default
        sign_out(browser)

    conn = await asyncpg.connect(api.net.network.database_url)
    try:
        linked = await conn.fetch(
            "SELECT u.email, i.subject FROM portal.oidc_identities i JOIN portal.users u USING (user_id)"
            " WHERE u.email = ANY($1::text[])",
            list(invited.values()),
        )
    finally:
        await conn.close()
    assert sorted((r["email"], r["subject"]) for r in linked) == sorted(
        (email, f"sub-{language}") for language, email in invited.items()
    )
