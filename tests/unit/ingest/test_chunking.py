"""Chunker: spans, token bounds, sections and transcript turns."""

from __future__ import annotations

import string

from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.chunking import approx_tokens, chunk_document, split_sentences
from ingest.models import DocMeta, Element, SourceDoc, Span


def _doc(blocks: list[tuple[str, tuple[str, ...], int | None]], kind: str = "text") -> SourceDoc:
    """Build a document whose text is the blocks joined by blank lines."""
    parts: list[str] = []
    elements: list[Element] = []
    pos = 0
    for text, section, page in blocks:
        if parts:
            parts.append("\n\n")
            pos += 2
        parts.append(text)
        span = Span(start=pos, end=pos + len(text))
        elements.append(Element(kind=kind, text=text, span=span, section=section, page=page))  # type: ignore[arg-type]
        pos += len(text)
    return SourceDoc(
        doc_id="doc1",
        path="x.md",
        format="markdown",
        title="T",
        text="".join(parts),
        elements=elements,
        meta=DocMeta(language="en", country="SE"),
        content_sha256="ab" * 32,
    )


def _transcript(cues: list[tuple[str, str]]) -> SourceDoc:
    lines: list[str] = []
    elements: list[Element] = []
    pos = 0
    for i, (speaker, text) in enumerate(cues):
        prefix = f"{speaker}: "
        start = pos + len(prefix)
        elements.append(
            Element(
                kind="cue",
                text=text,
                span=Span(start=start, end=start + len(text)),
                speaker=speaker,
                start_s=10.0 * i,
                end_s=10.0 * i + 9.5,
            )
        )
        lines.append(prefix + text)
        pos += len(prefix) + len(text) + 1
    return SourceDoc(
        doc_id="t1",
        path="w.vtt",
        format="vtt",
        title="Webinar",
        text="\n".join(lines),
        elements=elements,
        meta=DocMeta(language="en", doc_type="transcript"),
        content_sha256="cd" * 32,
    )


words = st.text(alphabet=string.ascii_letters + "éłğ", min_size=1, max_size=12)
sentences = st.lists(words, min_size=1, max_size=30).map(lambda ws: " ".join(ws) + ".")
paragraphs = st.lists(sentences, min_size=1, max_size=8).map(" ".join)


@settings(max_examples=150, deadline=None)
@given(
    blocks=st.lists(
        st.tuples(paragraphs, st.sampled_from([("A",), ("A", "B"), ("C",)]), st.integers(1, 9)),
        min_size=1,
        max_size=12,
    ),
    max_tokens=st.integers(16, 200),
    overlap=st.integers(0, 40),
)
def test_spans_bounds_and_sections(
    blocks: list[tuple[str, tuple[str, ...], int]], max_tokens: int, overlap: int
) -> None:
    doc = _doc(blocks)
    chunks = chunk_document(doc, max_tokens=max_tokens, overlap_tokens=overlap)
    assert chunks
    covered = set()
    for c in chunks:
        assert doc.text[c.span.start : c.span.end] == c.text
        assert approx_tokens(c.text) <= max_tokens
        inside = [e for e in doc.elements if e.span.start < c.span.end and e.span.end > c.span.start]
        body_sections = {e.section for e in inside if e.kind != "title"}
        assert len(body_sections) <= 1, "a chunk spans two sections"
        assert all(c.section[: len(e.section)] == list(e.section) for e in inside), "section path not recorded"
        covered.update(range(c.span.start, c.span.end))
    for e in doc.elements:  # every non-space character of every element is in some chunk
        for i in range(e.span.start, e.span.end):
            assert doc.text[i].isspace() or i in covered


def test_ids_are_stable_and_content_derived() -> None:
    doc = _doc([("One sentence here. Another one there.", ("A",), 1)])
    a = chunk_document(doc, max_tokens=8, overlap_tokens=0)
    b = chunk_document(doc, max_tokens=8, overlap_tokens=0)
    assert [c.chunk_id for c in a] == [c.chunk_id for c in b]
    assert len({c.chunk_id for c in a}) == len(a)
    changed = doc.model_copy(update={"content_sha256": "ef" * 32})
    assert {c.chunk_id for c in chunk_document(changed, max_tokens=8, overlap_tokens=0)}.isdisjoint(
        c.chunk_id for c in a
    )


def test_pages_and_metadata_carried() -> None:
    doc = _doc([("First page text.", ("Intro",), 1), ("Second page text.", ("Intro",), 2)])
    (chunk,) = chunk_document(doc, max_tokens=100)
    assert (chunk.page_start, chunk.page_end) == (1, 2)
    assert chunk.section == ["Intro"]
    assert chunk.country == "SE" and chunk.language == "en"


def test_transcript_chunks_follow_turns_and_keep_speakers() -> None:
    cues = [
        ("Ana", "We set up a working group in 2021."),
        ("Ana", "It meets three times a year."),
        ("Ben", "Our ministry did the same."),
        ("Ben", "But with a formal mandate."),
        ("Cleo", "Thank you both, now questions from the chat."),
    ]
    doc = _transcript(cues)
    chunks = chunk_document(doc, max_tokens=28, overlap_tokens=0)
    for c in chunks:
        assert doc.text[c.span.start : c.span.end] == c.text
        assert c.start_s is not None and c.end_s is not None and c.start_s < c.end_s
        for speaker in c.speakers:
            assert f"{speaker}: " in c.text
    assert chunks[0].text.startswith("Ana: ")
    assert chunks[0].speakers == ["Ana"]
    assert any(len(c.speakers) > 1 for c in chunk_document(doc, max_tokens=200))


def test_overlong_sentence_is_split_at_words() -> None:
    text = " ".join(["word"] * 400)
    doc = _doc([(text, ("A",), None)])
    chunks = chunk_document(doc, max_tokens=50, overlap_tokens=10)
    assert len(chunks) > 5
    assert all(approx_tokens(c.text) <= 50 for c in chunks)
    assert all(doc.text[c.span.start : c.span.end] == c.text for c in chunks)


def test_heading_without_body_travels_with_its_first_subsection() -> None:
    text = "Financing\n\nGreen bonds\n\nCities issue bonds for retrofits."
    spans = [(0, 9), (11, 22), (24, len(text))]
    kinds = ["title", "title", "text"]
    sections = [("Financing",), ("Financing", "Green bonds"), ("Financing", "Green bonds")]
    elements = [
        Element(kind=k, text=text[a:b], span=Span(start=a, end=b), section=sec)  # type: ignore[arg-type]
        for k, (a, b), sec in zip(kinds, spans, sections, strict=True)
    ]
    doc = SourceDoc(
        doc_id="h",
        path="h.md",
        format="markdown",
        title="H",
        text=text,
        elements=elements,
        meta=DocMeta(),
        content_sha256="00" * 32,
    )
    (chunk,) = chunk_document(doc, max_tokens=100)
    assert chunk.text == text and chunk.section == ["Financing", "Green bonds"]


def test_sentences_do_not_end_at_abbreviations() -> None:
    text = "Die Ausschreibung über 3,6 Mio. Euro lief bis Oktober. Dr. Novak sprach z. B. über Radwege. Approx. 5 cities joined, e.g. Lyon."
    assert [text[s:e] for s, e in split_sentences(text)] == [
        "Die Ausschreibung über 3,6 Mio. Euro lief bis Oktober.",
        "Dr. Novak sprach z. B. über Radwege.",
        "Approx. 5 cities joined, e.g. Lyon.",
    ]
