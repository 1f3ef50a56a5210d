"""Country codes people recognise (GR with EL as an alias, unknown codes refused) and no
server paths in any response."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import ClientFactory, write_headers

GREEK = (
    b"# Greek network of cities\n\nThe Greek network of municipalities shares heat pump procurement across islands.\n"
)


def _upload_greek(client: TestClient, country: str = "EL") -> dict[str, Any]:
    r = client.post(
        "/documents",
        files={"file": ("diktyo.md", GREEK)},
        data={"country": country, "language": "en"},
        headers=write_headers(),
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


@pytest.fixture
def greek(make_client: ClientFactory) -> TestClient:
    client = make_client()
    _upload_greek(client)
    return client


def test_el_is_stored_as_gr_and_both_filter_alike(greek: TestClient) -> None:
    facets = greek.get("/documents").json()["facets"]["country"]
    assert facets.get("GR") == 1 and "EL" not in facets
    by_gr = greek.get("/search", params={"q": "heat pump procurement", "country": "GR"}).json()["hits"]
    by_el = greek.get("/search", params={"q": "heat pump procurement", "country": "el"}).json()["hits"]
    assert by_gr and by_gr == by_el
    assert {h["country"] for h in by_gr} == {"GR"}
    about = greek.get("/search", params={"q": "heat pump procurement", "about": "EL"}).json()["hits"]
    assert about and {tuple(h["about"]) for h in about} == {("GR",)}
    docs = greek.get("/documents", params={"country": "EL"}).json()["documents"]
    assert [d["meta"]["country"] for d in docs] == ["GR"]
    ask = greek.post("/ask", json={"question": "heat pump procurement", "filters": {"country": ["EL"]}})
    assert ask.status_code == 200 and all(c["country"] == "GR" for c in ask.json()["citations"])
    rows = greek.post("/compare", json={"question": "heat pump procurement", "countries": ["EL", "SE"]}).json()["rows"]
    assert [r["country"] for r in rows] == ["GR", "SE"]


@pytest.mark.parametrize(
    ("method", "url", "kwargs"),
    [
        ("GET", "/search", {"params": {"q": "financing", "country": "XX"}}),
        ("GET", "/search", {"params": {"q": "financing", "country": "SE,XX"}}),
        ("GET", "/search", {"params": {"q": "financing", "about": "XX"}}),
        ("GET", "/documents", {"params": {"country": "XX"}}),
        ("GET", "/speakers", {"params": {"topic": "financing", "country": "XX"}}),
        ("POST", "/ask", {"json": {"question": "financing", "filters": {"country": ["XX"]}}}),
        ("POST", "/compare", {"json": {"question": "financing", "countries": ["SE", "XX"]}}),
        ("POST", "/compare", {"json": {"question": "financing", "filters": {"country": ["XX"]}}}),
    ],
)
def test_an_unknown_country_is_a_422_naming_it(client: TestClient, method: str, url: str, kwargs: Any) -> None:
    r = client.request(method, url, **kwargs)
    assert r.status_code == 422, r.text
    assert "'XX'" in r.json()["error"]["message"]


def test_an_upload_with_an_unknown_country_is_refused(make_client: ClientFactory) -> None:
    client = make_client()
    r = client.post("/documents", files={"file": ("x.md", GREEK)}, data={"country": "XX"}, headers=write_headers())
    assert r.status_code == 422 and "'XX'" in r.json()["error"]["message"]
    assert client.get("/documents").json()["total"] == 3


def test_the_cli_refuses_an_unknown_country_in_one_line(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from cli import main

    monkeypatch.setenv("KB_DATA_DIR", str(client.settings.data_dir))  # type: ignore[attr-defined]
    for args in (["search", "financing", "--country", "XX"], ["compare", "financing", "--countries", "SE,XX"]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code != 0
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and "'XX'" in lines[0] and "--countr" in lines[0], result.output


def _bodies(client: TestClient, corpus: Path) -> dict[str, str]:
    """Every endpoint's answer to a request that succeeds, and to some that fail."""
    docs = client.get("/documents").json()["documents"]
    doc_id = docs[0]["doc_id"]
    hit = client.get("/search", params={"q": "green bonds"}).json()["hits"][0]
    upload = client.post("/documents", files={"file": ("note.md", GREEK)}, headers=write_headers())
    uploaded = upload.json()["doc_ids"][0]
    (corpus / "guide.md").write_text("# Changed\n\nSweden's platform funds one-stop shops.\n")
    (corpus / "network.html").unlink()  # reindex reports the missing file
    requests = {
        "health": client.get("/health"),
        "search": client.get("/search", params={"q": "green bonds", "explain": "true"}),
        "ask": client.post("/ask", json={"question": "How do cities finance climate plans?"}),
        "compare": client.post("/compare", json={"question": "How do cities finance climate plans?"}),
        "speakers": client.get("/speakers", params={"topic": "green bonds"}),
        "documents": client.get("/documents"),
        "document": client.get(f"/documents/{doc_id}"),
        "content": client.get(f"/documents/{doc_id}/content"),
        "chunk": client.get(f"/chunks/{hit['chunk_id']}"),
        "upload": upload,
        "reindex": client.post("/reindex", headers=write_headers()),
        "delete": client.delete(f"/documents/{uploaded}", headers=write_headers()),
        "missing document": client.get("/documents/nope"),
        "missing file": client.get(f"/documents/{doc_id}/file"),
        "openapi": client.get("/openapi.json"),
    }
    return {name: r.text for name, r in requests.items()}


def test_no_response_contains_a_server_path(make_client: ClientFactory) -> None:
    client = make_client()
    settings = client.settings  # type: ignore[attr-defined]
    corpus = settings.corpus_dirs[0]
    bodies = _bodies(client, corpus)
    assert '"failed":[{"path":"network.html"' in bodies["reindex"]
    hit = client.get("/search", params={"q": "green bonds"}).json()["hits"][0]
    assert hit["path"] == "webinar.vtt"
    assert hit["url"] == f"/documents/{hit['doc_id']}/view?at={hit['span']['start']}-{hit['span']['end']}"
    secrets = {str(p) for p in (corpus, corpus.resolve(), settings.data_dir, settings.data_dir.resolve())}
    for name, body in bodies.items():
        for secret in secrets:
            assert secret not in body, (name, secret)
