"""Who may write, and what reaches logs: no document text, no keys, CORS only when configured.

Keys on write endpoints (401/403), the audit log's key ids and configurable rate limits (429)
are tested in tests/api/test_write.py; this file checks logs at DEBUG and CORS.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from kb.models import SearchFilters
from kb.service import KnowledgeBase
from tests.api.conftest import WRITE_KEY, ClientFactory, make_settings, write_corpus, write_headers

MARKER = "Zyxqv7731marker"
SECRET_DOC = f"# Hidden guide\n\nThe {MARKER} programme funds climate contracts in {MARKER} towns.\n"


class Everything(logging.Handler):
    """Keeps every formatted record, exceptions included."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("httpx"):  # the test's own HTTP client, which logs its URLs
            return
        self.lines.append(logging.Formatter("%(name)s %(message)s %(exc_text)s").format(record))


@pytest.fixture
def captured() -> Iterator[Everything]:
    """Capture every log record of every logger at DEBUG."""
    handler = Everything()
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(old)


def test_document_text_and_keys_never_reach_logs(
    make_client: ClientFactory, captured: Everything, tmp_path: Path
) -> None:
    folder = write_corpus(tmp_path / "folder")
    (folder / "hidden.md").write_text(SECRET_DOC, encoding="utf-8")
    kb = KnowledgeBase(make_settings(tmp_path / "direct"))
    try:
        assert not kb.open().indexer().ingest([folder]).failed
        assert kb.retriever.search(f"{MARKER} programme", SearchFilters(), k=5)
    finally:
        kb.close()
    client = make_client(llm_api_key="llm-key-secret-42")
    r = client.post(
        "/documents", files={"file": ("up.md", SECRET_DOC.replace("Hidden", "Uploaded"))}, headers=write_headers()
    )
    assert r.status_code == 201, r.text
    hits = client.get("/search", params={"q": f"{MARKER} programme"}).json()["hits"]
    assert hits and MARKER in hits[0]["text"]
    assert client.post("/ask", json={"question": f"What does the {MARKER} programme fund?"}).status_code == 200
    assert client.get("/speakers", params={"topic": MARKER}).status_code == 200
    client.post("/documents", files={"file": ("bad.docx", b"PK\x03\x04" + MARKER.encode())}, headers=write_headers())
    client.post("/documents", files={"file": ("x.md", SECRET_DOC)}, headers={"X-API-Key": "wrong-" + MARKER})
    assert len(captured.lines) > 5  # logging did happen
    text = "\n".join(captured.lines)
    assert MARKER not in text
    assert WRITE_KEY not in text and "llm-key-secret-42" not in text
    audit = (client.settings.data_dir / "audit.log").read_text()  # type: ignore[attr-defined]
    assert MARKER not in audit and WRITE_KEY not in audit


def test_cors_is_off_unless_configured(make_client: ClientFactory) -> None:
    origin = {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    client = make_client()
    r = client.options("/documents", headers=origin)
    assert "access-control-allow-origin" not in r.headers
    r = client.get("/search", params={"q": "cities"}, headers={"Origin": "https://evil.example"})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
    allowed = make_client(cors_origins=["https://kb.example"])
    r = allowed.get("/search", params={"q": "cities"}, headers={"Origin": "https://kb.example"})
    assert r.headers["access-control-allow-origin"] == "https://kb.example"
    r = allowed.get("/search", params={"q": "cities"}, headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers
