"""Extractive answers with verbatim, span-located citations, and country comparisons.

No language model is needed: the most relevant sentences of the top hits are chosen by
query-sentence similarity with the same embedder, diversified with MMR, ordered by document
and position, and cited with ``[n]`` markers. A sentence that introduces a list ("... three
tasks:") is quoted with the list. Below a calibrated similarity, or when the evidence lacks
what the question asks for (kb/expected.py), the answer says the knowledge base has no
evidence rather than padding with unrelated text.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ingest.chunking import split_sentences
from ingest.models import Span
from kb.countries import countries_in
from kb.embed import Embedder
from kb.expected import expected_answer, gives, missing_names, names_in
from kb.models import Answer, Citation, CompareRow, Comparison, Hit, SearchFilters
from kb.retrieve import Retriever, validate_query
from kb.sparse import SparseEncoder

logger = logging.getLogger(__name__)

_MIN_CHARS = 25
_MIN_WORDS = 4
_WORD = re.compile(r"\w+", re.UNICODE)
_CLOSES = re.compile(r"[.!?…:;)\]\"»”'’]$")
_LIST_ITEM = re.compile(r"\s*(?:\d{1,2}[.)]|[-•*–·▪])\s+\S")
_HEADING_CHARS = 120  # a longer line without closing punctuation is prose that lost its full stop
_LIST_CHARS = 700  # most characters a sentence and the list it introduces may quote

NO_EVIDENCE = {
    "en": "The knowledge base has no evidence to answer this question.",
    "fr": "La base de connaissances ne contient aucun élément pour répondre à cette question.",
    "de": "Die Wissensdatenbank enthält keine Belege, um diese Frage zu beantworten.",
    "es": "La base de conocimiento no contiene evidencia para responder a esta pregunta.",
    "it": "La base di conoscenza non contiene elementi per rispondere a questa domanda.",
    "pt": "A base de conhecimento não tem evidências para responder a esta pergunta.",
    "nl": "De kennisbank bevat geen bewijs om deze vraag te beantwoorden.",
    "sv": "Kunskapsbasen har inget underlag för att besvara den här frågan.",
    "fi": "Tietokannassa ei ole näyttöä tähän kysymykseen vastaamiseksi.",
    "pl": "Baza wiedzy nie zawiera informacji pozwalających odpowiedzieć na to pytanie.",
    "cs": "Znalostní báze neobsahuje podklady pro odpověď na tuto otázku.",
    "sk": "Znalostná báza neobsahuje podklady na odpoveď na túto otázku.",
    "hu": "A tudásbázisban nincs bizonyíték a kérdés megválaszolásához.",
    "ro": "Baza de cunoștințe nu conține dovezi pentru a răspunde la această întrebare.",
    "el": "Η βάση γνώσεων δεν περιέχει στοιχεία για να απαντήσει σε αυτή την ερώτηση.",
    "tr": "Bilgi tabanında bu soruyu yanıtlayacak kanıt yok.",
    "bg": "Базата знания не съдържа данни, за да отговори на този въпрос.",
    "uk": "База знань не містить даних, щоб відповісти на це запитання.",
}


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


@dataclass
class Answerer:
    """Builds extractive answers from retrieved chunks.

    Attributes:
        retriever: Hybrid search.
        embedder: Scores query-sentence similarity (the retrieval model).
        sparse: Detects the question's language.
        hits: Chunks read per question.
        max_sentences: Most sentences in an answer.
        mmr_lambda: Relevance versus novelty in MMR (1 = relevance only).
        min_score: Similarity below which a sentence is no evidence; calibrated per model.
        relative_window: Sentences scoring more than this below the best one are left out.
        evidence_window: The refusal checks read the sentences within this of the best one: a
            figure of the asked-for kind that scores well below the best sentence is about
            something else (gold questions that get a right answer stay within 0.03).
        cross_lingual_margin: Added to the similarity of sentences in another language than
            the question (cross-lingual similarities run lower for the same meaning).
    """

    retriever: Retriever
    embedder: Embedder
    sparse: SparseEncoder
    hits: int = 8
    max_sentences: int = 7
    mmr_lambda: float = 0.7
    min_score: float = 0.80
    relative_window: float = 0.06
    evidence_window: float = 0.04
    cross_lingual_margin: float = 0.02

    def ask(self, question: str, filters: SearchFilters | None = None) -> Answer:
        """Answer a question with cited sentences from the knowledge base."""
        started = time.perf_counter()
        question = validate_query(question)
        hits = self.retrieve(question, filters)
        return self.answer_from_hits(question, hits, started, country_scoped=bool(filters and filters.country))

    def retrieve(self, question: str, filters: SearchFilters | None = None) -> list[Hit]:
        """The hits an answer to ``question`` is drawn from."""
        return self.retriever.search(question, filters, k=self.hits).hits

    def answer_from_hits(
        self, question: str, hits: Sequence[Hit], started: float | None = None, *, country_scoped: bool = False
    ) -> Answer:
        """Build the extractive answer (or the refusal) from already retrieved hits.

        ``country_scoped``: the hits were filtered to chosen countries, so the countries the
        question names no longer decide whether the evidence is about the right place.
        """
        started = time.perf_counter() if started is None else started
        language = question_language(self.sparse, question)
        citations, refusal = self._select(question, hits, language, country_scoped)
        elapsed = round((time.perf_counter() - started) * 1000, 2)
        if not citations:
            logger.debug("no evidence for %r: %s", question, refusal)
            return Answer(
                question=question,
                answer=no_evidence_text(language),
                evidence=False,
                refusal=refusal,
                language=language,
                took_ms=elapsed,
            )
        return Answer(
            question=question,
            answer=render(citations, language),
            citations=citations,
            evidence=True,
            language=language,
            took_ms=elapsed,
        )

    def compare(self, question: str, countries: Sequence[str], filters: SearchFilters | None = None) -> Comparison:
        """Answer the same question once per country, with an explicit row where there is no evidence."""
        started = time.perf_counter()
        question = validate_query(question)
        base = filters or SearchFilters()
        rows: list[CompareRow] = []
        for country in countries:
            scoped = base.model_copy(update={"country": [country.upper()]})
            hits = self.retrieve(question, scoped)
            answer = self.answer_from_hits(question, hits, country_scoped=True)
            rows.append(
                CompareRow(
                    country=country.upper(),
                    answer=answer.answer,
                    evidence=answer.evidence,
                    citations=answer.citations,
                )
            )
        return Comparison(question=question, rows=rows, took_ms=round((time.perf_counter() - started) * 1000, 2))

    def _select(
        self, question: str, hits: Sequence[Hit], language: str | None, country_scoped: bool
    ) -> tuple[list[Citation], str | None]:
        """The cited sentences, or none and the reason."""
        hits = focus_on_named_countries(question, hits)
        candidates = [c for rank, hit in enumerate(hits) for c in sentence_candidates(rank, hit)]
        if not candidates:
            return [], "no passage found"
        q = self.embedder.embed_queries([question])[0]
        vectors = self.embedder.embed_passages([c.text for c in candidates])
        # A translation scores lower than the same words would: sentences in another language
        # than the question get a calibrated allowance before the evidence threshold.
        other = np.array([bool(language and c.hit.chunk.language not in (None, language)) for c in candidates])
        sims = vectors @ q + self.cross_lingual_margin * other
        best = float(sims.max())
        if best < self.min_score:
            return [], f"no passage is similar enough to the question ({best:.3f} < {self.min_score})"
        eligible = [i for i, s in enumerate(sims) if s >= max(self.min_score, best - self.relative_window)]
        evidence = [candidates[i] for i in eligible if sims[i] >= best - self.evidence_window]
        refusal = unanswerable(question, language, hits, evidence, country_scoped)
        if refusal:
            return [], refusal
        chosen = mmr(vectors, sims, eligible, self.max_sentences, self.mmr_lambda)
        picked = [candidates[i].with_list() for i in chosen]
        doc_order = {c.hit.chunk.doc_id: c.hit_rank for c in sorted(picked, key=lambda c: c.hit_rank)}
        picked.sort(key=lambda c: (doc_order[c.hit.chunk.doc_id], c.start))
        return [citation_for(n, c) for n, c in enumerate(_dedupe_spans(picked), start=1)], None


def unanswerable(
    question: str,
    language: str | None,
    hits: Sequence[Hit],
    evidence: Sequence[Candidate],
    country_scoped: bool = False,
) -> str | None:
    """Why on-topic ``evidence`` still cannot answer ``question``, or None when it can.

    - The question asks for a number, an amount, a percentage or a date, and no evidence
      sentence holds one that the question does not already give.
    - The question names something (a town, an acronym) that no retrieved passage mentions.
      Checked only when some passages are in the question's language: names are often
      translated ("EIB" is "EBI" in Polish), so passages in other languages prove nothing.
    - The question names countries and no evidence sentence comes from or mentions them
      (unless the search was already limited to chosen countries).
    """
    expect = expected_answer(question)
    if not any(gives(c.text, expect, question, c.hit.chunk.language) for c in evidence):
        return f"no passage gives the {expect.describe} the question asks for"
    if language and any(h.chunk.language == language for h in hits):
        missing = missing_names([h.chunk.text for h in hits], names_in(question, language))
        if missing:
            return f"no passage mentions {', '.join(missing)}"
    named = set() if country_scoped else set(countries_in(question))
    chunks = {c.hit.chunk.chunk_id: c.hit.chunk for c in evidence}.values()  # several sentences share a chunk
    if named and not any(chunk.country in named or named & set(countries_in(chunk.text)) for chunk in chunks):
        return f"no passage is about {', '.join(sorted(named))}"
    return None


def focus_on_named_countries(question: str, hits: Sequence[Hit]) -> Sequence[Hit]:
    """Keep the hits about the countries a question names (and pan-European ones), if any are."""
    named = set(countries_in(question))
    if not named or not any(h.chunk.country in named for h in hits):
        return hits
    return [h for h in hits if h.chunk.country in named or h.chunk.country in (None, "EU")]


def question_language(sparse: SparseEncoder, question: str) -> str | None:
    """The question's language, or None when it is too short to tell reliably."""
    if len(_WORD.findall(question)) < 3:
        return None
    return sparse.detect_language(question)


def mmr(vectors: np.ndarray, sims: np.ndarray, eligible: list[int], k: int, lam: float) -> list[int]:
    """Maximal marginal relevance over ``eligible`` indices; returns up to ``k`` of them."""
    chosen: list[int] = []
    pool = list(eligible)
    while pool and len(chosen) < k:
        redundancy = (vectors[pool] @ vectors[chosen].T).max(axis=1) if chosen else np.zeros(len(pool))
        scores = lam * sims[pool] - (1 - lam) * redundancy
        pick = pool[int(np.argmax(scores))]
        chosen.append(pick)
        pool.remove(pick)
    return chosen


def render(citations: Sequence[Citation], language: str | None) -> str:
    """Join cited quotes into answer text; quotes in another language are marked with it."""
    parts = []
    for c in citations:
        marker = f"[{c.language.upper()}] " if c.language and language and c.language != language else ""
        parts.append(f"{marker}{' '.join(c.quote.split())} [{c.n}]")
    return " ".join(parts)


def no_evidence_text(language: str | None) -> str:
    """The refusal sentence, in the question's language when we have it."""
    return NO_EVIDENCE.get(language or "en", NO_EVIDENCE["en"])


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


def _dedupe_spans(picked: list[Candidate]) -> list[Candidate]:
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

    return Citation(
        n=n,
        chunk_id=chunk.chunk_id,
        doc_id=chunk.doc_id,
        title=chunk.title,
        path=chunk.path,
        page=chunk.page_start,
        section=list(chunk.section),
        start_s=turn.start_s if turn else chunk.start_s,
        end_s=turn.end_s if turn else chunk.end_s,
        speakers=[turn.speaker] if turn and turn.speaker else list(chunk.speakers),
        quote=c.text,
        span=Span(start=c.start, end=c.end),
        language=chunk.language,
        country=chunk.country,
        doc_type=chunk.doc_type,
    )
