"""Properties over every loader: spans index the document text exactly, for elements and
chunks, whatever the content (repeated paragraphs included); and mutated or random bytes
never escape as anything but the project's own parse error."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.chunking import chunk_document
from ingest.errors import ParseError
from ingest.registry import load_path
from tests.unit.ingest.conftest import assert_spans

LIMITS = {"max_bytes": 5_000_000, "max_unzipped_bytes": 20_000_000}
SLOW_FORMATS = {"pdf", "docx", "pptx"}

word = st.text(alphabet="abcdefghijklmnopqrstuvwxyzéèäöüßłąęśźżčřšžğışçõαβγδ", min_size=1, max_size=10)
sentence = st.lists(word, min_size=3, max_size=14).map(lambda ws: " ".join(ws).capitalize() + ".")
paragraph = st.lists(sentence, min_size=1, max_size=5).map(" ".join)
heading = st.lists(word, min_size=1, max_size=4).map(lambda ws: " ".join(ws).title())
# A section is a heading and paragraphs; sections repeat text on purpose (str.find traps).
section = st.tuples(heading, st.lists(paragraph, min_size=1, max_size=3))
document = st.lists(section, min_size=1, max_size=4).flatmap(
    lambda secs: st.just([*secs, secs[0]]) if len(secs) > 1 else st.just(secs)
)
Section = tuple[str, list[str]]


def _md(secs: list[Section]) -> bytes:
    return "\n\n".join(f"## {h}\n\n" + "\n\n".join(ps) for h, ps in secs).encode()


def _html(secs: list[Section]) -> bytes:
    body = "".join(f"<h2>{h}</h2>" + "".join(f"<p>{p}</p>" for p in ps) for h, ps in secs)
    return f"<!DOCTYPE html><html lang='en'><head><title>T</title></head><body>{body}</body></html>".encode()


def _txt(secs: list[Section]) -> bytes:
    return "\n\n".join(p for _, ps in secs for p in ps).encode()


def _clock(t: float, sep: str) -> str:
    ms = round(t * 1000)
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}{sep}{ms % 1000:03d}"


def _cues(secs: list[Section]) -> list[tuple[str, str]]:
    return [(h, p) for h, ps in secs for p in ps]


def _vtt(secs: list[Section]) -> bytes:
    out = ["WEBVTT", ""]
    for i, (who, text) in enumerate(_cues(secs)):
        out += [f"{_clock(i * 10, '.')} --> {_clock(i * 10 + 9, '.')}", f"<v {who}>{text}", ""]
    return "\n".join(out).encode()


def _srt(secs: list[Section]) -> bytes:
    out = []
    for i, (who, text) in enumerate(_cues(secs), start=1):
        out += [str(i), f"{_clock(i * 10, ',')} --> {_clock(i * 10 + 9, ',')}", f"{who}: {text}", ""]
    return "\n".join(out).encode()


def _jsonl(secs: list[Section]) -> bytes:
    lines = [json.dumps({"_id": f"d{i}", "title": h, "text": "\n\n".join(ps)}) for i, (h, ps) in enumerate(secs)]
    return "\n".join(lines).encode()


def _eml(secs: list[Section]) -> bytes:
    body = _html(secs).decode()
    return (
        "From: Newsletter <news@example.org>\nTo: a@example.org\nSubject: Issue\n"
        "Date: Mon, 02 Mar 2026 10:00:00 +0000\nMIME-Version: 1.0\n"
        f"Content-Type: text/html; charset=utf-8\n\n{body}\n"
    ).encode()


def _docx(secs: list[Section]) -> bytes:
    import docx

    d = docx.Document()
    for h, ps in secs:
        d.add_heading(h, level=2)
        for p in ps:
            d.add_paragraph(p)
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def _pptx(secs: list[Section]) -> bytes:
    from pptx import Presentation

    prs = Presentation()
    for h, ps in secs:
        slide = prs.slides.add_slide(prs.slide_layouts[1])
        slide.shapes.title.text = h
        slide.placeholders[1].text_frame.text = "\n".join(ps)
    buf = io.BytesIO()
    prs.save(buf)
    return buf.getvalue()


def _pdf(secs: list[Section]) -> bytes:
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.platypus import Paragraph, SimpleDocTemplate

    font = "Helvetica"
    dejavu = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
    if dejavu.exists():
        pdfmetrics.registerFont(TTFont("DejaVu", str(dejavu)))
        font = "DejaVu"
    body = ParagraphStyle("b", fontName=font, fontSize=10, leading=14)
    head = ParagraphStyle("h", fontName=font, fontSize=16, leading=20)
    story = [x for h, ps in secs for x in (Paragraph(h, head), *(Paragraph(p, body) for p in ps))]
    buf = io.BytesIO()
    SimpleDocTemplate(buf, invariant=1).build(story)
    return buf.getvalue()


RENDER: dict[str, tuple[str, Callable[[list[Section]], bytes]]] = {
    "markdown": (".md", _md),
    "html": (".html", _html),
    "text": (".txt", _txt),
    "vtt": (".vtt", _vtt),
    "srt": (".srt", _srt),
    "jsonl": (".jsonl", _jsonl),
    "eml": (".eml", _eml),
    "docx": (".docx", _docx),
    "pptx": (".pptx", _pptx),
    "pdf": (".pdf", _pdf),
}


@pytest.mark.parametrize("fmt", sorted(RENDER))
def test_spans_hold_for_every_loader_and_the_chunker(fmt: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    suffix, render = RENDER[fmt]
    folder = tmp_path_factory.mktemp(fmt)

    @settings(
        max_examples=8 if fmt in SLOW_FORMATS else 30,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(secs=document, max_tokens=st.integers(24, 200), overlap=st.integers(0, 30))
    def check(secs: list[Section], max_tokens: int, overlap: int) -> None:
        path = folder / f"doc{suffix}"
        path.write_bytes(render(secs))
        result = load_path(path, **LIMITS)
        assert not result.errors, result.errors
        assert result.docs
        for doc in result.docs:
            assert_spans(doc)
            for chunk in chunk_document(doc, max_tokens=max_tokens, overlap_tokens=overlap):
                assert doc.text[chunk.span.start : chunk.span.end] == chunk.text
                assert chunk.text.strip()

    check()


def _seed(fmt: str) -> bytes:
    secs: list[Section] = [("Governance", ["Cities sign a contract.", "Ministries help them."]), ("Money", ["Bonds."])]
    return RENDER[fmt][1](secs)


@pytest.mark.parametrize("fmt", sorted(RENDER))
def test_mutated_bytes_give_only_parse_errors(fmt: str, tmp_path: Path) -> None:
    suffix, _ = RENDER[fmt]
    seed = _seed(fmt)
    path = tmp_path / f"fuzz{suffix}"

    @settings(max_examples=25 if fmt in SLOW_FORMATS else 60, deadline=None)
    @given(
        ops=st.lists(
            st.tuples(st.sampled_from(["flip", "cut", "insert", "dup"]), st.integers(0, 2**31), st.binary(max_size=16)),
            min_size=1,
            max_size=6,
        )
    )
    def check(ops: list[tuple[str, int, bytes]]) -> None:
        data = bytearray(seed)
        for op, pos, blob in ops:
            i = pos % max(len(data), 1)
            if op == "flip" and data:
                data[i] ^= 1 << (pos % 8)
            elif op == "cut":
                del data[i:]
            elif op == "insert":
                data[i:i] = blob
            elif op == "dup":
                data[i:i] = data[i : i + 64]
        path.write_bytes(bytes(data))
        result = load_path(path, **LIMITS)  # must not raise
        for error in result.errors:
            assert isinstance(error, ParseError)
            assert str(error).startswith(str(path)) and "\n" not in str(error)
        for doc in result.docs:
            if doc.elements:
                assert_spans(doc)

    check()


@given(data=st.binary(min_size=0, max_size=4096), suffix=st.sampled_from(sorted({s for s, _ in RENDER.values()})))
@settings(max_examples=150, deadline=None)
def test_random_bytes_never_crash(data: bytes, suffix: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    path = tmp_path_factory.mktemp("rand") / f"junk{suffix}"
    path.write_bytes(data)
    result = load_path(path, **LIMITS)
    assert all(isinstance(e, ParseError) for e in result.errors)
    assert result.docs or result.errors


@pytest.mark.parametrize("fmt", sorted(RENDER))
def test_seeds_parse_cleanly(fmt: str, tmp_path: Path) -> None:
    suffix, _ = RENDER[fmt]
    path = tmp_path / f"seed{suffix}"
    path.write_bytes(_seed(fmt))
    result = load_path(path, **LIMITS)
    assert result.errors == [] and result.docs
    assert "Cities sign a contract." in result.docs[0].text
