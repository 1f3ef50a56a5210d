"""Write endpoints: keys, uploads (names, sizes, types), delete, reindex, audit log, rate limits, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.security import RateLimiter, key_id, parse_rate
from kb.errors import ModelMismatch, StoreUnavailable
from tests.api.conftest import WRITE_KEY, ClientFactory, audit_lines, write_headers

TEXT = b"Municipal energy advisers help smaller cities prepare climate city contracts and renovation plans.\n"


def _upload(client: TestClient, name: str, data: bytes, key: str | None = WRITE_KEY, **fields: str):  # type: ignore[no-untyped-def]
    headers = write_headers(key) if key else {}
    return client.post("/documents", files={"file": (name, data)}, data=fields, headers=headers)


def _stored(client: TestClient) -> list[Path]:
    files_dir: Path = client.settings.files_dir  # type: ignore[attr-defined]
    return sorted(p for p in files_dir.rglob("*") if p.is_file())


def test_writes_disabled_without_keys(make_client: ClientFactory) -> None:
    client = make_client(api_keys=[])
    for r in (
        _upload(client, "a.txt", TEXT, key="anything"),
        client.delete("/documents/x", headers=write_headers("anything")),
        client.post("/reindex"),
    ):
        assert r.status_code == 403
        assert r.json() == {
            "error": {"code": "writes_disabled", "message": "write endpoints are disabled: set KB_API_KEYS"}
        }
    assert [e["outcome"] for e in audit_lines(client)] == ["denied:403"] * 3
    assert client.get("/search", params={"q": "cities"}).status_code == 200  # reads stay open


def test_missing_and_wrong_keys(client: TestClient) -> None:
    r = _upload(client, "a.txt", TEXT, key=None)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert "missing API key" in r.json()["error"]["message"]
    r = _upload(client, "a.txt", TEXT, key="not-the-key")
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert client.post("/reindex", headers={"X-API-Key": "nope"}).status_code == 403
    assert client.delete("/documents/x").status_code == 401
    log = (client.settings.data_dir / "audit.log").read_text()  # type: ignore[attr-defined]
    assert "not-the-key" not in log and key_id("not-the-key") in log


def test_upload_stores_by_hash_with_sidecar_and_audits(make_client: ClientFactory) -> None:
    client = make_client()
    r = _upload(client, "notes.txt", TEXT, title="Energy advisers", country="fi", language="en", topics="energy, ccc")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["added"] == 1 and body["chunks"] >= 1 and body["format"] == "text" and body["bytes"] == len(TEXT)
    import hashlib

    sha = hashlib.sha256(TEXT).hexdigest()
    assert body["stored_as"] == f"{sha}.txt"
    files_dir = client.settings.files_dir  # type: ignore[attr-defined]
    assert (files_dir / f"{sha}.txt").read_bytes() == TEXT
    sidecar = (files_dir / f"{sha}.txt.meta.yaml").read_text()
    assert "original_name: notes.txt" in sidecar and "country: FI" in sidecar
    doc_id = body["doc_ids"][0]
    record = client.get(f"/documents/{doc_id}").json()
    assert record["title"] == "Energy advisers" and record["meta"]["country"] == "FI"
    assert record["meta"]["topics"] == ["energy", "ccc"]
    assert client.get(f"/documents/{doc_id}/file").content == TEXT
    hits = client.get("/search", params={"q": "energy advisers renovation", "country": "FI"}).json()["hits"]
    assert hits and hits[0]["doc_id"] == doc_id
    again = _upload(
        client, "notes.txt", TEXT, title="Energy advisers", country="FI", language="en", topics="energy,ccc"
    )
    assert again.status_code == 201 and again.json()["unchanged"] == 1 and again.json()["added"] == 0
    entries = audit_lines(client)
    assert entries[-1]["action"] == "upload" and entries[-1]["outcome"] == "ok"
    assert entries[-1]["key_id"] == key_id(WRITE_KEY) and entries[-1]["doc_id"] == doc_id
    assert set(entries[-1]) == {"time", "key_id", "action", "doc_id", "outcome"}
    assert WRITE_KEY not in (client.settings.data_dir / "audit.log").read_text()  # type: ignore[attr-defined]


HOSTILE_NAMES = [
    "../../../../etc/passwd.txt",
    "..\\..\\windows\\evil.md",
    "a\x00b.txt",
    "x" * 5000 + ".md",
    "",
    ".hidden",
]


def test_hostile_upload_names_never_become_paths(make_client: ClientFactory, tmp_path: Path) -> None:
    client = make_client()
    files_dir = client.settings.files_dir.resolve()  # type: ignore[attr-defined]
    stored_names = set()
    for i, name in enumerate(HOSTILE_NAMES):
        data = TEXT + f"variant {i}".encode()
        r = _upload(client, name, data)
        assert r.status_code == 201, (name, r.text)
        stored_names.add(r.json()["stored_as"].split(".")[0])
        record = client.get(f"/documents/{r.json()['doc_ids'][0]}").json()
        assert "/" not in record["title"] and "\\" not in record["title"] and "\x00" not in record["title"]
        assert 0 < len(record["title"]) <= 200
    stored = _stored(client)
    assert all(p.resolve().is_relative_to(files_dir) for p in stored)
    assert {p.name.split(".")[0] for p in stored} == stored_names
    assert len(stored) == 2 * len(HOSTILE_NAMES)  # each file and its sidecar
    assert not (tmp_path / "etc").exists()
    r = _upload(client, "y" * 40_000 + ".txt", TEXT + b"too long")  # part headers past 16 KB
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"


def test_script_upload_is_stored_and_returned_as_text(make_client: ClientFactory) -> None:
    client = make_client()
    html = b'<!doctype html><html><body><h1>Hostile page</h1><p>Safe text <script>window.__xss=1</script> and <a href="javascript:alert(1)">a link</a> about climate contracts.</p></body></html>'
    r = _upload(client, "page.html", html)
    assert r.status_code == 201, r.text
    doc_id = r.json()["doc_ids"][0]
    served = client.get(f"/documents/{doc_id}/file")
    assert served.content == html
    assert served.headers["content-security-policy"].startswith("sandbox")
    text = b"Plain <script>window.__xss=1</script> text about municipal climate contracts and finance.\n"
    r = _upload(client, "plain.txt", text)
    hits = client.get("/search", params={"q": "municipal climate contracts finance", "doc_id": r.json()["doc_ids"][0]})
    hit = hits.json()["hits"][0]
    assert "<script>window.__xss=1</script>" in hit["text"]  # JSON carries the text literally
    assert hits.headers["content-type"] == "application/json"
    plain = client.get(f"/documents/{r.json()['doc_ids'][0]}/file")
    assert plain.headers["content-type"].startswith("text/plain")


def test_upload_size_limit_413(make_client: ClientFactory) -> None:
    client = make_client(max_file_mb=0.01)  # about 10 KB
    big = b"climate " * 4000  # 32 KB
    r = _upload(client, "big.txt", big)
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
    assert _stored(client) == []  # the partial upload was removed
    ok = _upload(client, "small.txt", TEXT)
    assert ok.status_code == 201
    assert audit_lines(client)[0]["outcome"] == "error:413"


def test_upload_type_errors_415_and_422(make_client: ClientFactory) -> None:
    client = make_client()
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
    r = _upload(client, "picture.pdf", png)
    assert r.status_code == 415 and "PNG" in r.json()["error"]["message"]
    r = _upload(client, "report.pdf", TEXT)  # text pretending to be a PDF
    assert r.status_code == 415 and r.json()["error"]["message"] == "content is text, not PDF"
    r = _upload(client, "binary.txt", b"\x00\x01\x02" * 50)
    assert r.status_code == 415
    r = client.post("/documents", content=TEXT, headers={**write_headers(), "Content-Type": "text/plain"})
    assert r.status_code == 415 and "multipart/form-data" in r.json()["error"]["message"]
    r = _upload(client, "empty.txt", b"")
    assert r.status_code == 422 and r.json()["error"]["code"] == "parse_error"
    r = _upload(client, "broken.docx", b"PK\x03\x04 not really a zip")
    assert r.status_code == 422 and r.json()["error"]["code"] == "parse_error"
    r = _upload(client, "a.txt", TEXT, country="Narnia")
    assert r.status_code == 422 and "country" in r.json()["error"]["message"]
    r = _upload(client, "a.txt", TEXT, doc_type="poem")
    assert r.status_code == 422
    r = client.post("/documents", data={"title": "no file"}, headers=write_headers())
    assert r.status_code in (415, 422)
    r = client.post("/documents", files={"file": ("a.txt", TEXT)}, data={"owner": "x"}, headers=write_headers())
    assert r.status_code == 422 and "unknown form field" in r.json()["error"]["message"]
    assert _stored(client) == []
    assert client.get("/documents").json()["total"] == 3
    assert [e["outcome"].split(":")[1] for e in audit_lines(client)][:3] == ["415", "415", "415"]


def test_delete_and_reindex(make_client: ClientFactory) -> None:
    client = make_client()
    up = _upload(client, "temp.md", b"# Temporary\n\nA temporary note on climate mission labels.\n")
    doc_id = up.json()["doc_ids"][0]
    r = client.delete(f"/documents/{doc_id}", headers={"X-API-Key": WRITE_KEY})
    assert r.status_code == 200 and r.json() == {"doc_id": doc_id, "deleted": True, "file_removed": True}
    assert _stored(client) == []
    assert client.get(f"/documents/{doc_id}").status_code == 404
    r = client.delete(f"/documents/{doc_id}", headers=write_headers())
    assert r.status_code == 404
    corpus_doc = client.get("/documents", params={"country": "SE"}).json()["documents"][0]
    assert "path" not in corpus_doc and corpus_doc["source_path"] == "guide.md"
    corpus: Path = client.settings.corpus_dirs[0]  # type: ignore[attr-defined]
    (corpus / corpus_doc["source_path"]).write_text(
        "# Changed\n\nThe Swedish platform now also funds one-stop shops.\n"
    )
    r = client.post("/reindex", headers=write_headers())
    assert r.status_code == 200
    body = r.json()
    assert body["added"] + body["updated"] == 1 and body["unchanged"] == 2 and body["failed"] == []
    hits = client.get("/search", params={"q": "one-stop shops", "country": "SE"}).json()["hits"]
    assert hits and "one-stop shops" in hits[0]["text"]
    assert client.get("/documents").json()["total"] == 3
    assert [(e["action"], e["outcome"]) for e in audit_lines(client)] == [
        ("upload", "ok"),
        ("delete", "ok"),
        ("delete", "error:404"),
        ("reindex", "ok:3 files"),
    ]


def test_rate_limit_429_with_retry_after(make_client: ClientFactory) -> None:
    client = make_client(rate_limit_ask="2/minute", rate_limit_upload="1/minute")
    for _ in range(2):
        assert client.post("/ask", json={"question": "financing"}).status_code == 200
    r = client.post("/compare", json={"question": "financing"})
    assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(r.headers["retry-after"]) <= 60
    assert client.get("/search", params={"q": "financing"}).status_code == 200  # search is not limited
    assert _upload(client, "a.txt", TEXT).status_code == 201
    assert _upload(client, "b.txt", TEXT + b"b").status_code == 429


def test_rate_limiter_window_slides() -> None:
    assert parse_rate("60/minute") == (60, 60.0)
    assert parse_rate("5/10s") == (5, 10.0)
    assert parse_rate("1000/day") == (1000, 86400.0)
    with pytest.raises(ValueError, match="invalid rate limit"):
        parse_rate("lots")
    limiter = RateLimiter("2/second")
    assert limiter.hit("a", now=0.0) is None and limiter.hit("a", now=0.5) is None
    assert limiter.hit("a", now=0.9) == pytest.approx(0.1)
    assert limiter.hit("b", now=0.9) is None  # separate identity
    assert limiter.hit("a", now=1.01) is None  # the first hit left the window


def test_store_errors_are_503_and_bugs_500_without_details(
    make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = make_client(raise_server_exceptions=False)
    kb = client.kb  # type: ignore[attr-defined]

    def unavailable(*args: object, **kwargs: object) -> None:
        raise StoreUnavailable("Qdrant at http://qdrant:6333 is unreachable after 3 retries")

    def mismatch(*args: object, **kwargs: object) -> None:
        raise ModelMismatch("collection was indexed with model 'a', not 'b'")

    def bug(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internal detail /etc/shadow")

    monkeypatch.setattr(kb.store, "hybrid_search", unavailable)
    r = client.get("/search", params={"q": "financing"})
    assert r.status_code == 503 and r.json()["error"]["code"] == "store_unavailable"
    monkeypatch.setattr(kb.store, "count_chunks", mismatch)
    r = client.get("/health")
    assert r.status_code == 503 and r.json()["error"]["code"] == "model_mismatch"
    monkeypatch.setattr(kb.store, "get_chunk", bug)
    r = client.get("/chunks/abc")
    assert r.status_code == 500
    assert r.json() == {"error": {"code": "internal", "message": "internal server error"}}
    assert "secret" not in r.text and "Traceback" not in r.text


def test_unopenable_store_answers_503_then_recovers(
    make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = make_client()
    services = client.app.state.services  # type: ignore[attr-defined]
    services.ready = False
    calls = {"n": 0}
    real_open = services.kb.open

    def flaky_open():  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 1:
            raise StoreUnavailable("the store is locked by another process")
        return real_open()

    monkeypatch.setattr(services.kb, "open", flaky_open)
    r = client.get("/documents")
    assert r.status_code == 503 and "locked" in r.json()["error"]["message"]
    assert client.get("/documents").status_code == 200


def test_audit_log_is_json_lines(make_client: ClientFactory) -> None:
    client = make_client()
    _upload(client, "a.txt", TEXT)
    raw = (client.settings.data_dir / "audit.log").read_text().splitlines()  # type: ignore[attr-defined]
    assert len(raw) == 1 and json.loads(raw[0])["time"].endswith("+00:00")
