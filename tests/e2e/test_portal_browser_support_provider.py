"""A service provider's pages in headless Chromium on the running network, in English and Spanish
(docs/portals.md, "A service provider's side"): the demo's community organisation, Eastside
Community Services, signs in, enters the directory by its form (changes it, the second
language), sees two requests a training provider made for participants it enrolled (the support
service learns the enrollments from Kafka), accepts one and records its delivery, declines the
other with a reason, and lists what it delivered; every page passes the page checks (axe-core,
360 px, no English on a Spanish page, screenshots). Then over HTTP: the training provider's own
request reads as delivered with the value, and a partner gets 403 on these pages."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.e2e import portal_pages  # skips the module without Chromium
from tests.e2e.chromium import wait
from tests.e2e.helpers import Api, business_today
from tests.e2e.portal_pages import (
    NORTHSIDE,
    check_page,
    creds,
    fill,
    in_language,
    portal_session,
    screenshots,
    sign_ins,
    sign_out,
    signed_in,
)
from tests.e2e.test_support_path import TRAINER, enroll

EASTSIDE = "eastside-community-services"  # the demo's provider (talentloop/demo_plan.py), seeded in the portal
browser = portal_pages.browser  # the fixtures
module_chromium = portal_pages.module_chromium
portal = portal_pages.portal


async def asked(api: Api, kind: str, reason: str, amount: str | None) -> str:
    """A request of the training provider to Eastside for a participant it enrolled just now,
    once the support service has consumed the enrollment (404 until then)."""
    from tests.e2e.helpers import poll

    enrollment_id = await enroll(api, uuid.uuid4().hex[:8])
    body = {"provider_id": EASTSIDE, "service_type": kind, "enrollment_id": enrollment_id, "reason": reason}
    if amount:
        body["amount_requested"] = {"amount": amount, "currency": "USD"}
    headers = {**api.net.auth(TRAINER), "Idempotency-Key": uuid.uuid4().hex}

    async def made() -> str | None:
        r = await api.http.post(api.url("support", "/v1/service-requests"), json=body, headers=headers)
        if r.status_code == 404:
            return None
        assert r.status_code == 201, r.text
        return r.json()["request_id"]

    return await poll("support to know the enrollment", made)


def shown_state(driver) -> str:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, "state").get_attribute("data-state")


@pytest.mark.parametrize("language", ["en", "es"])
async def test_a_provider_answers_its_requests_in_the_browser(
    api: Api, portal: str, browser, language: str, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    shots, users = screenshots(tmp_path), sign_ins(api)
    signed_in(browser, portal, users[(EASTSIDE, "admin")])
    in_language(browser, language)

    # The directory entry, by its form: entered the first time, changed after.
    browser.get(f"{portal}/provider/entry")
    wait(browser, "the entry's form", lambda d: d.find_elements(By.ID, "enter"))
    check_page(browser, language, shots, "provider-entry")
    fill(browser, {"name": "Eastside Community Services", "offer-transportation": "yes", "offer-childcare": "yes"})
    fill(browser, {"offer-technology": "yes" if language == "en" else "no"})
    browser.find_element(By.ID, "do-enter").click()
    wait(browser, "the entry saved", lambda d: d.find_elements(By.ID, "notice") and d.find_elements(By.ID, "entry"))
    check_page(browser, language, shots, "provider-entry-saved")

    ride = await asked(api, "transportation", "Bus fare to evening classes", "120.00")
    care = await asked(api, "childcare", "Daycare during class hours", None)

    browser.find_element(By.CSS_SELECTOR, 'a[href="/provider/requests"]').click()
    wait(browser, "the requests", lambda d: d.find_elements(By.CSS_SELECTOR, f'tr[data-request="{ride}"]'))
    assert browser.find_elements(By.CSS_SELECTOR, f'tr[data-request="{care}"][data-state="requested"]')
    check_page(browser, language, shots, "provider-requests")

    browser.find_element(By.CSS_SELECTOR, f'a[href="/provider/requests/{ride}"]').click()
    wait(browser, "the request", lambda d: d.find_elements(By.ID, "form-accept"))
    assert browser.find_element(By.ID, "reason").text == "Bus fare to evening classes"
    check_page(browser, language, shots, "provider-request")
    browser.find_element(By.ID, "do-accept").click()
    wait(browser, "accepted", lambda d: d.find_elements(By.ID, "form-deliver") and shown_state(d) == "accepted")
    check_page(browser, language, shots, "provider-request-accepted")
    fill(browser, {"delivered_on": business_today().isoformat(), "amount": "120.00"})
    browser.find_element(By.ID, "do-deliver").click()
    wait(browser, "delivered", lambda d: d.find_elements(By.ID, "delivered") and shown_state(d) == "delivered")
    assert "120.00 USD" in browser.find_element(By.ID, "delivered").text
    check_page(browser, language, shots, "provider-request-delivered")

    browser.get(f"{portal}/provider/requests/{care}")
    wait(browser, "the other request", lambda d: d.find_elements(By.ID, "form-decline"))
    fill(browser, {"reason_code": "other"})
    browser.find_element(By.ID, "do-decline").click()  # 'another reason' without its words: marked at the field
    wait(browser, "the detail asked for", lambda d: d.find_elements(By.ID, "detail-problem"))
    check_page(browser, language, shots, "provider-request-refused")
    fill(browser, {"reason_code": "no_capacity"})
    browser.find_element(By.ID, "do-decline").click()
    wait(browser, "declined", lambda d: d.find_elements(By.ID, "notice") and shown_state(d) == "declined")
    check_page(browser, language, shots, "provider-request-declined")

    browser.get(f"{portal}/provider/requests")
    browser.find_element(By.ID, "filter-delivered").click()
    wait(browser, "what was delivered", lambda d: d.find_elements(By.CSS_SELECTOR, f'tr[data-request="{ride}"]'))
    check_page(browser, language, shots, "provider-requests-delivered")
    in_language(browser, "en")  # the user keeps the language: give English back
    sign_out(browser)

    theirs = (
        await api.http.get(api.url("support", f"/v1/service-requests/{ride}"), headers=api.net.auth(TRAINER))
    ).json()
    assert (theirs["state"], theirs["value_delivered"]) == ("delivered", {"amount": "120.00", "currency": "USD"})
    northside = await portal_session(portal, **creds(users[(NORTHSIDE, "admin")]))
    try:
        assert (await northside.get("/provider/requests")).status_code == 403
        assert (await northside.get(f"/provider/requests/{ride}")).status_code == 403
    finally:
        await northside.aclose()
