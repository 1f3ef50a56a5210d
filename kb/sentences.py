"""Answer sentences: the sentences of a retrieved chunk that can state something, in document offsets.

A chunk's lines are split into sentences; titles, headings, label lines, questions and speaker
prefixes are left out. A sentence that introduces a list ("... three tasks:") can be quoted
together with the list. Each sentence keeps its span in the document, so its citation quotes
the document verbatim.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ingest.chunking import split_sentences
from ingest.models import Span
from kb.models import Citation, Hit

_MIN_CHARS = 25
_MIN_WORDS = 4
_WORD = re.compile(r"\w+", re.UNICODE)
_CLOSES = re.compile(r"[.!?…:;)\]\"»”'’]$")
_LIST_ITEM = re.compile(r"\s*(?:\d{1,2}[.)]|[-•*–·▪])\s+\S")
_HEADING_CHARS = 120  # a longer line without closing punctuation is prose that lost its full stop
_LIST_CHARS = 700  # most characters a sentence and the list it introduces may quote


@dataclass(frozen=True)
class Candidate:
    hit_rank: int
    hit: Hit
    start: int  # offsets into the document text
    end: int
    text: str
    list_end: int = 0  # document offset where the list this sentence introduces ends; 0: none

    def with_list(self) -> Candidate:
        """This sentence extended over the list it introduces ("... three tasks:" and the tasks)."""
        if self.list_end <= self.end:
            return self
        base = self.hit.chunk.span.start
        text = self.hit.chunk.text[self.start - base : self.list_end - base]
        return Candidate(self.hit_rank, self.hit, self.start, self.list_end, text)


def sentence_candidates(rank: int, hit: Hit) -> list[Candidate]:
    """Sentences of a hit long enough to answer, in document offsets, without speaker prefixes."""
    chunk = hit.chunk
    text, base = chunk.text, chunk.span.start
    out: list[Candidate] = []
    line_start = 0
    for line in text.split("\n"):
        line_end = line_start + len(line)
        body = line_start + _speaker_prefix_len(line, chunk.speakers)
        if not (_is_heading(text[body:line_end]) and line_end - body <= _HEADING_CHARS):
            sentences = split_sentences(text, body, line_end)
            introduces = line.rstrip().endswith(":")
            for i, (s, e) in enumerate(sentences):
                if _can_answer(text[s:e]):
                    # The sentence that ends a line with a colon (or the one before it) introduces a list.
                    list_end = _list_end(text, line_end, s) if introduces and i >= len(sentences) - 2 else 0
                    out.append(Candidate(rank, hit, base + s, base + e, text[s:e], base + list_end if list_end else 0))
        line_start = line_end + 1
    return out


def _list_end(text: str, after: int, start: int) -> int:
    """Where the list following offset ``after`` in ``text`` ends, keeping the quote from ``start`` short.

    Items are lines with a list marker ("1.", "-", "•"), or plain lines ending with ";" (and the
    line that closes such a series). Whole items are taken while the quote stays under
    ``_LIST_CHARS``; a first item too long for that is cut after its first sentence. Returns 0
    when no list follows.
    """
    end, open_series = 0, False
    line_start = after + 1
    while line_start < len(text):
        line_end = text.find("\n", line_start)
        line_end = len(text) if line_end < 0 else line_end
        line = text[line_start:line_end]
        stripped = line.rstrip()
        if stripped:
            if not (_LIST_ITEM.match(line) or stripped.endswith(";") or open_series):
                break
            open_series = stripped.endswith(";")
            item_end = line_start + len(stripped)
            if item_end - start > _LIST_CHARS:
                if not end:  # "1." alone is not the item's first sentence
                    ends = [
                        e
                        for s, e in split_sentences(text, line_start, line_end)
                        if any(ch.isalpha() for ch in text[s:e])
                    ]
                    end = ends[0] if ends and ends[0] - start <= _LIST_CHARS else 0
                break
            end = item_end
        line_start = line_end + 1
    return end


def _can_answer(sentence: str) -> bool:
    """Prose long enough to state something: not a question, not a line of labels or numbers."""
    words = _WORD.findall(sentence)
    if len(sentence) < _MIN_CHARS or len(words) < _MIN_WORDS or sentence.rstrip().endswith(("?", "？")):
        return False
    prose = sum(1 for w in words if w.isalpha() and w.islower())
    return prose >= max(3, len(words) // 3)


def _is_heading(line: str) -> bool:
    """A title, heading or label line: no closing punctuation, and not a table row."""
    line = line.strip()
    return bool(line) and not _CLOSES.search(line) and " | " not in line


def _speaker_prefix_len(line: str, speakers: Sequence[str]) -> int:
    for name in speakers:
        if line.startswith(f"{name}: "):
            return len(name) + 2
    return 0


def dedupe_spans(picked: list[Candidate]) -> list[Candidate]:
    """Keep the longest of quotes that overlap in one document.

    Overlapping chunks give the same sentence twice, a sentence may already be quoted with the
    list it belongs to, and two chunks may cut one list at different places. Quotes are not
    merged across chunks, so each stays inside the chunk it cites.
    """
    out: list[Candidate] = []
    for c in sorted(picked, key=lambda c: c.end - c.start, reverse=True):
        doc = c.hit.chunk.doc_id
        if not any(o.hit.chunk.doc_id == doc and o.start < c.end and c.start < o.end for o in out):
            out.append(c)
    kept = {id(c) for c in out}
    return [c for c in picked if id(c) in kept]


def citation_for(n: int, c: Candidate) -> Citation:
    chunk = c.hit.chunk
    turn = next((t for t in chunk.turns if t.span.start <= c.start < max(t.span.end, t.span.start + 1)), None)

    return Citation.from_chunk(
        chunk,
        n=n,
        start_s=turn.start_s if turn else chunk.start_s,
        end_s=turn.end_s if turn else chunk.end_s,
        speakers=[turn.speaker] if turn and turn.speaker else list(chunk.speakers),
        quote=c.text,
        span=Span(start=c.start, end=c.end),
    )
