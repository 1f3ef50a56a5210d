"""The source viewer: ``/documents/{id}/content`` (blocks, spans, safe HTML) and the ``/view`` page."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from ingest.registry import load_path
from tests.api.conftest import READ_KEY, WRITE_KEY, ClientFactory, write_headers

HOSTILE_MD = b"""# Hostile notes zebra-md

Raw markup <script>window.__xss=1</script> and <img src=x onerror=alert(1)> stay text.

[click me](javascript:alert(1)) and <a href="javascript:alert(2)">html link</a> and [fine](https://example.org/a).

<svg onload=alert(3)><circle r=1 /></svg>

<iframe src="https://evil.example/"></iframe>

![tracker](https://evil.example/pixel.png)
"""
HOSTILE_HTML = b"""<!doctype html><html><head><title>Hostile page zebra-html</title>
<script>window.__xss=1</script><style>body{display:none}</style></head>
<body onload="alert(0)"><h1 onclick="alert(1)">Hostile page zebra-html</h1>
<p>Climate contracts <img src=x onerror=alert(2)> and <a href="javascript:alert(3)">one</a>,
<a href=" JaVaScRiPt:alert(4)">two</a>, <a href="https://example.org/ok" onmouseover="alert(5)">three</a>.</p>
<svg onload="alert(6)"><script>alert(7)</script></svg><iframe src="https://evil.example/"></iframe>
<form action="javascript:alert(8)"><button formaction="javascript:alert(9)">go</button></form>
<object data="javascript:alert(10)"></object><math><a xlink:href="javascript:alert(11)">m</a></math>
<details open ontoggle="alert(12)"><summary>More</summary>Details about green bonds.</details>
</body></html>
"""
HOSTILE_VTT = b"""WEBVTT

1
00:00:01.000 --> 00:00:09.000
<v Eve Example>Zebra-vtt talk <script>window.__xss=1</script> about <img src=x onerror=alert(1)> climate bonds.

2
00:00:10.000 --> 00:00:19.000
<v Eve Example>See <a href="javascript:alert(2)">this</a> and <svg onload=alert(3)> <iframe src=x></iframe> now.
"""
EXECUTABLE_TAGS = {"script", "style", "iframe", "img", "svg", "math", "object", "embed", "form", "button", "title"}


class _Markup(HTMLParser):
    """Collects the tags and attributes of an HTML fragment."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes.extend((name, value or "") for name, value in attrs)


def _markup(html: str) -> _Markup:
    parser = _Markup()
    parser.feed(html)
    parser.close()
    return parser


def _doc_id(client: TestClient, fmt: str) -> str:
    docs = client.get("/documents").json()["documents"]
    return next(d["doc_id"] for d in docs if d["format"] == fmt)


def _content(client: TestClient, doc_id: str, **headers: str) -> dict[str, Any]:
    r = client.get(f"/documents/{doc_id}/content", headers=headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _upload(client: TestClient, name: str, data: bytes) -> str:
    r = client.post("/documents", files={"file": (name, data)}, headers=write_headers())
    assert r.status_code == 201, r.text
    doc_id: str = r.json()["doc_ids"][0]
    return doc_id


def test_transcript_blocks_have_speakers_times_and_exact_spans(client: TestClient) -> None:
    view = _content(client, _doc_id(client, "vtt"))
    assert view["format"] == "vtt" and view["html"] is None and view["changed"] is False
    assert view["title"] == "Webinar on financing climate investment plans"
    cues = [(b["kind"], b["speaker"], b["start_s"], b["end_s"]) for b in view["blocks"]]
    assert cues == [("cue", "Anna Lindqvist", 3.0, 25.0), ("cue", "Marco Bellini", 65.0, 100.0)]
    assert view["blocks"][0]["text"].startswith("Welcome everyone.")
    corpus: Path = client.settings.corpus_dirs[0]  # type: ignore[attr-defined]
    text = load_path(corpus / "webinar.vtt", max_bytes=2**20, max_unzipped_bytes=2**20).docs[0].text
    for block in view["blocks"]:
        assert text[block["span"]["start"] : block["span"]["end"]] == block["text"]
    # the spans are those of the indexed chunks, so a hit's span lands on the same text
    hit = client.get("/search", params={"q": "green bonds", "doc_type": "transcript"}).json()["hits"][0]
    chunk = client.get(f"/chunks/{hit['chunk_id']}").json()
    first = view["blocks"][0]
    offset = first["span"]["start"] - chunk["span"]["start"]
    assert chunk["text"][offset : offset + len(first["text"])] == first["text"]


def test_markdown_and_html_rendered_with_headings_and_exact_spans(client: TestClient) -> None:
    view = _content(client, _doc_id(client, "markdown"))
    meta = view["meta"]
    assert meta["country"] == "SE" and meta["doc_type"] == "good_practice" and meta["language"] == "en"
    assert "<h1>National platforms for climate-neutral cities</h1>" in view["html"]
    assert "<h2>Financing the transition</h2>" in view["html"]
    titles = [(b["text"], b["level"]) for b in view["blocks"] if b["kind"] == "title"]
    assert titles == [("National platforms for climate-neutral cities", 1), ("Financing the transition", 2)]
    corpus: Path = client.settings.corpus_dirs[0]  # type: ignore[attr-defined]
    text = load_path(corpus / "guide.md", max_bytes=2**20, max_unzipped_bytes=2**20).docs[0].text
    assert all(text[b["span"]["start"] : b["span"]["end"]] == b["text"] for b in view["blocks"])
    assert view["blocks"][-1]["section"] == [
        "National platforms for climate-neutral cities",
        "Financing the transition",
    ]
    page = _content(client, _doc_id(client, "html"))
    assert "<h1>Red española de ciudades</h1>" in page["html"]
    assert "<title>" not in page["html"] and "<html" not in page["html"]


def test_hostile_payloads_never_become_executable_markup(make_client: ClientFactory) -> None:
    client = make_client()
    rendered = {}
    for name, data, marker in (
        ("notes.md", HOSTILE_MD, "zebra-md"),
        ("page.html", HOSTILE_HTML, "zebra-html"),
        ("talk.vtt", HOSTILE_VTT, "Zebra-vtt"),
    ):
        r = client.get(f"/documents/{_upload(client, name, data)}/content")
        assert r.status_code == 200 and r.headers["content-type"] == "application/json", name
        view = r.json()
        assert any(marker in b["text"] for b in view["blocks"]), name
        if name.endswith(".vtt"):
            assert view["html"] is None  # transcripts are shown as text only
            continue
        html = rendered[name] = view["html"]
        assert marker in html and "<script" not in html.lower(), name
        markup = _markup(html)
        assert not EXECUTABLE_TAGS & set(markup.tags), (name, markup.tags)
        assert not [n for n, _ in markup.attributes if n.startswith("on") or n in ("style", "src", "formaction")]
        hrefs = [v for n, v in markup.attributes if n == "href"]
        assert hrefs and all(h.startswith("https://") for h in hrefs), (name, hrefs)
        assert not [v for _, v in markup.attributes if "javascript" in v.lower()]
        rels = [v for n, v in markup.attributes if n == "rel"]
        assert rels and all(v == "noopener noreferrer nofollow" for v in rels)
    # Markdown's raw HTML stays visible as text; its images are dropped
    assert "&lt;script&gt;" in rendered["notes.md"] and "pixel.png" not in rendered["notes.md"]
    assert "Details about green bonds." in rendered["page.html"] and "display:none" not in rendered["page.html"]


def test_unknown_document_is_404(client: TestClient) -> None:
    r = client.get("/documents/nope/content")
    assert r.status_code == 404
    assert r.json() == {"error": {"code": "not_found", "message": "no document with id 'nope'"}}


def test_file_outside_allowed_roots_is_not_viewed(make_client: ClientFactory, tmp_path: Path) -> None:
    client = make_client()
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    secret = outside / "private.md"
    secret.write_text("# Private notes\n\nThese notes live outside the corpus and the uploads folder.\n")
    doc_id = client.kb.indexer().ingest([secret]).doc_ids[0]  # type: ignore[attr-defined]
    assert client.get(f"/documents/{doc_id}").status_code == 200
    r = client.get(f"/documents/{doc_id}/content")
    assert r.status_code == 404 and "not available" in r.json()["error"]["message"]
    assert "Private notes" not in r.text


def test_read_key_required_when_configured(make_client: ClientFactory) -> None:
    client = make_client(read_api_keys=[READ_KEY])
    docs = client.get("/documents", headers={"X-API-Key": READ_KEY}).json()["documents"]
    doc_id = docs[0]["doc_id"]
    r = client.get(f"/documents/{doc_id}/content")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert client.get(f"/documents/{doc_id}/content", headers={"X-API-Key": "wrong"}).status_code == 403
    assert _content(client, doc_id, **{"X-API-Key": READ_KEY})["blocks"]
    assert _content(client, doc_id, Authorization=f"Bearer {WRITE_KEY}")["blocks"]
    page = client.get(f"/documents/{doc_id}/view")  # the page itself holds no document text
    assert page.status_code == 200 and "access-key" in page.text


def test_changed_file_is_flagged(make_client: ClientFactory) -> None:
    client = make_client()
    corpus: Path = client.settings.corpus_dirs[0]  # type: ignore[attr-defined]
    note = corpus / "note.md"
    note.write_text("# Kept id\n\nMunicipal energy advisers help smaller cities.\n", encoding="utf-8")
    (corpus / "note.md.meta.yaml").write_text("id: kept-id\ncountry: SE\nlanguage: en\n", encoding="utf-8")
    client.kb.indexer().ingest([note])  # type: ignore[attr-defined]
    assert _content(client, "kept-id")["changed"] is False
    note.write_text("# Kept id\n\nA new first paragraph.\n\nMunicipal energy advisers help smaller cities.\n")
    view = _content(client, "kept-id")  # same id, shifted text: the indexed spans are off
    assert view["changed"] is True and view["blocks"][1]["text"] == "A new first paragraph."
    guide = corpus / "guide.md"
    docs = client.get("/documents").json()["documents"]
    doc_id = next(d["doc_id"] for d in docs if d["title"] == "National platforms for climate-neutral cities")
    guide.write_text(guide.read_text(encoding="utf-8") + "\nOne more line.\n", encoding="utf-8")
    view = _content(client, doc_id)  # no id of its own: new bytes give a new id, reported as changed
    assert view["changed"] is True and view["doc_id"] == doc_id


def test_view_page_is_a_page_with_strict_csp(client: TestClient) -> None:
    page = client.get(f"/documents/{_doc_id(client, 'vtt')}/view", params={"at": "0-10", "q": "bonds"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert page.headers["x-frame-options"] == "DENY"
    assert "<script>" not in page.text and 'src="/static/view.js"' in page.text
    js = client.get("/static/view.js")
    assert js.status_code == 200 and "innerHTML" not in js.text
    assert "content-security-policy" not in client.get(f"/documents/{_doc_id(client, 'vtt')}/content").headers


def test_docx_comes_by_section_and_pptx_by_slide(make_client: ClientFactory, tmp_path: Path) -> None:
    from tests.unit.ingest.conftest import make_docx, make_pptx

    client = make_client()
    docx = client.get(
        f"/documents/{_upload(client, 'notes.docx', make_docx(tmp_path / 'n.docx').read_bytes())}/content"
    )
    blocks = docx.json()["blocks"]
    assert [b["text"] for b in blocks if b["kind"] == "title"][:3] == [
        "Session notes",
        "Funding instruments",
        "Next steps",
    ]
    green = next(b for b in blocks if b["text"].startswith("Green bonds were discussed"))
    assert green["section"][-1] == "Funding instruments"
    pptx = client.get(f"/documents/{_upload(client, 'deck.pptx', make_pptx(tmp_path / 'd.pptx').read_bytes())}/content")
    view = pptx.json()
    assert view["format"] == "pptx" and view["pages"] == 3
    for n in (1, 2, 3):
        on_slide = [b["text"] for b in view["blocks"] if b["page"] == n]
        assert f"Slide title {n}" in on_slide and any(f"slide {n} explains" in t for t in on_slide), on_slide
