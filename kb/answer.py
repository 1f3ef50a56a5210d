"""Extractive answers with verbatim, span-located citations, and country comparisons.

No language model is needed. Whether to answer is decided on the retrieved chunks' sentences:
below a calibrated query-sentence similarity, or when the evidence lacks what the question asks
for (kb/expected.py), the answer says the knowledge base has no evidence rather than padding
with unrelated text. Which sentences to quote is decided by the reader (:mod:`kb.reader`, a
cross-encoder trained by this project), which reads the question with each chunk and scores
every sentence as an answer: the answer leads with the sentences it rates best, leaves out
near-duplicates (keeping the one in the question's language) and cites each with ``[n]``.
Without a reader (``KB_READER=false``, or a test's fake embedder) the sentences are the most
similar ones, diversified with MMR and in document order. A sentence that introduces a list
("... three tasks:") is quoted with the list.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ingest.countries import countries_in
from ingest.languages import no_evidence_text
from kb.embed import Embedder
from kb.expected import expected_answer, gives, missing_names, names_in
from kb.model_registry import E5_SMALL
from kb.models import Answer, Citation, CompareRow, Comparison, Hit, SearchFilters
from kb.query import Query, make_query
from kb.reader import Reader, ReaderPassage
from kb.retrieve import Retriever
from kb.sentences import Candidate, citation_for, dedupe_spans, sentence_candidates
from kb.sparse import SparseEncoder

logger = logging.getLogger(__name__)


@dataclass
class Answerer:
    """Builds extractive answers from retrieved chunks.

    Attributes:
        retriever: Hybrid search.
        embedder: Scores query-sentence similarity (the retrieval model) and finds near-duplicates.
        sparse: Detects the language of a question given as text.
        reader: Chooses the answer sentences; ``None``: the most similar ones, by MMR.
        hits: Chunks read per question.
        max_sentences: Most sentences in an answer.
        min_probability: Refuse when the reader's probability that some chunk answers is below
            this (0: the reader does not refuse; chosen on the gold set's tuning part).
        sentence_window: Reader: sentences whose log-odds fall more than this below the best
            one's are left out (chosen on the gold set's tuning part).
        min_sentence_score: Reader: log-odds a sentence needs to be quoted at all.
        duplicate_similarity: Reader: cosine above which two sentences state the same thing
            (often a translation); only one is quoted, preferably in the question's language.
        mmr_lambda: Without reader: relevance versus novelty in MMR (1 = relevance only).
        min_score: Similarity below which a sentence is no evidence; calibrated per model.
        relative_window: Without reader: sentences scoring more than this below the best one
            are left out.
        evidence_window: The refusal checks read the sentences within this of the best one: a
            figure of the asked-for kind that scores well below the best sentence is about
            something else (gold questions that get a right answer stay within 0.03).
        cross_lingual_margin: Added to the similarity of sentences in another language than
            the question (cross-lingual similarities run lower for the same meaning).
    """

    retriever: Retriever
    embedder: Embedder
    sparse: SparseEncoder
    reader: Reader | None = None
    hits: int = 8
    max_sentences: int = 7
    min_probability: float = 0.0
    sentence_window: float = 4.0
    min_sentence_score: float = -2.0
    duplicate_similarity: float = 0.93
    mmr_lambda: float = 0.7
    min_score: float = E5_SMALL.min_score
    relative_window: float = 0.06
    evidence_window: float = 0.04
    cross_lingual_margin: float = 0.02

    def ask(self, question: str | Query, filters: SearchFilters | None = None) -> Answer:
        """Answer a question with cited sentences from the knowledge base."""
        started = time.perf_counter()
        q = self._query(question, filters)
        hits = self.retrieve(q)
        return self.answer_from_hits(q, hits, started, country_scoped=bool(q.filters.country))

    def retrieve(self, question: str | Query, filters: SearchFilters | None = None) -> list[Hit]:
        """The hits an answer to ``question`` is drawn from."""
        return self.retriever.search(question, filters, k=self.hits).hits

    def answer_from_hits(
        self, question: str | Query, hits: Sequence[Hit], started: float | None = None, *, country_scoped: bool = False
    ) -> Answer:
        """Build the extractive answer (or the refusal) from already retrieved hits.

        ``country_scoped``: the hits were filtered to chosen countries, so the countries the
        question names no longer decide whether the evidence is about the right place.
        """
        started = time.perf_counter() if started is None else started
        q = self._query(question)
        question, language = q.text, q.answer_language
        selection = self._select(q, hits, language, country_scoped)
        elapsed = round((time.perf_counter() - started) * 1000, 2)
        if not selection.citations:
            logger.debug("no evidence for %r: %s", question, selection.refusal)
            return Answer(
                question=question,
                answer=no_evidence_text(language),
                evidence=False,
                refusal=selection.refusal,
                confidence=selection.confidence,
                language=language,
                took_ms=elapsed,
            )
        return Answer(
            question=question,
            answer=render(selection.citations, language),
            citations=selection.citations,
            evidence=True,
            confidence=selection.confidence,
            language=language,
            took_ms=elapsed,
        )

    def compare(
        self, question: str | Query, countries: Sequence[str], filters: SearchFilters | None = None
    ) -> Comparison:
        """Answer the same question once per country, with an explicit row where there is no evidence."""
        started = time.perf_counter()
        q = self._query(question, filters)
        rows: list[CompareRow] = []
        for country in countries:
            scoped = q.scoped(about=[country.upper()])  # a row reads what is about its country
            answer = self.answer_from_hits(scoped, self.retrieve(scoped), country_scoped=True)
            rows.append(
                CompareRow(
                    country=country.upper(),
                    answer=answer.answer,
                    evidence=answer.evidence,
                    citations=answer.citations,
                )
            )
        return Comparison(question=q.text, rows=rows, took_ms=round((time.perf_counter() - started) * 1000, 2))

    def by_answer_probability(self, question: str, hits: Sequence[Hit]) -> list[Hit]:
        """``hits`` reordered by the reader's probability that they answer (unchanged without a reader)."""
        if self.reader is None:
            return list(hits)
        readings = self.reader.read(question, [reader_passage(h, sentence_candidates(0, h)) for h in hits])
        order = sorted(range(len(hits)), key=lambda i: -readings[i].answer_probability)
        return [hits[i] for i in order]

    def _query(self, question: str | Query, filters: SearchFilters | None = None) -> Query:
        """A question given as text, worked out as the retriever does (:class:`kb.query.Query`)."""
        return question if isinstance(question, Query) else make_query(question, filters, self.sparse.detect_language)

    def _select(self, query: Query, hits: Sequence[Hit], language: str | None, country_scoped: bool) -> Selection:
        """The cited sentences, or none and the reason.

        Refusals come from the similarity checks (a calibrated similarity, then what the
        question asks for, see :func:`unanswerable`) and, when ``min_probability`` is set, from
        the reader's confidence. Sentences are chosen by the reader when there is one.
        """
        question = query.text
        hits = focus_on_named_countries(query.countries, hits)
        candidates = [c for rank, hit in enumerate(hits) for c in sentence_candidates(rank, hit)]
        if query.filters.about:  # a comparison's row: only sentences about its country
            candidates = about_only(candidates, query.filters.about)
        if not candidates:
            return Selection([], "no passage found")
        q = self.embedder.embed_queries([question])[0]
        vectors = self.embedder.embed_passages([c.text for c in candidates])
        # A translation scores lower than the same words would: sentences in another language
        # than the question get a calibrated allowance before the evidence threshold.
        other = np.array([bool(language and c.hit.chunk.language not in (None, language)) for c in candidates])
        sims = vectors @ q + self.cross_lingual_margin * other
        best = float(sims.max())
        confidence, scores = self._read(question, hits, candidates) if self.reader is not None else (None, None)
        if best < self.min_score:
            return Selection(
                [], f"no passage is similar enough to the question ({best:.3f} < {self.min_score})", confidence
            )
        eligible = [i for i, s in enumerate(sims) if s >= max(self.min_score, best - self.relative_window)]
        evidence = [candidates[i] for i in eligible if sims[i] >= best - self.evidence_window]
        refusal = unanswerable(query, language, hits, evidence, country_scoped)
        if refusal:
            return Selection([], refusal, confidence)
        if confidence is not None and scores is not None:
            if confidence < self.min_probability:
                reason = (
                    f"no passage answers the question (reader confidence {confidence:.2f} < {self.min_probability})"
                )
                return Selection([], reason, confidence)
            chosen = self._by_reader(scores, vectors, candidates, language)
            picked = dedupe_spans([candidates[i].with_list() for i in chosen])
        else:
            chosen = mmr(vectors, sims, eligible, self.max_sentences, self.mmr_lambda)
            picked = [candidates[i].with_list() for i in chosen]
            doc_order = {c.hit.chunk.doc_id: c.hit_rank for c in sorted(picked, key=lambda c: c.hit_rank)}
            picked.sort(key=lambda c: (doc_order[c.hit.chunk.doc_id], c.start))
            picked = dedupe_spans(picked)
        return Selection([citation_for(n, c) for n, c in enumerate(picked, start=1)], None, confidence)

    def _read(self, question: str, hits: Sequence[Hit], candidates: list[Candidate]) -> tuple[float, np.ndarray]:
        """The reader's confidence that some hit answers, and each candidate's log-odds."""
        assert self.reader is not None
        per_hit: list[list[int]] = [[] for _ in hits]
        for i, c in enumerate(candidates):
            per_hit[c.hit_rank].append(i)
        read = [r for r in range(len(hits)) if per_hit[r]]
        readings = self.reader.read(
            question, [reader_passage(hits[r], [candidates[i] for i in per_hit[r]]) for r in read]
        )
        scores = np.full(len(candidates), -np.inf)
        for r, reading in zip(read, readings, strict=True):
            scores[per_hit[r]] = reading.sentence_scores
        return round(max(reading.answer_probability for reading in readings), 4), scores

    def _by_reader(
        self, scores: np.ndarray, vectors: np.ndarray, candidates: Sequence[Candidate], language: str | None
    ) -> list[int]:
        """Up to ``max_sentences`` sentences, best first, within the window of the best one,
        that state different things.

        Of two sentences saying the same (a translation, or the same sentence in overlapping
        chunks) the one in the question's language is kept, in the better one's place.
        """
        best = float(scores.max())
        floor = max(self.min_sentence_score, best - self.sentence_window)
        ranked = [int(i) for i in np.argsort(-scores, kind="stable") if scores[i] >= floor or scores[i] == best]
        chosen: list[int] = []
        for k in ranked:
            same = [j for j in chosen if float(vectors[j] @ vectors[k]) >= self.duplicate_similarity]
            if not same:
                if len(chosen) < self.max_sentences:
                    chosen.append(k)
                continue
            mine, theirs = candidates[k].hit.chunk.language, candidates[same[0]].hit.chunk.language
            if language and mine == language != theirs:
                chosen[chosen.index(same[0])] = k
        return chosen


@dataclass(frozen=True)
class Selection:
    """What an answer cites, or why it refuses, and the reader's confidence when there is one."""

    citations: list[Citation]
    refusal: str | None
    confidence: float | None = None


def reader_passage(hit: Hit, candidates: Sequence[Candidate]) -> ReaderPassage:
    """A chunk as the reader reads it: its text, its candidate sentences, its title and section."""
    base = hit.chunk.span.start
    return ReaderPassage(hit.chunk.text, tuple((c.start - base, c.end - base) for c in candidates), hit.chunk.heading)


def unanswerable(
    query: Query,
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
    question = query.text
    expect = expected_answer(question)
    if not any(gives(c.text, expect, question, c.hit.chunk.language) for c in evidence):
        return f"no passage gives the {expect.describe} the question asks for"
    if language and any(h.chunk.language == language for h in hits):
        missing = missing_names([h.chunk.text for h in hits], names_in(question, language))
        if missing:
            return f"no passage mentions {', '.join(missing)}"
    named = set() if country_scoped else set(query.countries)
    chunks = {c.hit.chunk.chunk_id: c.hit.chunk for c in evidence}.values()  # several sentences share a chunk
    if named and not any(chunk.country in named or named & set(countries_in(chunk.text)) for chunk in chunks):
        return f"no passage is about {', '.join(sorted(named))}"
    return None


def about_only(candidates: Sequence[Candidate], countries: Sequence[str]) -> list[Candidate]:
    """The candidate sentences about ``countries``.

    A sentence is about the countries it names. One that names none is about those the last
    sentence before it in its passage named ("Sweden set up a platform. It is hosted by
    KTH."), and at the start of a passage about the countries of its section headings, or of
    the passage when it is about one country only.
    """
    wanted = set(countries)
    kept: list[Candidate] = []
    by_passage: dict[str, list[Candidate]] = {}
    for c in candidates:
        by_passage.setdefault(c.hit.chunk.chunk_id, []).append(c)
    for group in by_passage.values():
        chunk = group[0].hit.chunk
        current = set(countries_in(" ".join(chunk.section))) or (set(chunk.about) if len(chunk.about) == 1 else set())
        for c in sorted(group, key=lambda c: c.start):
            named = set(countries_in(c.text))
            current = named or current
            if current & wanted:
                kept.append(c)
    return sorted(kept, key=candidates.index)


def focus_on_named_countries(countries: Sequence[str], hits: Sequence[Hit]) -> Sequence[Hit]:
    """Keep the hits about the countries a question names (and pan-European ones), if any are."""
    named = set(countries)
    if not named or not any(h.chunk.country in named for h in hits):
        return hits
    return [h for h in hits if h.chunk.country in named or h.chunk.country in (None, "EU")]


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
