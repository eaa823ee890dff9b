"""The annual release's static site in headless Chromium, opened from disk (file://, as a coalition's
reviewer would before putting it on a web host): the index links every table, each table's page
shows it, and the methods page and the data dictionary are there. The site is the files
`talentloop publish` writes (`publish.write` of the release built from the unit tests' dataset: no
network is needed to look at a static site)."""

from __future__ import annotations

import json
from pathlib import Path

from talentloop.publish import write
from tests.e2e import chromium  # skips the module without Chromium
from tests.unit.test_release import release

browser = chromium.browser  # the fixtures
module_chromium = chromium.module_chromium


def test_the_site_opens_from_disk_with_every_table_and_the_methods_page(browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    site = tmp_path / "site"
    files = release()
    write(site, files)
    tables = json.loads(files["release.json"])["tables"]

    browser.get((site / "index.html").as_uri())
    pages = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "#tables li > a")]
    pages = [h for h in pages if h.endswith(".html")]
    assert [h.rsplit("/", 1)[1] for h in pages] == [f"{name}.html" for name in tables]
    for name, href in zip(tables, pages, strict=True):
        browser.get(href)
        table = browser.find_element(By.ID, name)
        doc = json.loads(files[f"tables/{name}.json"])
        assert [th.text for th in table.find_elements(By.CSS_SELECTOR, "thead th")] == doc["columns"]
        assert len(table.find_elements(By.CSS_SELECTOR, "tbody tr")) == len(doc["rows"])

    browser.get((site / "index.html").as_uri())
    browser.find_element(By.LINK_TEXT, "Methods").click()
    assert browser.find_element(By.ID, "methods").is_displayed()
    assert "not published" in browser.find_element(By.ID, "not-published").text
    browser.get((site / "dictionary.html").as_uri())
    assert {t.get_attribute("id") for t in browser.find_elements(By.TAG_NAME, "table")} == set(tables)
