"""Structure-aware chunking with exact character spans.

A chunk never spans two sections: elements are grouped by their heading path, and
transcripts by runs of cues. Inside a group, sentence-sized units are packed greedily up to
a token budget, with a configurable overlap of whole units. Every chunk's text is a slice of
the document text, ``doc.text[chunk.span.start:chunk.span.end] == chunk.text``, computed from
the element spans, never by searching for the text.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from ingest.countries import countries_in
from ingest.models import Chunk, Element, SourceDoc, Span, Turn

TokenCounter = Callable[[str], int]

# Bump when the same document would be cut into different chunks (sentence, section or
# token rules) or they would say other things about themselves: indexes built by an older
# version then re-chunk every document once. 3: chunks record the countries they are about.
CHUNKER_VERSION = 3

_WORDISH = re.compile(r"\w+|[^\w\s]", re.UNICODE)
# A sentence ends at . ! ? ; (Greek question mark) or … followed by space and an opening
# character of the next sentence. Kept simple on purpose: chunks only need sensible cut points.
_SENTENCE_END = re.compile(r"(?<=[.!?;…])[\"'”»)]*\s+(?=[\"'“«(\[]?[\w¿¡])", re.UNICODE)
_SPACE = re.compile(r"\s+")
# A period after these ends an abbreviation, not a sentence ("3,6 Mio. Euro", "Dr. Novak", "e.g. Lyon").
_ABBREVIATION = re.compile(
    r"(?<![\w.])(?:Mio|Mrd|Tsd|mln|mld|tys|mil|tis|Nr|nr|No|Art|Dr|Prof|Mr|Mrs|Ms|St|Ing|Mgr|Dott|Sr|Sra|"
    r"bzw|vgl|ggf|inkl|evtl|ca|Ca|approx|Approx|vs|e\.g|i\.e|z|u|d|z\.\s?B|u\.\s?a|d\.\s?h|np|tj|tzn|ok|resp|cf)\.$"
)


def approx_tokens(text: str) -> int:
    """Estimate subword tokens without a tokenizer (about 1.4 per word or symbol).

    Used when no model tokenizer is given; the real count comes from the embedder.
    """
    return int(len(_WORDISH.findall(text)) * 1.4) + 2


@dataclass(frozen=True)
class _Unit:
    """A sentence-sized piece of one element, located in the document text."""

    start: int
    end: int
    element: Element


def chunk_document(
    doc: SourceDoc,
    max_tokens: int = 320,
    overlap_tokens: int = 40,
    count_tokens: TokenCounter = approx_tokens,
) -> list[Chunk]:
    """Split a document into chunks bounded in model tokens.

    Args:
        doc: The parsed document.
        max_tokens: Upper bound of tokens per chunk, as counted by ``count_tokens``.
        overlap_tokens: Tokens of trailing units repeated at the start of the next chunk
            of the same section (0 disables overlap).
        count_tokens: Counts the tokens the embedding model sees for a text.

    Returns:
        The chunks in document order, each with provenance and document metadata.
    """
    if max_tokens < 8:
        raise ValueError("max_tokens must be at least 8")
    chunks: list[Chunk] = []
    for group in _groups(doc.elements):
        units = [u for el in group for u in _units(doc.text, el, max_tokens, count_tokens)]
        for start, end in _pack(doc.text, units, max_tokens, overlap_tokens, count_tokens):
            chunks.append(_make_chunk(doc, units[start:end], len(chunks)))
    return chunks


def _groups(elements: Sequence[Element]) -> Iterator[list[Element]]:
    """Yield runs of consecutive elements that may share a chunk.

    Prose groups by heading path; transcript cues form runs of their own.
    """
    group: list[Element] = []
    key: tuple[object, ...] | None = None
    for el in elements:
        if not el.text.strip():
            continue
        el_key: tuple[object, ...] = ("cue",) if el.kind == "cue" else ("sec", el.section)
        if group and el_key != key and not _heading_only_parent(group, el):
            yield group
            group = []
        key = el_key
        group.append(el)
    if group:
        yield group


def _heading_only_parent(group: list[Element], nxt: Element) -> bool:
    """True when ``group`` holds only headings of a section that ``nxt`` is nested in.

    A heading directly followed by a subheading then travels with its first subsection
    instead of becoming a chunk of its own; the chunk records the deeper heading path.
    """
    if nxt.kind == "cue" or any(el.kind != "title" for el in group):
        return False
    parent = group[-1].section
    return len(nxt.section) > len(parent) and nxt.section[: len(parent)] == parent


def _units(text: str, el: Element, max_tokens: int, count: TokenCounter) -> list[_Unit]:
    """Cut one element into units small enough to fit a chunk.

    A cue stays whole unless it alone is over budget; prose splits into sentences, and a
    sentence over budget splits at word boundaries.
    """
    start, end = el.span.start, el.span.end
    if el.kind == "cue":
        line_start = text.rfind("\n", 0, start) + 1  # include the "Speaker: " prefix
        if count(text[line_start:end]) <= max_tokens:
            return [_Unit(line_start, end, el)]
        start = line_start
    units: list[_Unit] = []
    for s, e in split_sentences(text, start, end):
        if count(text[s:e]) <= max_tokens:
            units.append(_Unit(s, e, el))
        else:
            units.extend(_Unit(a, b, el) for a, b in _split_words(text, s, e, max_tokens, count))
    return units


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _split_words(text: str, start: int, end: int, max_tokens: int, count: TokenCounter) -> Iterator[tuple[int, int]]:
    """Split an over-long run at white space (or hard, for text without spaces)."""
    words = [(m.start(), m.end()) for m in re.finditer(r"\S+", text[start:end])]
    piece_start: int | None = None
    piece_end = 0
    for ws, we in words:
        ws, we = ws + start, we + start
        if piece_start is None:
            piece_start = ws
        elif count(text[piece_start:we]) > max_tokens:
            yield piece_start, piece_end
            piece_start = ws
        piece_end = we
        while count(text[piece_start:piece_end]) > max_tokens:
            # a single "word" over budget (e.g. a long URL or text without spaces)
            cut = _hard_cut(text, piece_start, piece_end, max_tokens, count)
            yield piece_start, cut
            piece_start = cut
    if piece_start is not None and piece_start < piece_end:
        yield piece_start, piece_end


def _hard_cut(text: str, start: int, end: int, max_tokens: int, count: TokenCounter) -> int:
    lo, hi = start + 1, end
    while lo < hi:  # largest prefix that fits
        mid = (lo + hi + 1) // 2
        if count(text[start:mid]) <= max_tokens:
            lo = mid
        else:
            hi = mid - 1
    return max(lo, start + 1)


def _pack(
    text: str, units: Sequence[_Unit], max_tokens: int, overlap: int, count: TokenCounter
) -> Iterator[tuple[int, int]]:
    """Greedily pack units into ``[start, end)`` index ranges, with unit-level overlap.

    Transcript runs also break at a change of speaker once a chunk is half full, so
    chunks follow speaker turns.
    """
    i, n = 0, len(units)
    while i < n:
        j = i + 1
        while j < n and count(text[units[i].start : units[j].end]) <= max_tokens:
            if _turn_break(units[j - 1], units[j]) and (
                count(text[units[i].start : units[j - 1].end]) >= max_tokens // 2
            ):
                break
            j += 1
        yield i, j
        if j >= n:
            return
        k = j
        while overlap and k - 1 > i and count(text[units[k - 1].start : units[j - 1].end]) <= overlap:
            k -= 1
        i = k if k < j else j


def _turn_break(prev: _Unit, nxt: _Unit) -> bool:
    return prev.element.kind == "cue" and prev.element.speaker != nxt.element.speaker


def _make_chunk(doc: SourceDoc, units: Sequence[_Unit], ordinal: int) -> Chunk:
    start, end = units[0].start, units[-1].end
    elements: list[Element] = []
    for u in units:
        if not elements or elements[-1] is not u.element:
            elements.append(u.element)
    pages = [e.page for e in elements if e.page is not None]
    starts = [e.start_s for e in elements if e.start_s is not None]
    ends = [e.end_s for e in elements if e.end_s is not None]
    speakers = list(dict.fromkeys(e.speaker for e in elements if e.speaker))
    turns = [
        Turn(speaker=e.speaker, start_s=e.start_s, end_s=e.end_s, span=_clip(e.span, start, end))
        for e in elements
        if e.kind == "cue" and e.start_s is not None and e.end_s is not None
    ]
    meta = doc.meta
    section = list(elements[-1].section)
    return Chunk(
        chunk_id=chunk_id(doc.doc_id, doc.content_sha256, start, end),
        doc_id=doc.doc_id,
        ordinal=ordinal,
        text=doc.text[start:end],
        span=Span(start=start, end=end),
        title=doc.title,
        path=doc.path,
        format=doc.format,
        section=section,
        page_start=min(pages) if pages else None,
        page_end=max(pages) if pages else None,
        start_s=min(starts) if starts else None,
        end_s=max(ends) if ends else None,
        speakers=speakers,
        turns=turns,
        language=meta.language,
        country=meta.country,
        about=about(doc.text[start:end], section, meta.country),
        doc_type=meta.doc_type,
        audience=list(meta.audience),
        topics=list(meta.topics),
        date=meta.date,
        source=meta.source,
        licence=meta.licence,
        content_sha256=doc.content_sha256,
    )


def about(text: str, section: Sequence[str], publisher: str | None) -> list[str]:
    """The countries a passage is about: those its section headings or text name, in any
    supported language; a passage that names none is about its publisher's country (if the
    publisher is national, not ``EU``).

    A section "Programme model: Sweden" of an EU-level guideline is about Sweden only.
    """
    named = countries_in("\n".join((*section, text)))
    if named:
        return named
    return [publisher] if publisher and publisher != "EU" else []


def _clip(span: Span, start: int, end: int) -> Span:
    return Span(start=max(span.start, start), end=max(min(span.end, end), max(span.start, start)))


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Return ``(start, end)`` offsets of the sentences of ``text[start:end]``, stripped."""
    end = len(text) if end is None else end
    out: list[tuple[int, int]] = []
    cursor = start
    for match in _SENTENCE_END.finditer(text, start, end):
        if _ABBREVIATION.search(text, max(start, match.start() - 8), match.start()):
            continue
        s, e = _strip(text, cursor, match.start())
        if s < e:
            out.append((s, e))
        cursor = match.end()
    s, e = _strip(text, cursor, end)
    if s < e:
        out.append((s, e))
    return out


def chunk_id(doc_id: str, content_sha256: str, start: int, end: int) -> str:
    """Return the content-derived id of a chunk: the same file always gives the same ids."""
    digest = hashlib.sha256(f"{doc_id}\x1f{content_sha256}\x1f{start}\x1f{end}".encode()).hexdigest()
    return f"c{digest[:31]}"


def normalise_space(text: str) -> str:
    """Collapse runs of white space to single spaces (for comparisons, never for spans)."""
    return _SPACE.sub(" ", text).strip()
