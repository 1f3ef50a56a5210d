"""The source viewer in a real browser: a citation opens its document with the quote marked and in view."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import CHROMIUM, KEY, ROOT

pytestmark = pytest.mark.slow

if not CHROMIUM.exists():
    pytest.skip("chromium is not installed at /usr/bin/chromium", allow_module_level=True)

VIEWPORTS = [("laptop", 1366, 860), ("phone", 390, 844)]
SHOTS = Path("/tmp")
TRANSCRIPT = "tr-alliance-1-governance"
HOSTILE = {
    "md": b"# Hostile notes zebra-view\n\nRaw <script>window.__xss=1</script> and <img src=x onerror=alert(1)> markup.\n\n"
    b"[click](javascript:alert(2)) <svg onload=alert(3)></svg> <iframe src=x></iframe> zebra-view climate contracts.\n",
    "html": b"<!doctype html><html><head><title>Hostile page zebra-view</title><script>window.__xss=1</script></head>"
    b'<body onload="alert(0)"><h1>Hostile page zebra-view</h1><p>Text <img src=x onerror="window.__xss=2"> and '
    b'<a href="javascript:alert(1)">a link</a> <svg onload="alert(3)"></svg><iframe src="/"></iframe> about '
    b"zebra-view climate contracts.</p></body></html>",
    "vtt": b"WEBVTT\n\n1\n00:00:01.000 --> 00:00:08.000\n<v Eve Example>zebra-view talk <script>window.__xss=1</script> "
    b"and <img src=x onerror=alert(1)> about climate contracts.\n",
}


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 60}:{s % 60:02d}" if s < 3600 else f"{s // 3600}:{(s % 3600) // 60:02d}:{s % 60:02d}"


def _hit(server: str, q: str, doc_id: str) -> dict[str, Any]:
    hits = httpx.get(f"{server}/search", params={"q": q, "doc_id": doc_id, "k": 3}, timeout=60).json()["hits"]
    assert hits, (q, doc_id)
    hit: dict[str, Any] = hits[0]
    return hit


def _doc_id(server: str, title_start: str) -> str:
    docs = httpx.get(f"{server}/documents", params={"limit": 100}, timeout=30).json()["documents"]
    return next(d["doc_id"] for d in docs if d["title"].startswith(title_start))


def _in_view(page, selector: str) -> bool:  # type: ignore[no-untyped-def]
    return bool(
        page.eval_on_selector(
            selector, "e => { const r = e.getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight; }"
        )
    )


def _open(browser, width: int, height: int):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    problems: list[str] = []
    page.on("dialog", lambda d: (problems.append("dialog: " + d.message), d.dismiss()))
    page.on("pageerror", lambda e: problems.append("error: " + str(e)))
    return context, page, problems


@pytest.mark.parametrize(("label", "width", "height"), VIEWPORTS)
def test_citation_opens_marked_and_in_view(server: str, browser, label: str, width: int, height: int) -> None:  # type: ignore[no-untyped-def]
    context, page, problems = _open(browser, width, height)

    # a transcript: the quote is marked inside the row of the cue it was said in, scrolled into view
    hit = _hit(server, "How did the cities help write the national funding call?", TRANSCRIPT)
    span = hit["span"]
    page.goto(f"{server}/documents/{TRANSCRIPT}/view?at={span['start']}-{span['end']}&q=funding")
    page.wait_for_selector("#doc mark.quote")
    row_mark = f'#doc .cue:has(time:text-is("{_clock(hit["start_s"])}")) mark.quote'
    assert page.locator(row_mark).count() >= 1
    assert _in_view(page, "#doc mark.quote")
    assert page.locator("#doc mark.quote").first.inner_text().strip() in hit["text"]
    assert page.locator("#doc-links a", has_text="Download the original").count() == 1
    page.screenshot(path=str(SHOTS / f"kb-{label}-view-transcript.png"))

    # Markdown: rendered headings, the quote found in the rendered text, and the text mode
    doc_id = _doc_id(server, "Klimatkontrakt 2030")
    hit = _hit(server, "Klimatkontraktet revideras varje december", doc_id)
    span = hit["span"]
    page.goto(f"{server}/documents/{doc_id}/view?at={span['start']}-{span['end']}")
    page.wait_for_selector("#doc mark.quote")
    source = (ROOT / "corpus" / "good-practice" / "klimatkontrakt-2030.md").read_text(encoding="utf-8").splitlines()
    for level in (1, 2, 3):  # every heading of the source is rendered, none lost on the way into the page
        expected = sum(line.startswith("#" * level + " ") for line in source)
        assert expected and page.locator(f"#doc h{level}").count() == expected, level
    assert page.get_attribute("#mode-rendered", "aria-pressed") == "true"
    assert page.locator("#mode-note").is_hidden()
    assert _in_view(page, "#doc mark.quote")
    page.screenshot(path=str(SHOTS / f"kb-{label}-view-markdown.png"))
    page.click("#mode-text")
    page.wait_for_selector("#doc.text mark.quote")
    assert _in_view(page, "#doc mark.quote") and "mode=text" in page.url
    page.screenshot(path=str(SHOTS / f"kb-{label}-view-markdown-text.png"))

    # HTML: every section heading of the source is rendered
    doc_id = _doc_id(server, "Valtion sitoumus")
    page.goto(f"{server}/documents/{doc_id}/view")
    page.wait_for_selector("#doc.rendered h2")
    source = (ROOT / "corpus" / "good-practice" / "valtion-sitoumus.html").read_text(encoding="utf-8")
    assert page.locator("#doc h2").count() == source.count("<h2")
    assert page.locator("#doc title, #doc style").count() == 0

    # PDF: grouped by page, with a link to the original at the quote's page
    doc_id = _doc_id(server, "Beyond the 112")
    hit = _hit(server, "Which cities count as smaller cities?", doc_id)
    span = hit["span"]
    page.goto(f"{server}/documents/{doc_id}/view?at={span['start']}-{span['end']}")
    page.wait_for_selector("#doc mark.quote")
    page_no = hit["page"]
    assert page.locator(f'#doc section[data-page="{page_no}"] mark.quote').count() >= 1
    assert page.locator("#doc .page-head").first.inner_text().lower() == "page 1"
    link = page.locator("#doc-links a", has_text=f"Open the original at page {page_no}")
    assert link.get_attribute("href") == f"/documents/{doc_id}/file#page={page_no}"
    page.screenshot(path=str(SHOTS / f"kb-{label}-view-pdf.png"))
    assert problems == []
    context.close()


@pytest.mark.parametrize(("label", "width", "height"), VIEWPORTS)
def test_hostile_files_do_not_run_in_the_viewer(server: str, browser, label: str, width: int, height: int) -> None:  # type: ignore[no-untyped-def]
    context, page, problems = _open(browser, width, height)
    for ext, data in HOSTILE.items():
        r = httpx.post(
            f"{server}/documents",
            files={"file": (f"hostile-{label}.{ext}", data.replace(b"zebra-view", f"zebra-view-{label}".encode()))},
            headers={"X-API-Key": KEY},
            timeout=120,
        )
        assert r.status_code == 201, r.text
        doc_id = r.json()["doc_ids"][0]
        modes = ("rendered", "text") if ext != "vtt" else ("text",)
        for mode in modes:
            page.goto(f"{server}/documents/{doc_id}/view?mode={mode}&q=climate")
            page.wait_for_selector("#doc:not([hidden])")
            page.wait_for_timeout(300)
            assert f"zebra-view-{label}" in page.locator("#doc").inner_text().lower()
            assert page.evaluate("typeof window.__xss") == "undefined"
            assert page.locator("#doc script, #doc iframe, #doc img, #doc svg").count() == 0
            assert page.locator("#doc [onerror], #doc [onload], #doc [onclick]").count() == 0
            assert page.locator('#doc a[href^="javascript"]').count() == 0
            assert page.locator("#doc mark.q").count() >= 1
            if ext == "md" and mode == "rendered":  # raw HTML in Markdown is shown as text
                assert "<script>window.__xss=1</script>" in page.locator("#doc").inner_text()
        page.screenshot(path=str(SHOTS / f"kb-{label}-view-hostile-{ext}.png"))
    assert problems == []
    context.close()
