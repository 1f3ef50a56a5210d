"""The web page in a real browser against a real server with the default embedding model."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
KEY = "e2e-write-key-7f3a"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SAMPLES = [
    "guidelines/gl-eu-smaller-cities.pdf",
    "transcripts/tr-alliance-1-governance.vtt",
    "good-practice/valtion-sitoumus.html",
    "good-practice/klimatkontrakt-2030.md",
    "good-practice/cities2030-colaboracion-radical.html",
]
HOSTILE = (
    b"<!doctype html><html><head><title>Hostile upload</title></head><body><h1>Hostile upload</h1>"
    b"<p>Marker zebra-quartz. <script>window.__xss=1</script> Please read the "
    b'<a href="javascript:alert(1)">javascript link</a> about zebra-quartz climate contracts.</p>'
    b"<p>&lt;img src=x onerror=alert(2)&gt; zebra-quartz stays text.</p></body></html>"
)

if not CHROMIUM.exists():
    pytest.skip("chromium is not installed at /usr/bin/chromium", allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``kb serve`` on a free loopback port over a few sample files (or small written ones)."""
    base = tmp_path_factory.mktemp("e2e")
    corpus = base / "corpus"
    corpus.mkdir()
    for rel in SAMPLES:
        src = ROOT / "corpus" / rel
        if src.exists():
            shutil.copy(src, corpus / src.name)
            meta = src.with_name(src.name + ".meta.yaml")
            if meta.exists():
                shutil.copy(meta, corpus / meta.name)
    if not any(corpus.iterdir()):
        (corpus / "note.md").write_text("# Note\n\nNational platforms help cities finance climate city contracts.\n")
    data_dir = Path(os.environ.get("KB_E2E_DATA_DIR", base / "data"))
    env = {
        **os.environ,
        "KB_DATA_DIR": str(data_dir),
        "KB_API_KEYS": KEY,
        "KB_CORPUS_DIRS": str(corpus),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    env.pop("KB_EMBED_MODEL", None)
    kb = str(ROOT / ".venv" / "bin" / "kb")
    subprocess.run([kb, "ingest", str(corpus)], env=env, check=True, timeout=1800, capture_output=True)
    port = _free_port()
    log = (base / "server.log").open("wb")
    proc = subprocess.Popen(
        [kb, "serve", "--host", "127.0.0.1", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {(base / 'server.log').read_text()[-2000:]}")
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        else:
            raise RuntimeError("server did not start in 300 s")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="session")
def browser():  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


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

    # search
    page.fill("#search-q", "How can smaller cities get support?")
    page.click("#search-form button[type=submit]")
    page.wait_for_selector("#search-results li")
    assert page.locator("#search-results li").count() > 0
    page.screenshot(path=str(shots / f"kb-{label}-search.png"), full_page=True)

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
        href = page.locator("#context-link a").get_attribute("href") or ""
        assert href.startswith("/documents/") and "/file" in href
        page.screenshot(path=str(shots / f"kb-{label}-citation.png"))
        page.keyboard.press("Escape")
    page.screenshot(path=str(shots / f"kb-{label}-ask.png"), full_page=True)

    # compare
    page.click("#tab-compare")
    page.fill("#compare-q", "How do national governments support cities?")
    page.click("#compare-form button[type=submit]")
    page.wait_for_selector("#compare-result table, #compare-result .empty")
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
    assert dialogs == [] and errors == []

    # keyboard: arrow keys move between tabs
    page.focus("#tab-search")
    page.keyboard.press("ArrowRight")
    assert page.locator("#tab-ask").get_attribute("aria-selected") == "true"
    context.close()


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
