"""The web page in a real browser against a real server with the default embedding model."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import CHROMIUM, HOSTILE, KEY

pytestmark = pytest.mark.slow

if not CHROMIUM.exists():
    pytest.skip("chromium is not installed at /usr/bin/chromium", allow_module_level=True)


@pytest.mark.parametrize(("label", "width", "height"), [("laptop", 1366, 860), ("phone", 390, 844)])
def test_page_end_to_end(server: str, browser, label: str, width: int, height: int) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    dialogs: list[str] = []
    errors: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("pageerror", lambda e: errors.append(str(e)))
    shots = Path("/tmp")
    page.goto(server + "/")
    page.wait_for_selector("#search-country option:nth-child(2)", state="attached")

    # countries by name, with the code
    countries = page.locator("#search-country option").all_inner_texts()
    assert any(t.startswith("Sweden (SE)") for t in countries), countries

    # search: query words highlighted, and the address holds the query to share
    page.fill("#search-q", "How can smaller cities get support?")
    page.select_option("#search-country", "EU")
    page.click("#search-form button[type=submit]")
    page.wait_for_selector("#search-results li")
    assert page.locator("#search-results li").count() > 0
    assert page.locator("#search-results mark.q").count() > 0
    first = page.locator("#search-results li h3").first.inner_text()
    href = page.locator("#search-results li h3 a").first.get_attribute("href") or ""
    assert href.startswith("/documents/") and "/view?at=" in href, href
    shared = page.url
    assert "tab=search" in shared and "country=EU" in shared and "smaller" in shared, shared
    page.screenshot(path=str(shots / f"kb-{label}-search.png"), full_page=True)

    # the shared address, opened in a fresh page, runs the same search
    other = context.new_page()
    other.goto(shared)
    other.wait_for_selector("#search-results li")
    assert other.input_value("#search-q") == "How can smaller cities get support?"
    assert other.input_value("#search-country") == "EU"
    assert other.locator("#search-results li h3").first.inner_text() == first
    other.close()

    # ask, then open a citation in context
    page.click("#tab-ask")
    page.fill("#ask-q", "How can national programmes help smaller cities?")
    page.click("#ask-form button[type=submit]")
    page.wait_for_selector("#ask-result article")
    cites = page.locator("#ask-result .cite")
    if cites.count():
        cites.first.click()
        page.wait_for_selector("#context-body mark")
        assert page.locator("#context-body mark").inner_text().strip()
        href = page.locator("#context-link a").first.get_attribute("href") or ""
        assert href.startswith("/documents/") and "/view?at=" in href, href
        page.screenshot(path=str(shots / f"kb-{label}-citation.png"))
        page.keyboard.press("Escape")
    page.screenshot(path=str(shots / f"kb-{label}-ask.png"), full_page=True)

    # compare, picking countries with checkbox chips
    page.click("#tab-compare")
    page.fill("#compare-q", "How do national governments support cities?")
    page.check("#compare-countries input[value=SE]")
    page.check("#compare-countries input[value=FI]")
    page.click("#compare-form button[type=submit]")
    page.wait_for_selector("#compare-result table, #compare-result .empty")
    rows = page.locator("#compare-result tbody th").all_inner_texts()
    assert rows == ["Sweden (SE)", "Finland (FI)"] or rows == ["Finland (FI)", "Sweden (SE)"], rows
    assert "countries=" in page.url
    page.screenshot(path=str(shots / f"kb-{label}-compare.png"), full_page=True)

    # speakers
    page.click("#tab-speakers")
    page.fill("#speakers-topic", "national governance of the mission")
    page.click("#speakers-form button[type=submit]")
    page.wait_for_selector("#speakers-result li")
    assert page.locator("#speakers-result .evidence blockquote").count() > 0
    page.screenshot(path=str(shots / f"kb-{label}-speakers.png"), full_page=True)

    # documents and a hostile upload
    page.click("#tab-documents")
    page.wait_for_selector("#docs-list li")
    upload = shots / f"hostile-{label}.html"
    upload.write_bytes(HOSTILE.replace(b"zebra-quartz", f"zebra-quartz-{label}".encode()))
    page.set_input_files("#up-file", str(upload))
    page.fill("#up-key", KEY)
    page.click("#upload-form button[type=submit]")
    page.wait_for_selector("#upload-result .ok, #upload-result .error")
    assert page.locator("#upload-result .ok").count() == 1, page.locator("#upload-result").inner_text()
    page.screenshot(path=str(shots / f"kb-{label}-documents.png"), full_page=True)

    page.click("#tab-search")
    page.fill("#search-q", f"zebra-quartz-{label}")
    page.select_option("#search-country", "")
    page.click("#search-form button[type=submit]")
    page.wait_for_selector("#search-results li:has-text('Hostile upload')", timeout=30_000)
    text = page.locator("#search-results").inner_text()
    assert "Hostile upload" in text
    assert page.locator("#search-results script").count() == 0
    assert page.locator("#search-results a[href^='javascript']").count() == 0
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
    assert all(h.startswith("/") or h == "#" for h in hrefs), hrefs
    page.screenshot(path=str(shots / f"kb-{label}-hostile.png"), full_page=True)
    assert page.evaluate("typeof window.__xss") == "undefined"

    # delete the upload from the Documents tab, with the key given there
    page.click("#tab-documents")
    doc = page.locator("#docs-list li", has_text="Hostile upload")
    doc.first.wait_for()
    before = page.locator("#docs-status").inner_text()
    doc.first.locator("button", has_text="Delete").click()
    doc.first.locator("button.danger", has_text="Delete").click()
    page.wait_for_selector("#docs-list li .ok:has-text('Deleted')")
    page.screenshot(path=str(shots / f"kb-{label}-deleted.png"), full_page=True)
    page.click("#tab-search")
    page.click("#tab-documents")
    page.wait_for_function("s => document.querySelector('#docs-status').textContent !== s", arg=before)
    assert dialogs == [] and errors == []

    # keyboard: arrow keys move between tabs
    page.focus("#tab-search")
    page.keyboard.press("ArrowRight")
    assert page.locator("#tab-ask").get_attribute("aria-selected") == "true"
    context.close()


def test_api_docs_render_offline(server: str, browser) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(server + "/docs")
    page.wait_for_selector(".opblock-summary-path")
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert "/ask" in paths and "/search" in paths, paths
    assert "Unable to render" not in page.content()
    assert all(u.startswith(server) for u in requests), [u for u in requests if not u.startswith(server)]
    page.screenshot(path="/tmp/kb-laptop-docs.png")
    page.close()


def test_hostile_file_does_not_run_when_opened(server: str, browser) -> None:  # type: ignore[no-untyped-def]
    r = httpx.post(
        server + "/documents",
        files={"file": ("open-me.html", HOSTILE.replace(b"zebra-quartz", b"opened-file"))},
        headers={"X-API-Key": KEY},
        timeout=120,
    )
    assert r.status_code == 201, r.text
    page = browser.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(f"{server}/documents/{r.json()['doc_ids'][0]}/file")
    page.wait_for_timeout(500)
    assert "opened-file" in page.content()
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert dialogs == []
    page.close()
