"""An organisation admin's later pages in headless Chromium on the running network, in English
and Spanish, each passing every page's checks (tests/e2e/portal_pages.py: axe-core, 360 px, no
English on a Spanish page, screenshots): a key rotated with a grace period (its successor shown
once, both working, the old one marked replaced); a webhook endpoint paused, its delivery log, one
failed delivery with its tries and the message, sent again; and an employer's retention check-in
with how the job is paid, its schedule and its benefits now, clicked in the browser and carried
by the gateway's `retention.checked` event, its form unfolded in both languages."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx

from tests.e2e import portal_pages  # skips the module without Chromium
from tests.e2e.helpers import Api
from tests.e2e.portal_pages import (
    CIVIC,
    NORTHSIDE,
    check_page,
    click_through,
    creds,
    fill,
    in_language,
    open_forms,
    portal_session,
    post_form,
    routed_to_civic,
    screenshots,
    sign_ins,
    signed_in,
    step_clicked,
    unfold,
)

browser = portal_pages.browser  # the fixtures
module_chromium = portal_pages.module_chromium
portal = portal_pages.portal
# A public address, so outcomes takes it (this machine resolves no names). The endpoint is paused
# before anything is queued for it, and a paused endpoint's deliveries wait: nothing is sent.
HOOK = "https://93.184.215.14/talentloop-portal-admin-test"


async def test_a_key_rotated_and_a_webhooks_delivery_log_in_the_browser(
    api: Api, portal: str, browser, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """The nonprofit's admin, in each language: rotates a key keeping the old one a day (the new
    one shown once and working, the old one still working and marked replaced); pauses a webhook
    endpoint, opens its delivery log, one failed delivery (its two tries and the message) and sends
    it again."""
    from selenium.webdriver.common.by import By

    shots = screenshots(tmp_path)
    admin = sign_ins(api)[(NORTHSIDE, "admin")]
    signed_in(browser, portal, admin)
    http = await portal_session(portal, **creds(admin))
    try:
        for language in ("en", "es"):
            in_language(browser, language)
            old_key = await made_key(http, f"rotation {language} {uuid.uuid4().hex[:6]}")
            old_id = "key_" + old_key.split("_")[3]
            browser.get(f"{portal}/keys")
            unfold(browser, f"rotate-{old_id}")  # the form unfolded is checked below, with the key replaced
            fill(browser, {f"grace-{old_id}": "24"})
            click_through(browser, browser.find_element(By.ID, f"do-rotate-{old_id}"))
            new_key = browser.find_element(By.ID, "new-key").get_attribute("value")
            assert new_key.startswith("tl_par_key_") and old_id in browser.find_element(By.ID, "rotated").text
            check_page(browser, language, shots, "keys-rotated")
            assert {await answers(api, new_key), await answers(api, old_key)} == {200}  # both, for the grace
            browser.get(f"{portal}/keys")
            old_row = browser.find_element(By.CSS_SELECTOR, f"tr[data-key='{old_id}']")
            assert "key_" + new_key.split("_")[3] in old_row.find_element(By.CLASS_NAME, "replaced").text
            open_forms(browser)
            check_page(browser, language, shots, "keys-replaced")
            for key in (old_key, new_key):  # leave the nonprofit's keys as they were
                key_id = "key_" + key.split("_")[3]
                assert (await post_form(http, "/keys", f"/keys/{key_id}/revoke", {})).status_code == 303

            await a_paused_endpoints_failed_delivery_sent_again(api, portal, browser, http, language, shots)
    finally:
        in_language(browser, "en")  # the language is the user's: English again for the other tests
        await http.aclose()


async def made_key(http: httpx.AsyncClient, label: str) -> str:
    made = await post_form(http, "/keys", "/keys", {"label": label, "scopes": ["read"], "expires_in_days": "90"})
    assert made.status_code == 201, made.text[:500]
    return re.search(r'id="new-key"[^>]*>([^<]+)</textarea>', made.text).group(1)  # type: ignore[union-attr]


async def answers(api: Api, key: str) -> int:
    r = await api.http.get(api.url("support", "/v1/service-providers"), headers={"Authorization": f"Bearer {key}"})
    return r.status_code


async def a_paused_endpoints_failed_delivery_sent_again(
    api: Api, portal: str, browser, http: httpx.AsyncClient, language: str, shots: Path
) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    added = await post_form(
        http, "/webhooks", "/webhooks/outcomes/endpoints", {"url": HOOK, "event_types": "participant.status_changed.v1"}
    )
    assert added.status_code == 201, added.text[:500]
    endpoint_id = re.search(r'id="secret-notice".*?(whe_[0-9a-f]+)', added.text, re.S).group(1)  # type: ignore[union-attr]
    try:
        browser.get(f"{portal}/webhooks")
        row = f"tr[data-endpoint='{endpoint_id}']"
        click_through(browser, browser.find_element(By.CSS_SELECTOR, f"{row} form[action$='/pause'] button"))
        assert browser.find_element(By.CSS_SELECTOR, row).get_attribute("data-active") == "no"
        assert endpoint_id in browser.find_element(By.ID, "notice").text
        check_page(browser, language, shots, "webhooks-paused")
        delivery_id = await failed_delivery(api, endpoint_id)

        click_through(browser, browser.find_element(By.ID, "log-outcomes"))
        listed = browser.find_element(By.CSS_SELECTOR, f"tr[data-delivery='{delivery_id}']")
        assert listed.get_attribute("data-status") == "failed" and "HTTP 503" in listed.text
        check_page(browser, language, shots, "webhooks-log")
        click_through(browser, listed.find_element(By.TAG_NAME, "a"))
        assert len(browser.find_elements(By.CSS_SELECTOR, "#attempts tbody tr")) == 2
        assert "ref_h17k_browser" in browser.find_element(By.ID, "body").text
        check_page(browser, language, shots, "webhooks-delivery")
        click_through(browser, browser.find_element(By.ID, "do-redeliver"))
        assert browser.find_elements(By.ID, "notice")
        assert browser.find_element(By.ID, "delivery").get_attribute("data-status") == "pending"  # paused: it waits
        check_page(browser, language, shots, "webhooks-redelivered")
    finally:
        removed = await post_form(http, "/webhooks", f"/webhooks/outcomes/endpoints/{endpoint_id}/remove", {})
        assert removed.status_code == 303


async def failed_delivery(api: Api, endpoint_id: str) -> str:
    """A delivery to the paused endpoint that failed twice, as outcomes' dispatcher records one
    (tests/integration/test_portal_webhooks.py has it fail at a real receiver)."""
    delivery_id = f"whd_{uuid.uuid4().hex}"
    body = {
        "id": str(uuid.uuid4()),
        "type": "participant.status_changed.v1",
        "subject": "ref_h17k_browser",
        "occurred_at": datetime.now(UTC).isoformat(),
        "data": {"referral_id": "ref_h17k_browser", "status": "hired"},
    }
    conn = await asyncpg.connect(api.net.network.database_url)
    try:
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO outcomes.webhook_deliveries (delivery_id, endpoint_id, owner, event_id, event_type, body,"
                " status, attempts, last_status, last_error) VALUES ($1, $2, $3, $4, $5, $6::jsonb, 'failed', 2, 503,"
                " 'HTTP 503')",
                delivery_id,
                endpoint_id,
                f"partner:{NORTHSIDE}",
                uuid.UUID(body["id"]),
                body["type"],
                json.dumps(body),
            )
            for ms in (31, 27):
                await conn.execute(
                    "INSERT INTO outcomes.webhook_attempts (delivery_id, status_code, duration_ms, error)"
                    " VALUES ($1, 503, $2, 'HTTP 503')",
                    delivery_id,
                    ms,
                )
    finally:
        await conn.close()
    return delivery_id


async def test_an_employers_check_in_with_pay_basis_schedule_and_benefits(
    api: Api, portal: str, browser, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """An intern placed forty days ago: the 30-day check-in's form, unfolded, passes every page's
    checks in English and Spanish; clicked in English with a salary, a variable schedule and
    benefits (one named), the gateway's `retention.checked` carries them."""
    from selenium.webdriver.common.by import By

    shots = screenshots(tmp_path)
    _, referral_id, _, _ = await routed_to_civic(api)
    admin = sign_ins(api)[(CIVIC, "admin")]
    page = f"/routed/{referral_id}"
    today = datetime.now(UTC).date()
    placement = {
        "job_title": "Data intern",
        "onet_soc_code": "15-2051.00",
        "employment_type": "internship",
        "start_date": (today - timedelta(days=40)).isoformat(),
        "wage_amount": "21",
        "wage_unit": "hour",
    }
    http = await portal_session(portal, **creds(admin))
    try:
        for step, data in (("acknowledge", {}), ("placement", placement)):
            r = await post_form(http, page, f"{page}/{step}", data)
            assert r.status_code == 303, (step, r.text[:800])
    finally:
        await http.aclose()

    signed_in(browser, portal, admin)
    try:
        for language in ("es", "en"):
            in_language(browser, language)
            browser.get(f"{portal}{page}")
            unfold(browser, "form-retention")
            check_page(browser, language, shots, "routed-check-in")
        browser.get(f"{portal}{page}")  # folded again: step_clicked unfolds it as a person would
        step_clicked(
            browser,
            page,
            "retention",
            "placed",
            {
                "retention-milestone": "30",
                "retention-still": "yes",
                "retention-on": (today - timedelta(days=1)).isoformat(),
                "retention-wage_amount": "48000",
                "retention-wage_unit": "year",
                "retention-pay_basis": "salary",
                "retention-schedule": "variable",
                "retention-benefit-health": "yes",
                "retention-benefit-dental": "yes",
                "retention-benefits_other": "transit pass",
            },
        )
        assert browser.find_element(By.ID, "status").get_attribute("data-state") == "placed"
    finally:
        in_language(browser, "en")

    conn = await asyncpg.connect(api.net.network.database_url)
    try:
        values = await conn.fetchval(
            "SELECT array_agg(value ORDER BY id) FROM employer_gateway.outbox WHERE key = $1", referral_id
        )
    finally:
        await conn.close()
    (checked,) = [e["data"] for e in map(json.loads, values) if e["type"].startswith("retention.checked")]
    assert checked["pay_basis"] == "salary" and str(checked["wage"]["amount"]) in ("48000", "48000.00")
    assert checked["schedule"]["variable_hours"] is True and checked["schedule"]["predictable"] is False
    said = {k for k, v in checked["benefits"].items() if v is True}
    assert said == {"health", "dental"} and checked["benefits"]["other"] == ["transit pass"]
