"""The portal in headless Chromium (Debian's chromium + chromium-driver, `make chromium`) on the
running network: a partner signs in, refers a person through the form, uploads a CSV with one
bad row, downloads the error report and sees the referral's status; the same walk in Spanish,
where no page may show an English message the catalogue translates. Pages are also loaded at
360 px (no sideways scrolling) and saved as screenshots under the test's temporary folder.
Over plain HTTP: another organisation's referral and upload ids answer 404."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from services.portal import i18n, present
from talentloop import launcher, samples
from tests.e2e import portal_pages  # skips the module without Chromium
from tests.e2e.chromium import wait
from tests.e2e.helpers import Api, poll, referral_body, unique
from tests.e2e.portal_pages import (
    CIVIC,
    CSRF,
    FORGE,
    NORTHSIDE,
    accepted,
    check_page,
    click_through,
    creds,
    fill,
    i18n_status,
    in_language,
    mailed_link,
    open_forms,
    portal_session,
    post_form,
    routed_to_civic,
    screenshots,
    sign_ins,
    sign_out,
    signed_in,
    step_clicked,
    unfold,
)

browser = portal_pages.browser  # the fixtures
module_chromium = portal_pages.module_chromium
portal = portal_pages.portal
mailing_portal = portal_pages.mailing_portal


def test_the_portal_runs_without_kafka_credentials(portal: str, network_config) -> None:  # type: ignore[no-untyped-def]
    pid = launcher.ServiceProcess("portal", 0, network_config.home).pid()
    assert pid is not None and httpx.get(f"{portal}/health").json()["status"] == "ok"
    env = Path(f"/proc/{pid}/environ").read_text().split("\0")
    assert not [line for line in env if line.startswith("KAFKA_SASL_")]  # not the super-user's, nor any


def bad_row_csv(run: str) -> tuple[str, list[dict[str, str]]]:
    rows = [samples.northside_row(samples.person(n, run), run) for n in range(3)]
    rows[1]["Email"] = rows[1]["Mobile"] = ""  # no way to reach the person: refused, the others accepted
    return samples.csv_text(samples.NORTHSIDE_COLUMNS, rows), rows


async def walk(api: Api, portal: str, browser, language: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    user = sign_ins(api)[(NORTHSIDE, "staff")]
    shots = screenshots(tmp_path)
    say = i18n.gettext_for(language)

    browser.get(f"{portal}/referrals")
    wait(browser, "the sign-in page", lambda d: "/sign-in" in d.current_url)
    if language == "es":
        browser.find_element(By.ID, "language-es").click()
        wait(browser, "Spanish", lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "es")
    check_page(browser, language, shots, "sign-in")
    browser.find_element(By.ID, "email").send_keys(user["email"])
    browser.find_element(By.ID, "password").send_keys(user["password"])
    browser.find_element(By.ID, "sign-in").click()
    wait(browser, "my referrals", lambda d: d.current_url.endswith("/referrals"))
    cookie = next(c for c in browser.get_cookies() if c["name"] == "talentloop_portal")
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Lax"

    # Refer someone: the consent is required, then the referral goes through intake.
    browser.find_element(By.LINK_TEXT, say("Refer someone")).click()
    wait(browser, "the form", lambda d: d.find_elements(By.ID, "given_name"))
    check_page(browser, language, shots, "refer")
    family = f"Portal{uuid.uuid4().hex[:8]}"
    browser.find_element(By.ID, "given_name").send_keys("Ana")
    browser.find_element(By.ID, "family_name").send_keys(family)
    browser.find_element(By.ID, "email").send_keys(f"{family.lower()}@example.org")
    browser.find_element(By.ID, "skills").send_keys("Python, SQL, zq-portal-unheard-skill")
    browser.find_element(By.ID, "refer").click()
    problem = wait(browser, "the consent problem", lambda d: d.find_elements(By.ID, "share_with_employers-problem"))[0]
    assert problem.text == say("We can only refer someone who agreed to be shared with employers.")
    check_page(browser, language, shots, "refer-problem")
    browser.find_element(By.ID, "share_with_employers").click()  # the keyboard's space would do the same
    browser.find_element(By.ID, "refer").click()
    notice = wait(browser, "the referral submitted", lambda d: d.find_elements(By.ID, "notice"))[0]
    referral_id = re.search(r"ref_[0-9a-f]+", notice.text).group(0)

    # The closed loop: its status (with why) shows once outcomes has it.
    def listed(d):  # type: ignore[no-untyped-def]
        d.get(f"{portal}/referrals")
        rows = d.find_elements(By.CSS_SELECTOR, f"tr[data-referral='{referral_id}']")
        return rows[0] if rows and rows[0].get_attribute("data-status") != "submitted" else None

    row = wait(browser, f"{referral_id} with a status", listed, timeout=60)
    status = row.get_attribute("data-status")
    assert say(i18n_status(status)) in row.text
    check_page(browser, language, shots, "referrals")
    row.find_element(By.LINK_TEXT, referral_id).click()
    wait(browser, "the referral's page", lambda d: d.find_elements(By.ID, "status"))
    assert browser.find_element(By.ID, "status").get_attribute("data-status") == status
    assert say("Referred by your organisation") in browser.find_element(By.TAG_NAME, "main").text
    check_page(browser, language, shots, "referral")

    # Upload a CSV with one bad row: progress, counts, the error report.
    browser.find_element(By.LINK_TEXT, say("Upload a CSV")).click()
    wait(browser, "the upload form", lambda d: d.find_elements(By.ID, "file"))
    check_page(browser, language, shots, "uploads")
    text, rows = bad_row_csv(f"portal{uuid.uuid4().hex[:6]}")
    path = tmp_path / f"contacts-{language}.csv"
    path.write_text(text)
    browser.find_element(By.ID, "file").send_keys(str(path))
    browser.find_element(By.ID, "upload").click()
    wait(
        browser,
        "the import finished",
        # Read in one script: the page reloads itself when the import ends, and an element found
        # before the reload belongs to no document after it.
        lambda d: (
            d.execute_script("var u = document.getElementById('upload'); return u && u.dataset.status;")
            in ("done", "failed")
        ),
        timeout=60,
    )
    assert browser.find_element(By.ID, "upload").get_attribute("data-status") == "done"
    assert browser.find_element(By.ID, "accepted").text == "2" and browser.find_element(By.ID, "rejected").text == "1"
    assert browser.find_element(By.ID, "progress").get_attribute("value") == browser.find_element(
        By.ID, "progress"
    ).get_attribute("max")
    check_page(browser, language, shots, "upload")
    browser.find_element(By.ID, "error-report").click()
    report = wait(
        browser,
        "the error report downloaded",
        lambda d: next((p for p in d.downloads.glob("*.csv") if p.stat().st_size), None),
    )
    lines = list(csv.DictReader(io.StringIO(report.read_text())))
    assert [line["row"] for line in lines] == ["3"] and rows[1]["Last Name"] not in report.read_text()
    report.unlink()

    browser.find_element(By.ID, "sign-out").click()
    wait(browser, "signed out", lambda d: "/sign-in" in d.current_url)
    browser.get(f"{portal}/referrals")
    wait(browser, "the sign-in page again", lambda d: "/sign-in" in d.current_url)


@pytest.mark.parametrize("language", ["en", "es"])
async def test_a_partner_refers_uploads_and_sees_the_status(
    api: Api, portal: str, browser, language: str, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    await walk(api, portal, browser, language, tmp_path)


async def test_the_admin_and_operator_pages(api: Api, portal: str, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The pages of the other roles pass the same checks: an operator adds an organisation and
    invites its admin, who accepts in the same browser; the team page; an employer's start page;
    a page that is not there."""
    from selenium.webdriver.common.by import By

    users = sign_ins(api)
    shots = screenshots(tmp_path)

    signed_in(browser, portal, users[("coalition-ops", "admin")])
    wait(browser, "organisations", lambda d: d.current_url.endswith("/organisations"))
    check_page(browser, "en", shots, "organisations")
    tenant = f"portal-test-{uuid.uuid4().hex[:6]}"
    browser.find_element(By.ID, "org-name").send_keys("Portal Test Org")
    browser.find_element(By.ID, "org-tenant").send_keys(tenant)
    browser.find_element(By.CSS_SELECTOR, "form[action='/organisations'] button").click()
    row = wait(browser, "the new organisation", lambda d: d.find_elements(By.CSS_SELECTOR, f"tr[data-org='{tenant}']"))[
        0
    ]
    row.find_element(By.CSS_SELECTOR, "input[type=email]").send_keys(f"boss@{tenant}.example.org")
    row.find_element(By.CSS_SELECTOR, "button").click()
    link = wait(browser, "the invitation link", lambda d: d.find_elements(By.ID, "link"))[0].get_attribute("value")
    check_page(browser, "en", shots, "invited")
    browser.find_element(By.LINK_TEXT, "Team").click()
    wait(browser, "the team page", lambda d: d.current_url.endswith("/team"))
    check_page(browser, "en", shots, "team")
    sign_out(browser)

    accepted(browser, link, "Bea Boss", lambda: check_page(browser, "en", shots, "invitation"))
    check_page(browser, "en", shots, "referrals-empty")
    sign_out(browser)

    signed_in(browser, portal, users[("civic-data-labs", "admin")])
    check_page(browser, "en", shots, "home")
    browser.get(f"{portal}/referrals")
    assert wait(browser, "not for employers", lambda d: d.find_elements(By.ID, "error"))
    check_page(browser, "en", shots, "error")
    sign_out(browser)


async def test_the_e_mailed_links_pages_in_the_browser(api: Api, mailing_portal, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """With SMTP configured, the pages of the links sent by e-mail pass every page's checks
    (axe-core, 360 px, no English on the Spanish ones): an admin invites two people by e-mail and
    each invitation is accepted from its e-mailed link, one in English, one in Spanish; the first
    asks for a sign-in link and signs in by clicking it; each asks for a new password (the first
    in Spanish, the second in English), is refused a short one and sets it by the e-mailed link."""
    from selenium.webdriver.common.by import By

    portal, capture = mailing_portal
    admin = sign_ins(api)[(NORTHSIDE, "admin")]
    shots = screenshots(tmp_path)
    run = uuid.uuid4().hex[:8]
    address, other = (f"mailed-{n}-{run}@{NORTHSIDE}.example.org" for n in (1, 2))

    def ask_link(which: str, email: str, language: str, name: str) -> None:
        browser.find_element(By.ID, which).click()
        wait(browser, "the request form", lambda d: d.find_elements(By.ID, "send-link"))
        check_page(browser, language, shots, name)
        browser.find_element(By.ID, "email").send_keys(email)
        browser.find_element(By.ID, "send-link").click()
        wait(browser, "the link sent", lambda d: d.find_elements(By.ID, "sent"))
        check_page(browser, language, shots, f"{name}-sent")

    async def new_password(email: str, n: int, language: str) -> None:
        """A new password asked for on the sign-in page, refused short, then set by the `n`th e-mail."""
        in_language(browser, language)  # the visitor's choice; the e-mail is in the account's own language
        ask_link("forgot", email, language, "password-forgot")
        browser.get(await mailed_link(capture, email, n))
        wait(browser, "the new password's form", lambda d: d.find_elements(By.ID, "reset"))
        check_page(browser, language, shots, "password-reset")
        for field in ("password", "password_again"):
            browser.find_element(By.ID, field).send_keys("short")
        browser.execute_script("document.getElementById('password').removeAttribute('minlength')")
        browser.find_element(By.ID, "reset").click()  # the server's refusal, not the browser's
        wait(browser, "the short password refused", lambda d: d.find_elements(By.ID, "error"))
        check_page(browser, language, shots, "password-reset-problem")
        for field in ("password", "password_again"):
            browser.find_element(By.ID, field).send_keys("a brand new passphrase")
        browser.find_element(By.ID, "reset").click()
        wait(browser, "signed in with the new password", lambda d: d.find_elements(By.ID, "sign-out"))
        in_language(browser, "en")  # the account's language back to the default
        sign_out(browser)

    signed_in(browser, portal, admin)
    for email in (address, other):
        browser.get(f"{portal}/team")
        browser.find_element(By.ID, "invite-email").send_keys(email)
        browser.find_element(By.CSS_SELECTOR, "form[action='/team/invitations'] button").click()
        wait(browser, "the invitation e-mailed", lambda d: d.find_elements(By.ID, "sent"))
    check_page(browser, "en", shots, "invited-by-email")
    sign_out(browser)

    for email, name, language in ((address, "Mai Led", "en"), (other, "Otra Persona", "es")):

        def opened(language: str = language) -> None:
            in_language(browser, language)
            check_page(browser, language, shots, "invitation-e-mailed")

        accepted(browser, await mailed_link(capture, email, 1), name, opened)
        in_language(browser, "en")  # the account's language back to the default
        sign_out(browser)

    # A sign-in link, end to end: asked for, e-mailed, opened (nothing used yet), clicked.
    ask_link("email-link", address, "en", "sign-in-link")
    browser.get(await mailed_link(capture, address, 2))
    wait(browser, "the link's page", lambda d: d.find_elements(By.ID, "use-link"))
    check_page(browser, "en", shots, "sign-in-link-open")
    browser.find_element(By.ID, "use-link").click()
    wait(browser, "signed in by the link", lambda d: d.find_elements(By.ID, "sign-out"))
    browser.get(f"{portal}/referrals")
    wait(browser, "the new member's referrals", lambda d: d.current_url.endswith("/referrals"))
    sign_out(browser)

    await new_password(address, 3, "es")
    assert capture.to(address)[2]["Content-Language"] == "en"  # the account's language, not the page's
    await new_password(other, 2, "en")


async def test_another_organisations_referral_is_not_found(api: Api, two_partners) -> None:  # type: ignore[no-untyped-def]
    northside, forge = two_partners
    users = sign_ins(api)
    form = await northside.get("/refer")
    token = CSRF.search(form.text).group(1)
    form_id = re.search(r'name="form_id" value="([^"]+)"', form.text).group(1)
    n = uuid.uuid4().hex[:8]
    done = await northside.post(
        "/refer",
        data={
            "csrf_token": token,
            "form_id": form_id,
            "given_name": "Tenant",
            "family_name": f"Test{n}",
            "email": f"tenant-{n}@example.org",
            "skills": "Python",
            "share_with_employers": "yes",
        },
    )
    assert done.status_code == 303, done.text
    referral_id = done.headers["location"].rsplit("=", 1)[1]

    async def known() -> bool | None:
        return True if (await northside.get(f"/referrals/{referral_id}")).status_code == 200 else None

    await poll("northside sees its referral", known)
    theirs = await forge.get(f"/referrals/{referral_id}")
    missing = await forge.get("/referrals/ref_00000000000000000000000000000000")
    assert theirs.status_code == 404 == missing.status_code
    assert f"Test{n}" not in theirs.text and referral_id not in (await forge.get("/referrals")).text
    # The audit names the acting user by id, and the referral's event carries it in its
    # correlation id (docs/portals.md, "Acting on the services"); never the user's name.
    conn = await asyncpg.connect(api.net.network.database_url)
    try:
        audit = await conn.fetchrow(
            "SELECT user_id::text, correlation_id FROM portal.audit WHERE action = 'referred' AND target = $1",
            referral_id,
        )
        user_id = await conn.fetchval(
            "SELECT user_id::text FROM portal.users WHERE email = $1", users[(NORTHSIDE, "admin")]["email"]
        )
        event = json.loads(
            await conn.fetchval("SELECT value FROM intake.outbox WHERE key = $1 ORDER BY id LIMIT 1", referral_id)
        )
    finally:
        await conn.close()
    assert audit["user_id"] == user_id
    assert event["correlationid"] == audit["correlation_id"] and event["correlationid"].startswith(
        f"portal-user-{user_id}-"
    )
    assert users[(NORTHSIDE, "admin")]["display_name"] not in json.dumps(event)


@pytest.fixture
async def two_partners(api: Api, portal: str):  # type: ignore[no-untyped-def]
    """The nonprofit's and the bootcamp's admins, signed in over plain HTTP."""
    users = sign_ins(api)
    northside = await portal_session(portal, **creds(users[(NORTHSIDE, "admin")]))
    forge = await portal_session(portal, **creds(users[("forge-coding-bootcamp", "admin")]))
    try:
        yield northside, forge
    finally:
        await northside.aclose()
        await forge.aclose()


async def test_a_file_intake_refuses_fails_with_its_reason_and_stays_the_organisations(two_partners) -> None:  # type: ignore[no-untyped-def]
    northside, forge = two_partners
    page = await northside.get("/uploads")
    token = CSRF.search(page.text).group(1)
    sent = await northside.post(
        "/uploads", data={"csrf_token": token}, files={"file": ("wrong.csv", b"Name,Phone\nAna,555\n", "text/csv")}
    )
    assert sent.status_code == 303
    where = sent.headers["location"]

    async def finished() -> dict | None:  # type: ignore[type-arg]
        state = (await northside.get(f"{where}/progress")).json()
        return state if state["status"] != "running" else None

    state = await poll("the upload refused", finished)
    assert state["status"] == "failed" and state["accepted"] == 0
    shown = await northside.get(where)
    assert 'id="failure"' in shown.text and "lacks the adapter&#39;s columns" in shown.text
    for path in (where, f"{where}/progress", f"{where}/errors.csv"):
        assert (await forge.get(path)).status_code == 404, path


# --- the employer's screens ----------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "es"])
async def test_an_employer_takes_a_referral_to_placement_in_the_browser(
    api: Api, portal: str, browser, language: str, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """The employer's admin, in the browser: finds the partner's referral in the list, sees why
    and the consented contact, acknowledges, schedules an interview, records its outcome, makes an
    offer and reports the hire, each by its button; changes the opening's pay, kind of job,
    skills and schedule (the gateway's refusal of a schedule shown at its field first); then the
    partner sees the referral hired, with why and every step. Every page passes the page checks
    (axe-core, 360 px, no English on the Spanish ones), with its forms unfolded. Then, once, over
    HTTP: the gateway's 409 for a late step, another employer's 404 and the audit."""
    from selenium.webdriver.common.by import By

    skill, referral_id, body, opening_id = await routed_to_civic(api)
    users = sign_ins(api)
    shots = screenshots(tmp_path)
    say = i18n.gettext_for(language)
    page = f"/routed/{referral_id}"

    def step(name: str, state: str, values: dict[str, str], form: str = "") -> None:
        step_clicked(browser, page, name, state, values, form)

    signed_in(browser, portal, users[(CIVIC, "admin")])
    try:
        in_language(browser, language)
        browser.get(f"{portal}/routed")
        row = wait(
            browser, "the routed list", lambda d: d.find_elements(By.CSS_SELECTOR, f"tr[data-referral='{referral_id}']")
        )
        assert row[0].get_attribute("data-state") == "routed"
        check_page(browser, language, shots, "routed")
        row[0].find_element(By.CSS_SELECTOR, f"a[href='{page}']").click()
        wait(browser, "the referral's page", lambda d: d.find_elements(By.ID, "do-acknowledge"))
        assert body["candidate"]["email"] in browser.find_element(By.ID, "contact").text
        assert skill in browser.find_element(By.TAG_NAME, "main").text and browser.find_elements(By.ID, "due")
        open_forms(browser)
        check_page(browser, language, shots, "routed-referral")

        step("acknowledge", "acknowledged", {})
        when = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%dT10:00")
        step("schedule", "interviewing", {"schedule-when": when, "schedule-mode": "video"})
        step("outcome", "interviewing", {"outcome-1-outcome": "advanced"}, form="form-outcome-1")
        start = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
        for kind, state in (("offer", "offered"), ("placement", "placed")):
            terms = {"job_title": "Data analyst", "onet_soc_code": "15-2051.00", "employment_type": "full_time"}
            terms |= {"start_date": start, "wage_amount": "31.50", "wage_unit": "hour", "hours_per_week": "40"}
            terms |= {"schedule": "predictable", "benefit-health": "yes"}
            step(kind, state, {f"{kind}-{k}": v for k, v in terms.items()})
        # (the placed page's forms are checked by test_an_employers_later_forms_in_the_browser)
        assert browser.find_elements(By.ID, "employment") and browser.find_elements(By.ID, "form-retention")

        # The opening the referral came by: its other fields changed by its form.
        browser.get(f"{portal}/openings")
        section = f"section[data-opening='{opening_id}']"
        n = wait(browser, "the opening", lambda d: d.find_element(By.CSS_SELECTOR, f"{section} form[id^=change-]"))
        form = n.get_attribute("id")
        unfold(browser, form)
        fill(
            browser,
            {
                f"{form}-wage_amount": "33.50",
                f"{form}-employment_type": "full_time",
                f"{form}-preferred_skills": "Tableau",
                f"{form}-schedule": "predictable",
                f"{form}-min_hours_per_week": "30",
                f"{form}-max_hours_per_week": "20",
                f"{form}-benefit-dental": "yes",
            },
        )
        browser.find_element(By.ID, f"do-{form}").click()
        # The gateway refuses fewer hours at most than at least: its words at the field, the form as sent.
        wait(browser, "the refusal", lambda d: d.find_elements(By.ID, f"{form}-max_hours_per_week-problem"))
        assert browser.find_element(By.ID, f"{form}-max_hours_per_week").get_attribute("aria-invalid") == "true"
        assert browser.find_element(By.ID, f"{form}-wage_amount").get_attribute("value") == "33.50"
        check_page(browser, language, shots, "openings-problem")
        fill(browser, {f"{form}-max_hours_per_week": "40"})
        browser.find_element(By.ID, f"do-{form}").click()
        wait(browser, "the opening changed", lambda d: d.current_url.endswith(f"/openings?done={opening_id}"))
        changed = browser.find_element(By.CSS_SELECTOR, section)
        assert changed.find_element(By.CSS_SELECTOR, "[data-wage]").get_attribute("data-wage") == "33.50"
        assert "Tableau" in changed.text and say("Full time") in changed.text
        check_page(browser, language, shots, "openings")
    finally:
        in_language(browser, "en")
    browser.find_element(By.ID, "sign-out").click()
    wait(browser, "signed out", lambda d: "/sign-in" in d.current_url)

    # The partner sees it hired, why, and each step the employer took.
    signed_in(browser, portal, users[(NORTHSIDE, "admin")])
    try:
        in_language(browser, language)
        steps = ("referral.acknowledged", "interview.scheduled", "interview.completed", "offer.extended")
        labels = [say(present.EVENTS[e]) for e in (*steps, "placement.reported")]

        def hired(d):  # type: ignore[no-untyped-def]
            d.get(f"{portal}/referrals/{referral_id}")
            done = d.find_element(By.ID, "status").get_attribute("data-status") == "hired"
            return done and all(label in d.find_element(By.CSS_SELECTOR, "ol.timeline").text for label in labels)

        wait(browser, "the partner's page to say hired with every step", hired, timeout=60)
        main = browser.find_element(By.TAG_NAME, "main").text
        assert say(i18n_status("hired")) in main and "Data analyst" in main and start in main
        check_page(browser, language, shots, "referral-hired")
    finally:
        in_language(browser, "en")
    if language == "en":
        await placed_as_the_gateway_and_the_audit_say(api, portal, referral_id)


async def placed_as_the_gateway_and_the_audit_say(api: Api, portal: str, referral_id: str) -> None:
    """Over plain HTTP, after the walk: a step the state no longer allows shows the gateway's 409
    on the page and changes nothing; another employer gets 404 reading and acting and does not
    list it; the audit has each step with the acting user's correlation id."""
    users = sign_ins(api)
    civic = await portal_session(portal, **creds(users[(CIVIC, "admin")]))
    other = await portal_session(portal, **creds(users[("harborview-health", "admin")]))
    page = f"/routed/{referral_id}"
    try:
        late = await post_form(civic, page, f"{page}/acknowledge", {})
        assert late.status_code == 409 and 'id="problem"' in late.text and 'data-state="placed"' in late.text
        assert (await other.get(page)).status_code == 404
        assert (await post_form(other, "/routed", f"{page}/decline", {"reason": "no_capacity"})).status_code == 404
        assert referral_id not in (await other.get("/routed")).text
    finally:
        await civic.aclose()
        await other.aclose()
    conn = await asyncpg.connect(api.net.network.database_url)
    try:
        steps = await conn.fetch(
            "SELECT detail->>'step' AS step, correlation_id FROM portal.audit"
            " WHERE action = 'employer_step' AND target = $1 ORDER BY audit_id",
            referral_id,
        )
    finally:
        await conn.close()
    assert [s["step"] for s in steps] == ["acknowledge", "schedule", "outcome", "offer", "placement"]
    assert all(s["correlation_id"].startswith("portal-user-") for s in steps)


async def test_the_demand_board_and_our_funnel_in_the_browser(api: Api, portal: str, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A partner's demand board and its funnel beside the coalition's pass every page's checks
    (axe-core, 360 px, no message key, no English on the Spanish pages), reached by the menu."""
    from selenium.webdriver.common.by import By

    shots = screenshots(tmp_path)
    admin = sign_ins(api)[(NORTHSIDE, "admin")]
    signed_in(browser, portal, admin)
    pages = (("/demand", "hiring-standards", "standards-empty"), ("/funnel", "funnel-stages", "funnel-outcomes"))
    try:
        for language in ("en", "es"):
            for path, one, other in pages:
                browser.find_element(By.CSS_SELECTOR, f"nav a[href='{path}']").click()
                wait(browser, path, lambda d, a=one, b=other: d.find_elements(By.ID, a) or d.find_elements(By.ID, b))
                assert browser.find_element(By.CSS_SELECTOR, "[aria-current=page]").get_attribute("href").endswith(path)
                check_page(browser, language, shots, path.strip("/"))
            if language == "en":
                browser.find_element(By.ID, "language-es").click()
                wait(browser, "in Spanish", lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "es")
    finally:
        # The language is the user's: give the demo admin back English for the other tests.
        if browser.find_elements(By.ID, "language-en"):
            browser.find_element(By.ID, "language-en").click()
            wait(browser, "in English", lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en")


async def test_an_employers_later_steps_clicked_in_the_browser(api: Api, portal: str, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The employer's admin clicks the later steps through the referral page's forms: on one
    referral an interview rescheduled, another scheduled, the first cancelled, the second's outcome,
    an offer and the hire as an intern forty days ago, a 30-day check-in with a raise, more hours
    and a promotion, the conversion to an employee (the form then gone), a separation dated
    before the start (the gateway's 409 on the page) and the separation; on another, an offer the
    candidate turned down (nothing left to do on it; another employer gets 404 recording it).
    The pages with these forms, unfolded, pass every page's checks in English and Spanish. The
    gateway's referrals, its retention event and the audit then have each step."""
    from selenium.webdriver.common.by import By

    (_, placed, _, _), (_, turned_down, _, _) = await asyncio.gather(routed_to_civic(api), routed_to_civic(api))
    users = sign_ins(api)
    shots = screenshots(tmp_path)
    today = datetime.now(UTC).date()
    start, yesterday = (today - timedelta(days=40)).isoformat(), (today - timedelta(days=1)).isoformat()
    first, moved, second = ((datetime.now(UTC) + timedelta(days=d)).strftime("%Y-%m-%dT10:00") for d in (3, 4, 5))
    terms = {"job_title": "Data intern", "onet_soc_code": "15-2051.00", "employment_type": "internship"}
    terms |= {"start_date": start, "wage_amount": "21", "wage_unit": "hour", "hours_per_week": "20"}

    def shown(name: str, language: str) -> None:
        open_forms(browser)
        check_page(browser, language, shots, name)

    def interview(n: int):  # type: ignore[no-untyped-def]
        return browser.find_elements(By.CSS_SELECTOR, "section.interview")[n - 1]

    signed_in(browser, portal, users[(CIVIC, "admin")])
    page = f"/routed/{placed}"
    try:
        browser.get(f"{portal}{page}")
        step_clicked(browser, page, "acknowledge", "acknowledged", {})
        step_clicked(browser, page, "schedule", "interviewing", {"schedule-when": first, "schedule-mode": "video"})
        shown("routed-interviewing", "en")
        in_language(browser, "es")
        shown("routed-interviewing", "es")
        when = interview(1).find_element(By.TAG_NAME, "time").get_attribute("datetime")
        values = {"reschedule-1-when": moved, "reschedule-1-mode": "phone"}
        step_clicked(browser, page, "reschedule", "interviewing", values, form="form-reschedule-1")
        moved = interview(1).find_element(By.TAG_NAME, "time").get_attribute("datetime")  # as the gateway keeps it
        assert moved != when
        step_clicked(browser, page, "schedule", "interviewing", {"schedule-when": second, "schedule-mode": "video"})
        values = {"cancel-1-by": "candidate", "cancel-1-detail": "Found another job"}
        step_clicked(browser, page, "cancel", "interviewing", values, form="form-cancel-1")
        assert not interview(1).find_elements(By.TAG_NAME, "form") and interview(2).find_elements(By.TAG_NAME, "form")
        values = {"outcome-2-outcome": "advanced"}
        step_clicked(browser, page, "outcome", "interviewing", values, form="form-outcome-2")
        step_clicked(browser, page, "offer", "offered", {f"offer-{k}": v for k, v in terms.items()})
        assert browser.find_elements(By.ID, "form-offer_declined-1") and browser.find_elements(By.ID, "form-placement")
        shown("routed-offered", "es")
        step_clicked(browser, page, "placement", "placed", {f"placement-{k}": v for k, v in terms.items()})
        shown("routed-placed", "es")
        in_language(browser, "en")
        shown("routed-placed", "en")

        check_in = {"retention-milestone": "30", "retention-still": "yes", "retention-on": yesterday}
        check_in |= {"retention-wage_amount": "23", "retention-wage_unit": "hour", "retention-hours_per_week": "25"}
        step_clicked(browser, page, "retention", "placed", check_in | {"retention-promoted": "yes"})
        conversion = {**terms, "employment_type": "full_time", "wage_amount": "27", "converted_on": yesterday}
        del conversion["start_date"]
        step_clicked(browser, page, "conversion", "placed", {f"conversion-{k}": v for k, v in conversion.items()})
        assert browser.find_elements(By.ID, "converted") and not browser.find_elements(By.ID, "form-conversion")
        # A separation before the start: the gateway's 409, on the page, and nothing changed.
        unfold(browser, "form-separation")
        fill(browser, {"separation-on": "2020-01-01", "separation-reason": "resigned"})
        click_through(browser, browser.find_element(By.ID, "do-separation"))
        assert "before the start date" in wait(browser, "the 409", lambda d: d.find_element(By.ID, "problem")).text
        assert browser.find_element(By.ID, "status").get_attribute("data-state") == "placed"
        shown("routed-problem", "en")
        browser.get(f"{portal}{page}")
        values = {"separation-on": yesterday, "separation-reason": "resigned"}
        step_clicked(browser, page, "separation", "separated", values)
        assert browser.find_elements(By.ID, "separated") and not browser.find_elements(By.CSS_SELECTOR, "[id^=form-]")

        # The other referral: an offer the candidate turned down ends it.
        page = f"/routed/{turned_down}"
        browser.get(f"{portal}{page}")
        step_clicked(browser, page, "acknowledge", "acknowledged", {})
        step_clicked(browser, page, "offer", "offered", {f"offer-{k}": v for k, v in terms.items()})
        offer_id = browser.find_element(By.CSS_SELECTOR, "[data-offer]").get_attribute("data-offer")
        other = await portal_session(portal, **creds(users[("harborview-health", "admin")]))
        try:
            theirs = await post_form(
                other, "/routed", f"{page}/offer_declined", {"offer_id": offer_id, "reason": "schedule"}
            )
        finally:
            await other.aclose()
        assert theirs.status_code == 404
        values = {"offer_declined-1-reason": "schedule"}
        step_clicked(browser, page, "offer_declined", "offer_declined", values, form="form-offer_declined-1")
        assert not browser.find_elements(By.CSS_SELECTOR, "[id^=form-]")  # nothing is left to do on it
    finally:
        in_language(browser, "en")  # the language is the user's: the demo admin's back to English
    await later_steps_as_the_gateway_and_the_audit_say(api, placed, turned_down, moved)


async def later_steps_as_the_gateway_and_the_audit_say(api: Api, placed: str, turned_down: str, moved: str) -> None:
    """The gateway's referrals (interviews, offers, employment), its retention event and the
    portal's audit after the clicks of the test above."""
    civic = api.net.auth(f"employer:{CIVIC}")
    held = {
        r: (await api.http.get(api.url("employer_gateway", f"/v1/referrals/{r}"), headers=civic)).json()
        for r in (placed, turned_down)
    }
    one, two = held[placed]["interviews"]
    assert one["scheduled_for"] == moved and (one["mode"], one["cancelled_by"]) == ("phone", "candidate")
    assert two["outcome"] == "advanced" and two["cancelled_by"] is None
    employment = held[placed]["employment"]
    assert held[placed]["state"] == "separated" and employment["converted_on"] and employment["separated_on"]
    assert employment["terms"]["employment_type"] == "full_time"
    assert held[turned_down]["state"] == "offer_declined"
    assert held[turned_down]["offers"][0]["declined_reason"] == "schedule"
    conn = await asyncpg.connect(api.net.network.database_url)
    try:
        audited = {
            r["target"]: r["steps"]
            for r in await conn.fetch(
                "SELECT target, array_agg(detail->>'step' ORDER BY audit_id) AS steps FROM portal.audit"
                " WHERE action = 'employer_step' AND target = ANY($1::text[]) GROUP BY target",
                [placed, turned_down],
            )
        }
        events = [
            json.loads(v)
            for v in await conn.fetchval(
                "SELECT array_agg(value ORDER BY id) FROM employer_gateway.outbox WHERE key = $1", placed
            )
        ]
    finally:
        await conn.close()
    assert audited == {
        placed: ["acknowledge", "schedule", "reschedule", "schedule", "cancel", "outcome", "offer", "placement"]
        + ["retention", "conversion", "separation"],
        turned_down: ["acknowledge", "offer", "offer_declined"],
    }
    (retained,) = [e["data"] for e in events if e["type"].startswith("retention.checked")]
    assert retained["wage"]["amount"] in (23, "23", "23.00") and retained["hours_per_week"] == 25
    assert retained["promoted"] is True and retained["still_employed"] is True


async def test_an_employer_posts_changes_and_closes_an_opening(api: Api, portal: str) -> None:
    """Over plain HTTP on the running network: the employer's admin posts an opening by the
    form, changes its capacity and its other fields and closes it as filled; the gateway's refusal
    and the portal's own show on the page, at their field; another employer gets 404 changing or
    closing it and does not see it."""
    users = sign_ins(api)
    civic = await portal_session(portal, **creds(users[(CIVIC, "admin")]))
    other = await portal_session(portal, **creds(users[("harborview-health", "admin")]))
    title = f"Portal opening {uuid.uuid4().hex[:6]}"
    opening = {
        "title": title,
        "onet_soc_code": "15-1252.00",
        "required_skills": unique("portal-opening"),
        "capacity": "2",
        "wage_amount": "30.00",
        "wage_unit": "hour",
        "location": "Bronx, NY",
        "employment_type": "internship",
    }
    try:
        posted = await post_form(civic, "/openings", "/openings", opening)
        assert posted.status_code == 303, posted.text[:800]
        opening_id = posted.headers["location"].rsplit("=", 1)[1]
        listed = await civic.get(posted.headers["location"])
        assert (
            f'data-opening="{opening_id}" data-state="open" data-capacity="2"' in listed.text and title in listed.text
        )
        change = f"/openings/{opening_id}/change"
        changed = await post_form(civic, "/openings", change, {**opening, "capacity": "4"})
        assert changed.status_code == 303, changed.text[:800]
        assert f'data-opening="{opening_id}" data-state="open" data-capacity="4"' in (await civic.get("/openings")).text
        # Every other field the gateway lets an employer change, by the same form.
        more = {**opening, "capacity": "4", "employment_type": "micro_internship", "engagement_hours": "80"}
        more |= {"unpaid": "yes", "wage_amount": "", "remote": "yes", "degree_required": "associate"}
        more |= {"required_credentials": "OSHA 10", "schedule": "variable", "max_hours_per_week": "15"}
        more |= {"benefit": ["tuition"], "benefits_other": "Mentoring", "preferred_skills": "Excel"}
        assert (await post_form(civic, "/openings", change, more)).status_code == 303
        r = await api.http.get(api.url("employer_gateway", "/v1/openings"), headers=api.net.auth(f"employer:{CIVIC}"))
        now = next(o for o in r.json() if o["opening_id"] == opening_id)
        assert (now["employment_type"], now["engagement_hours"], now["paid"], now["remote"]) == (
            "micro_internship",
            80,
            False,
            True,
        )
        assert now["degree_required"] == "associate" and [c["name"] for c in now["required_credentials"]] == ["OSHA 10"]
        assert now["schedule"]["variable_hours"] is True and now["schedule"]["max_hours_per_week"] == 15
        assert now["benefits"]["tuition"] is True and now["benefits"]["other"] == ["Mentoring"]
        assert now["preferred_skills"] == ["Excel"] and now["title"] == title
        refused = await post_form(civic, "/openings", change, {**more, "capacity": "0"})  # the gateway's 422
        assert refused.status_code == 422 and 'id="problem"' in refused.text
        assert re.search(r'id="change-\d+-capacity-problem" lang="en"', refused.text)
        same = await post_form(civic, "/openings", change, more)  # the portal's own, before the gateway
        assert same.status_code == 422 and "Nothing was changed." in same.text
        loose = await post_form(civic, "/openings", change, {**more, "schedule": ""})
        assert loose.status_code == 422 and re.search(r'id="change-\d+-schedule-problem">', loose.text)
        for action, data in (
            (change, {**more, "capacity": "3"}),
            (f"/openings/{opening_id}/close", {"reason": "filled"}),
        ):
            assert (await post_form(other, "/openings", action, data)).status_code == 404, action
        assert opening_id not in (await other.get("/openings")).text
        closed = await post_form(civic, "/openings", f"/openings/{opening_id}/close", {"reason": "filled"})
        assert closed.status_code == 303, closed.text[:800]
        after = (await civic.get("/openings")).text
        assert (
            f'data-opening="{opening_id}" data-state="filled"' in after
            or f'data-opening="{opening_id}" data-state="closed"' in after
        )
    finally:
        await civic.aclose()
        await other.aclose()


# --- the coalition's operators (issue 17 item 4) -----------------------------------------------


async def a_bad_record(api: Api, run: str) -> str:
    """A record intake cannot take (no contact) on the bootcamp's topic; its graduate's uuid."""
    from aiokafka import AIOKafkaProducer

    from contracts import topics
    from plumbing.kafka import client_options

    bad = samples.forge_payload(samples.person(1, run), run=run)
    bad["data"]["graduate"]["contact"] = {}
    producer = AIOKafkaProducer(**client_options(api.net.bootstrap))
    await producer.start()
    try:
        await producer.send_and_wait(topics.partner_inbound(FORGE), json.dumps(bad).encode(), key=run.encode())
    finally:
        await producer.stop()
    return bad["data"]["graduate"]["uuid"]


async def its_dead_letter(ops: Any, graduate: str) -> str:
    from contracts import topics

    async def dead_lettered() -> str | None:
        letters = await ops.dead_letters("intake", topics.partner_inbound(FORGE))
        return next(
            (
                d.id
                for d in letters
                if not d.replay_of
                and isinstance(d.payload(), dict)
                and d.payload()["data"]["graduate"]["uuid"] == graduate
            ),
            None,
        )

    return await poll("the bad record dead-lettered", dead_lettered, timeout=60.0)


@pytest.mark.parametrize("language", ["en", "es"])
async def test_an_operator_watches_the_network_and_replays_a_dead_letter(
    api: Api, portal: str, browser, language: str, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """The operators' admin signs in to the portal (the console's pages live there now): a new
    referral arrives on the live events, lag and health show every service, a dead letter is
    replayed with its button and marked replayed, the funnel shows; every page in the language,
    axe-clean, 360 px. The replay names the acting user by id (the console's record and the audit)."""
    from selenium.webdriver.common.by import By

    from plumbing.operations import Operations

    admin = sign_ins(api)[("coalition-ops", "admin")]
    shots = screenshots(tmp_path)
    say = i18n.gettext_for(language)
    graduate = await a_bad_record(api, f"ops{language}{uuid.uuid4().hex[:6]}")  # dead-lettered while we look

    browser.get(f"{portal}/operators/events?partner={NORTHSIDE}&type=referral.submitted")
    wait(browser, "the sign-in page", lambda d: "/sign-in" in d.current_url)
    if language == "es":
        browser.find_element(By.ID, "language-es").click()
        wait(browser, "Spanish", lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "es")
    browser.find_element(By.ID, "email").send_keys(admin["email"])
    browser.find_element(By.ID, "password").send_keys(admin["password"])
    browser.find_element(By.ID, "sign-in").click()
    wait(browser, "signed in", lambda d: "/sign-in" not in d.current_url)
    # Signing in leads to the start page (the language's form keeps no ?next): to the events again.
    browser.get(f"{portal}/operators/events?partner={NORTHSIDE}&type=referral.submitted")
    state = wait(browser, "the live stream", lambda d: d.find_elements(By.CSS_SELECTOR, "[data-state=live]"))[0]
    assert state.text == say("live")
    body = referral_body([unique()])
    referral_id = await api.refer(NORTHSIDE, body)
    row = wait(
        browser, "the referral live", lambda d: d.find_elements(By.CSS_SELECTOR, f"tr[data-referral='{referral_id}']")
    )[0]
    assert "referral.submitted" in row.text and NORTHSIDE in row.text
    assert body["candidate"]["email"] not in browser.page_source  # ids and statuses only
    check_page(browser, language, shots, "operators-events")

    browser.find_element(By.LINK_TEXT, say("Lag")).click()
    wait(browser, "lag", lambda d: d.find_elements(By.CSS_SELECTOR, "tr[data-group^='routing.']"))
    check_page(browser, language, shots, "operators-lag")
    browser.find_element(By.LINK_TEXT, say("Health")).click()
    names = {
        r.get_attribute("data-name")
        for r in wait(browser, "health", lambda d: d.find_elements(By.CSS_SELECTOR, "#health tbody tr"))
    }
    assert {"broker", "database", "intake", "routing", "employer_gateway", "outcomes", "support"} <= names
    check_page(browser, language, shots, "operators-health")
    async with Operations(api.net.bootstrap, api.net.network.database_url) as ops:
        letter_id = await its_dead_letter(ops, graduate)

    browser.get(f"{portal}/operators/dead-letters?service=intake")
    row = wait(browser, "the dead letter", lambda d: d.find_elements(By.CSS_SELECTOR, f"tr[data-id='{letter_id}']"))[0]
    assert "contact-required" in row.text and row.get_attribute("data-replayed") == "no"
    check_page(browser, language, shots, "operators-dead-letters")
    row.find_element(By.CSS_SELECTOR, f"button[data-replay='{letter_id}']").click()
    notice = wait(browser, "the replay's result", lambda d: d.find_elements(By.CSS_SELECTOR, "#notice[data-result]"))[0]
    assert notice.get_attribute("data-result") == "replayed" and say("Replayed to its original topic.") in notice.text
    row = browser.find_element(By.CSS_SELECTOR, f"tr[data-id='{letter_id}']")
    assert row.get_attribute("data-replayed") == "yes" and not row.find_elements(By.TAG_NAME, "button")

    conn = await asyncpg.connect(api.net.network.database_url)
    try:
        user_id = await conn.fetchval("SELECT user_id::text FROM portal.users WHERE email = $1", admin["email"])
        audited = await conn.fetchval(
            "SELECT correlation_id FROM portal.audit WHERE action = 'operator_action' AND target = $1", letter_id
        )
    finally:
        await conn.close()
    async with Operations(api.net.bootstrap, api.net.network.database_url) as ops:
        replayed = await ops.dead_letter(letter_id)
    assert audited.startswith(f"portal-user-{user_id}-")
    assert replayed.replayed_at is not None and replayed.replayed_by == f"console:coalition-ops {audited}"

    for link, element, name in (
        (say("Parked outbox"), "main", "operators-outbox"),
        (say("Funnel"), "funnel", "operators-funnel"),
    ):
        click_through(browser, browser.find_element(By.LINK_TEXT, link))  # (the page before has a main too)
        wait(browser, name, lambda d, e=element: d.find_elements(By.ID, e))
        check_page(browser, language, shots, name)
