"""One generated fixture per format: text, elements, provenance and metadata."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ingest.models import Element
from tests.unit.ingest.conftest import load, load_one, make_docx, make_pptx

VTT = """WEBVTT

NOTE
title: 'Alliance Webinar: Financing'
date: '2024-03-20'
note: All speakers are fictional.
speakers:
- name: Helena Brink-Castell (fictional)
  organisation: European mission platform
  country: EU
  role: moderator

1
00:00:03.000 --> 00:00:25.500
<v Helena Brink-Castell>Good afternoon and <i>welcome</i> &amp; thanks.

2
00:01:02.250 --> 00:01:10.000 align:start
<v.loud Tomás Echeverría Ruiz>Thank you, Helena.</v>
Our platform has 15 cities.

3
01:00:00.000 --> 01:00:04.000
Applause from the room.
"""

SRT = """1
00:00:03,000 --> 00:00:28,000
Luca Bernardini Ferro: Buongiorno a tutte e a tutti.

2
00:00:28,000 --> 00:00:49,500
Chiara Montaldo-Reis: Grazie, Luca.
Parlo della mia città.

3
00:00:50,000 --> 00:00:55,000
Nota bene: questo non è un oratore.
"""


def test_pdf_pages_headings_sections_and_footers(pdf_file: Path) -> None:
    doc = load_one(pdf_file)
    assert doc.format == "pdf"
    assert doc.pages == 3
    titles = [(el.text, el.level, el.page) for el in doc.elements if el.kind == "title"]
    assert titles == [
        ("Guide to national support", 1, 1),
        ("Why a national layer", 2, 1),
        ("Models of support", 2, 2),
        ("Lessons learned", 1, 3),
    ]

    def starting(prefix: str) -> Element:
        return next(el for el in doc.elements if el.text.startswith(prefix))

    assert starting("Second paragraph").section == ("Guide to national support", "Why a national layer")
    assert starting("Sweden runs").page == 2
    assert starting("Sweden runs").section == ("Guide to national support", "Models of support")
    assert starting("Spain runs").section == ("Lessons learned",)
    assert starting("Spain runs").page == 3
    assert "Page 1" not in doc.text and "Page 3" not in doc.text
    long_paragraph = next(el for el in doc.elements if el.text.startswith("National support"))
    assert "\n" not in long_paragraph.text and "  " not in long_paragraph.text
    assert doc.title == "Core title of the guide"
    assert doc.meta.language == "en"
    assert doc.content_sha256 == hashlib.sha256(pdf_file.read_bytes()).hexdigest()
    assert doc.doc_id == "d" + doc.content_sha256[:16]


def test_docx_sections_lists_tables(tmp_path: Path) -> None:
    doc = load_one(make_docx(tmp_path / "notes.docx"))
    assert doc.format == "docx"
    assert doc.title == "Core title of the notes"
    green = next(el for el in doc.elements if el.text.startswith("Green bonds"))
    assert green.section == ("Session notes", "Funding instruments")
    item = next(el for el in doc.elements if el.kind == "list_item")
    assert item.text == "Energy performance contracting"
    table = next(el for el in doc.elements if el.kind == "table")
    assert table.text == "Instrument | Country\nGreen bond | SE"
    last = doc.elements[-1]
    assert last.section == ("Next steps",)


def test_pptx_slide_numbers(tmp_path: Path) -> None:
    doc = load_one(make_pptx(tmp_path / "slides.pptx"))
    assert doc.format == "pptx"
    assert doc.pages == 3
    body = [el for el in doc.elements if el.text.startswith("Body text")]
    assert [el.page for el in body] == [1, 2, 3]
    assert body[1].section == ("Slide title 2",)


def test_html_sections(tmp_path: Path) -> None:
    path = tmp_path / "case.html"
    path.write_text(
        "<html><head><title>Ignored</title></head><body><h1>Pioneer cities</h1>"
        "<p>Austria funds ten pioneer cities with up to two million euro each.</p>"
        "<h2>Governance</h2><p>A steering group meets every quarter with the cities.</p>"
        "<h3>Detail</h3><ul><li>Quarterly meetings</li></ul>"
        "<h2>Finance</h2><p>The climate fund provides the money for the programme.</p></body></html>",
        encoding="utf-8",
    )
    doc = load_one(path)
    sections = {el.text: el.section for el in doc.elements}
    assert sections["A steering group meets every quarter with the cities."] == ("Pioneer cities", "Governance")
    assert sections["Quarterly meetings"] == ("Pioneer cities", "Governance", "Detail")
    assert sections["The climate fund provides the money for the programme."] == ("Pioneer cities", "Finance")
    assert doc.title == "Pioneer cities"


def test_markdown_sections_and_front_matter(tmp_path: Path) -> None:
    path = tmp_path / "case.md"
    path.write_text(
        "---\nid: gp-test\ntitle: From front matter\ncountry: se\noutput: x.pdf\n---\n"
        "# Klimatkontrakt\n\nSverige var tidigt ute med ett nationellt kontrakt för städerna.\n\n"
        "## Bakgrund\n\nViable Cities är ett strategiskt innovationsprogram som löper till 2030.\n",
        encoding="utf-8",
    )
    doc = load_one(path)
    assert doc.doc_id == "gp-test"
    assert doc.title == "From front matter"
    assert doc.meta.country == "SE"
    assert doc.meta.extra == {"output": "x.pdf"}
    assert "---" not in doc.text
    viable = next(el for el in doc.elements if el.text.startswith("Viable"))
    assert viable.section == ("Klimatkontrakt", "Bakgrund")
    assert doc.meta.language == "sv"


def test_eml_subject_date_sender(tmp_path: Path) -> None:
    path = tmp_path / "news.eml"
    path.write_bytes(
        b"From: Helena Brink-Castell <helena@example.org>\nTo: members@example.org\n"
        b"Subject: =?utf-8?q?Alliance_newsletter_=E2=80=93_March?=\n"
        b"Date: Mon, 17 Mar 2025 09:30:00 +0100\nMIME-Version: 1.0\n"
        b"Content-Type: text/plain; charset=utf-8\n\n"
        b"Dear colleagues,\n\nThe third Alliance webinar takes place on 20 March in Brussels.\n"
    )
    doc = load_one(path)
    assert doc.format == "eml"
    assert doc.title == "Alliance newsletter – March"
    assert str(doc.meta.date) == "2025-03-17"
    assert doc.meta.source == "Helena Brink-Castell <helena@example.org>"
    assert doc.meta.authors == []  # a sender may be a list or an organisation: not credited as author
    assert "Brussels" in doc.text and "Subject" not in doc.text


def test_vtt_speakers_times_and_header(tmp_path: Path) -> None:
    path = tmp_path / "webinar.vtt"
    path.write_text(VTT, encoding="utf-8")
    doc = load_one(path)
    cues = doc.elements
    assert [el.kind for el in cues] == ["cue", "cue", "cue"]
    assert [(el.speaker, el.start_s, el.end_s) for el in cues] == [
        ("Helena Brink-Castell", 3.0, 25.5),
        ("Tomás Echeverría Ruiz", 62.25, 70.0),
        (None, 3600.0, 3604.0),
    ]
    assert cues[0].text == "Good afternoon and welcome & thanks."
    assert cues[1].text == "Thank you, Helena. Our platform has 15 cities."
    assert doc.text.split("\n") == [
        "Helena Brink-Castell: Good afternoon and welcome & thanks.",
        "Tomás Echeverría Ruiz: Thank you, Helena. Our platform has 15 cities.",
        "Applause from the room.",
    ]
    assert doc.title == "Alliance Webinar: Financing"
    assert doc.meta.doc_type == "transcript"
    assert str(doc.meta.date) == "2024-03-20"
    assert doc.meta.speakers[0].name == "Helena Brink-Castell"
    assert doc.meta.speakers[0].fictional is True
    assert doc.meta.extra["note"] == "All speakers are fictional."


def test_srt_speaker_prefixes(tmp_path: Path) -> None:
    path = tmp_path / "workshop.srt"
    path.write_text(SRT, encoding="utf-8")
    (tmp_path / "workshop.srt.meta.yaml").write_text(
        "speakers:\n  - name: Luca Bernardini Ferro (fictional)\n  - name: Chiara Montaldo-Reis (fictional)\n",
        encoding="utf-8",
    )
    doc = load_one(path)
    assert [(el.speaker, el.start_s, el.end_s) for el in doc.elements] == [
        ("Luca Bernardini Ferro", 3.0, 28.0),
        ("Chiara Montaldo-Reis", 28.0, 49.5),
        (None, 50.0, 55.0),
    ]
    assert doc.elements[1].text == "Grazie, Luca. Parlo della mia città."
    assert doc.elements[2].text == "Nota bene: questo non è un oratore."
    assert doc.text.startswith("Luca Bernardini Ferro: Buongiorno")
    assert doc.meta.language == "it"


def test_jsonl_beir_corpus_with_bad_lines(tmp_path: Path) -> None:
    lines = [
        json.dumps(
            {
                "_id": "4983",
                "title": "Microstructural development",
                "text": "Alterations of the "
                "architecture of cerebral white matter in the developing human brain.\n\nSecond part.",
                "metadata": {},
            }
        ),
        "{not json",
        json.dumps({"_id": "5836", "title": "", "text": "Induction of myelodysplasia.", "metadata": {"url": "u"}}),
        json.dumps({"title": "no id", "text": "x"}),
        json.dumps({"id": "n1", "text": "", "title": "empty"}),
        json.dumps({"id": "n2", "text": "Ein Text.", "language": "de", "country": "at"}),
    ]
    path = tmp_path / "corpus.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = load(path)
    assert [d.doc_id for d in result.docs] == ["4983", "5836", "n2"]
    assert [str(e) for e in result.errors] == [
        f"{path.as_posix()}:2: invalid JSON: Expecting property name enclosed in double quotes",
        f"{path.as_posix()}:4: missing id (_id or id)",
        f"{path.as_posix()}:5: missing text",
    ]
    first = result.docs[0]
    assert first.text.startswith("Microstructural development\n\nAlterations of the architecture")
    assert [el.kind for el in first.elements] == ["title", "text", "text"]
    assert first.title == "Microstructural development"
    assert result.docs[1].meta.extra == {"url": "u"}
    assert result.docs[2].meta.language == "de" and result.docs[2].meta.country == "AT"
    for doc in result.docs:
        for el in doc.elements:
            assert doc.text[el.span.start : el.span.end] == el.text


def test_plain_text(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("Notes from the meeting.\n\nThe ministries agreed on a shared calendar for 2025.\n")
    doc = load_one(path)
    assert doc.format == "text"
    assert "shared calendar" in doc.text
