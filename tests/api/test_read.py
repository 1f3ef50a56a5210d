"""Read endpoints: health, search, ask, compare, speakers, documents, files, chunks, the page."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from tests.api.conftest import READ_KEY, WRITE_KEY, ClientFactory


def _doc_id(client: TestClient, fmt: str) -> str:
    docs = client.get("/documents").json()["documents"]
    return next(d["doc_id"] for d in docs if d["format"] == fmt)


def test_health_reports_model_store_and_counts(client: TestClient) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["model"].startswith("hash")
    assert body["store"] == "qdrant-edge"
    assert body["documents"] == 3
    assert body["chunks"] >= 3
    assert body["version"]


def test_search_returns_cli_shape_and_filters(client: TestClient) -> None:
    r = client.get("/search", params={"q": "green bonds financing", "k": 5})
    assert r.status_code == 200
    hits = r.json()["hits"]
    assert hits and {"chunk_id", "doc_id", "title", "text", "span", "stages", "page", "start_s"} <= hits[0].keys()
    only_se = client.get("/search", params={"q": "financing", "country": "se"}).json()["hits"]
    assert only_se and {h["country"] for h in only_se} == {"SE"}
    both = client.get("/search", params={"q": "financing", "country": "SE,ES"}).json()["hits"]
    repeated = client.get("/search", params=[("q", "financing"), ("country", "SE"), ("country", "ES")]).json()["hits"]
    assert {h["country"] for h in both} == {"SE", "ES"} == {h["country"] for h in repeated}
    transcripts = client.get("/search", params={"q": "financing", "doc_type": "transcript"}).json()["hits"]
    assert transcripts and all(h["start_s"] is not None for h in transcripts)
    late = client.get("/search", params={"q": "financing", "date_from": "2024-04-01"}).json()["hits"]
    assert {h["doc_id"] for h in late} == {_doc_id(client, "markdown")}


def test_search_paging_with_offset(client: TestClient) -> None:
    first = client.get("/search", params={"q": "cities", "k": 1}).json()["hits"]
    second = client.get("/search", params={"q": "cities", "k": 1, "offset": 1}).json()["hits"]
    assert first and second and first[0]["chunk_id"] != second[0]["chunk_id"]


def test_search_errors(client: TestClient) -> None:
    r = client.get("/search", params={"q": "   "})
    assert r.status_code == 400
    assert r.json() == {"error": {"code": "bad_query", "message": "the query is empty"}}
    for params in ({"q": "x", "k": 0}, {"q": "x", "k": "many"}, {"q": "x", "date_from": "yesterday"}, {}):
        r = client.get("/search", params=params)
        assert r.status_code == 422, params
        assert r.json()["error"]["code"] == "invalid_request"
        assert r.json()["error"]["message"]


def test_ask_gives_cited_answer(client: TestClient) -> None:
    r = client.post("/ask", json={"question": "How do cities finance climate neutrality plans with green bonds?"})
    assert r.status_code == 200
    answer = r.json()
    assert answer["evidence"] is True
    assert answer["citations"]
    for c in answer["citations"]:
        assert f"[{c['n']}]" in answer["answer"]
        assert c["quote"] in answer["answer"]
    scoped = client.post("/ask", json={"question": "How do cities finance plans?", "filters": {"country": ["es"]}})
    assert {c["country"] for c in scoped.json()["citations"]} <= {"ES"}


def test_ask_errors(client: TestClient) -> None:
    assert client.post("/ask", json={"question": ""}).status_code == 400
    assert client.post("/ask", json={}).status_code == 422
    assert client.post("/ask", json={"question": "x", "bogus": 1}).status_code == 422
    r = client.post("/ask", content=b"not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"


def test_compare_rows_per_country(client: TestClient) -> None:
    r = client.post("/compare", json={"question": "How are cities financed?"})
    assert r.status_code == 200
    rows = r.json()["rows"]
    assert [row["country"] for row in rows] == ["ES", "SE"]  # all with material, EU left out
    r = client.post("/compare", json={"question": "How are cities financed?", "countries": ["se", "PL"]})
    rows = {row["country"]: row for row in r.json()["rows"]}
    assert rows["SE"]["evidence"] is True and rows["SE"]["citations"]
    assert rows["PL"]["evidence"] is False and rows["PL"]["citations"] == []
    bad = client.post("/compare", json={"question": "x", "countries": ["Sweden"]})
    assert bad.status_code == 422 and "country code" in bad.json()["error"]["message"]


def test_speakers_with_evidence(client: TestClient) -> None:
    r = client.get("/speakers", params={"topic": "green bonds finance investment plans"})
    assert r.status_code == 200
    people = {p["name"]: p for p in r.json()["speakers"]}
    assert "Anna Lindqvist" in people
    anna = people["Anna Lindqvist"]
    assert anna["organisation"] == "Viable Cities" and anna["country"] == "SE"
    assert anna["evidence"][0]["start_s"] == 3.0
    assert "green bonds" in anna["evidence"][0]["quote"]
    only_it = client.get("/speakers", params={"topic": "investment plans", "country": "it"}).json()["speakers"]
    assert [p["name"] for p in only_it] == ["Marco Bellini"]
    assert client.get("/speakers", params={"topic": "x", "limit": 0}).status_code == 422
    assert client.get("/speakers", params={"topic": ""}).status_code == 400


def test_documents_list_total_and_facets(client: TestClient) -> None:
    body = client.get("/documents").json()
    assert body["total"] == 3 and len(body["documents"]) == 3
    assert body["facets"]["country"] == {"SE": 1, "ES": 1, "EU": 1}
    assert body["facets"]["doc_type"] == {"good_practice": 1, "guideline": 1, "transcript": 1}
    assert body["facets"]["language"] == {"en": 3}
    se = client.get("/documents", params={"country": "SE"}).json()
    assert se["total"] == 1 and se["documents"][0]["meta"]["country"] == "SE"
    # a facet ignores its own filter, so the other choices stay visible
    assert se["facets"]["country"] == {"SE": 1, "ES": 1, "EU": 1}
    assert se["facets"]["doc_type"] == {"good_practice": 1}
    page = client.get("/documents", params={"limit": 1, "offset": 1}).json()
    assert page["total"] == 3 and len(page["documents"]) == 1
    assert client.get("/documents", params={"limit": 0}).status_code == 422


def test_document_record_and_404(client: TestClient) -> None:
    doc_id = _doc_id(client, "vtt")
    record = client.get(f"/documents/{doc_id}").json()
    assert record["title"] == "Webinar on financing climate investment plans"
    assert record["meta"]["speakers"][0]["name"] == "Anna Lindqvist"
    r = client.get("/documents/nope")
    assert r.status_code == 404
    assert r.json() == {"error": {"code": "not_found", "message": "no document with id 'nope'"}}


def test_file_served_with_type_and_sandbox(client: TestClient) -> None:
    doc_id = _doc_id(client, "html")
    r = client.get(f"/documents/{doc_id}/file")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-security-policy"].startswith("sandbox")
    assert b"Red espa" in r.content
    vtt = client.get(f"/documents/{_doc_id(client, 'vtt')}/file")
    assert vtt.headers["content-type"].startswith("text/plain") and vtt.text.startswith("WEBVTT")
    assert client.get("/documents/nope/file").status_code == 404


def test_file_outside_allowed_roots_is_not_served(make_client: ClientFactory, tmp_path: Path) -> None:
    client = make_client()
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    secret = outside / "private.md"
    secret.write_text("# Private notes\n\nThese notes live outside the corpus and the uploads folder.\n")
    summary = client.kb.indexer().ingest([secret])  # type: ignore[attr-defined]
    doc_id = summary.doc_ids[0]
    assert client.get(f"/documents/{doc_id}").status_code == 200
    r = client.get(f"/documents/{doc_id}/file")
    assert r.status_code == 404 and "not available" in r.json()["error"]["message"]


def test_chunk_with_text_and_span(client: TestClient) -> None:
    answer = client.post("/ask", json={"question": "How do cities finance climate plans with green bonds?"}).json()
    citation = answer["citations"][0]
    chunk = client.get(f"/chunks/{citation['chunk_id']}").json()
    start = citation["span"]["start"] - chunk["span"]["start"]
    end = citation["span"]["end"] - chunk["span"]["start"]
    assert chunk["text"][start:end] == citation["quote"]
    r = client.get("/chunks/unknown")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_page_and_assets_with_strict_csp(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "CapaCITIES" in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert "<script>" not in page.text  # no inline scripts
    js = client.get("/static/app.js")
    assert js.status_code == 200 and "innerHTML" not in js.text and "content-security-policy" in js.headers


def test_openapi_documents_every_endpoint_with_models(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    expected = {
        ("/health", "get"),
        ("/search", "get"),
        ("/ask", "post"),
        ("/compare", "post"),
        ("/speakers", "get"),
        ("/documents", "get"),
        ("/documents", "post"),
        ("/documents/{doc_id}", "get"),
        ("/documents/{doc_id}", "delete"),
        ("/documents/{doc_id}/file", "get"),
        ("/documents/{doc_id}/content", "get"),
        ("/chunks/{chunk_id}", "get"),
        ("/reindex", "post"),
    }
    assert {(p, m) for p, ops in paths.items() for m in ops} == expected
    for path, method in expected - {("/documents/{doc_id}/file", "get")}:
        ok = paths[path][method]["responses"]
        success = ok.get("200") or ok.get("201")
        assert "$ref" in str(success["content"]["application/json"]["schema"]), (path, method)
    assert "multipart/form-data" in paths["/documents"]["post"]["requestBody"]["content"]


def test_cors_off_by_default_and_on_when_configured(make_client: ClientFactory) -> None:
    plain = make_client()
    r = plain.get("/health", headers={"Origin": "https://example.org"})
    assert "access-control-allow-origin" not in r.headers
    cors = make_client(cors_origins=["https://example.org"])
    r = cors.get("/health", headers={"Origin": "https://example.org"})
    assert r.headers["access-control-allow-origin"] == "https://example.org"
    r = cors.get("/health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers


def test_read_keys_guard_reads_when_set(make_client: ClientFactory) -> None:
    client = make_client(read_api_keys=[READ_KEY])
    r = client.get("/search", params={"q": "financing"})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert client.get("/search", params={"q": "financing"}, headers={"X-API-Key": "wrong"}).status_code == 403
    assert client.get("/search", params={"q": "financing"}, headers={"X-API-Key": READ_KEY}).status_code == 200
    assert client.get("/documents", headers={"Authorization": f"Bearer {WRITE_KEY}"}).status_code == 200
    assert client.post("/ask", json={"question": "financing"}).status_code == 401
    assert client.get("/health").status_code == 200  # probes stay open


def test_docs_page_works_offline(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert "/docs-assets/swagger-ui-bundle.js" in page.text and "cdn" not in page.text.lower()
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert client.get(f"/docs-assets/{asset}").status_code == 200
    assert client.get("/openapi.json").json()["info"]["title"] == "capacities-kb"


def test_one_query_length_limit_for_api_cli_and_kb(client: TestClient) -> None:
    from click.testing import CliRunner

    from cli import main
    from kb.models import MAX_QUERY_CHARS

    longest, too_long = "cities " * (MAX_QUERY_CHARS // 7), "c" * (MAX_QUERY_CHARS + 1)
    assert client.get("/search", params={"q": longest[:MAX_QUERY_CHARS]}).status_code == 200
    for path, params in (("/search", {"q": too_long}), ("/speakers", {"topic": too_long})):
        r = client.get(path, params=params)
        assert r.status_code == 422 and str(MAX_QUERY_CHARS) in r.json()["error"]["message"], r.text
    r = client.post("/ask", json={"question": too_long})
    assert r.status_code == 422 and str(MAX_QUERY_CHARS) in r.json()["error"]["message"], r.text
    for args in (["search", too_long], ["ask", too_long], ["compare", too_long], ["speakers", too_long]):
        result = CliRunner().invoke(main, args)  # refused before any store or model is opened
        assert result.exit_code == 1, args
        assert result.stderr.strip() == f"error: the query is longer than {MAX_QUERY_CHARS} characters", args
