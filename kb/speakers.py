"""Expert finding: who has spoken or written about a topic, with evidence.

A document-centric expert model (Balog et al., "Model 2"): retrieve the chunks most relevant
to the topic, then credit each person with the chunk's relevance times their share of it,
which for a transcript chunk is the share of its text they spoke and for a written document
is an equal share among its authors. Scores add up across chunks, webinars and documents, so a
person who spoke at length about a topic in two webinars ranks above one who mentioned it.
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ingest.models import Chunk, Span, Turn
from kb.embed import Embedder
from kb.models import DocRecord, Hit, SearchFilters, Speaker, SpeakerEvidence, SpeakerResult
from kb.retrieve import Retriever, validate_query
from kb.store import VectorStore

_FICTIONAL = re.compile(r"\s*\((fictional|fictitious)\)\s*$", re.IGNORECASE)
_AUTHOR_SHARE = 0.5  # writing about a topic counts, but less than talking about it at length


def name_key(name: str) -> str:
    """Normalise a person's name for identity: no "(fictional)", accents, case or extra spaces."""
    name = _FICTIONAL.sub("", name)
    folded = unicodedata.normalize("NFKD", name)
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return " ".join(folded.casefold().replace("-", " ").split())


def display_name(name: str) -> str:
    """A person's name as shown: without a "(fictional)" marker."""
    return " ".join(_FICTIONAL.sub("", name).split())


@dataclass
class _Person:
    name: str
    score: float = 0.0
    info: dict[str, str | None] = field(default_factory=dict)
    talks: dict[str, str] = field(default_factory=dict)
    evidence: list[tuple[float, SpeakerEvidence]] = field(default_factory=list)


@dataclass
class SpeakerFinder:
    """Ranks people for a topic from transcripts and author metadata.

    Attributes:
        retriever: Hybrid search over chunks.
        store: Reads document records for speaker and author details.
        embedder: Scores each speaker turn against the topic, so that a person gets credit
            for what they said, not for sharing a chunk with someone who said it.
        depth: Chunks considered per topic.
        max_turns: Speaker turns scored per topic (bounds the embedding work).
        evidence_per_person: Evidence clips returned per person.
    """

    retriever: Retriever
    store: VectorStore
    embedder: Embedder
    depth: int = 40
    max_turns: int = 160
    evidence_per_person: int = 3

    def find(self, topic: str, filters: SearchFilters | None = None, limit: int = 10) -> SpeakerResult:
        """Rank people by how much of what they said or wrote is relevant to the topic.

        Args:
            topic: What the person should be able to speak about.
            filters: Chunk filters (language, date...); ``country`` filters people, not documents.
            limit: Most people returned.
        """
        started = time.perf_counter()
        topic = validate_query(topic)
        filters = filters or SearchFilters()
        person_countries = {c.upper() for c in filters.country}
        chunk_filters = filters.model_copy(update={"country": []})
        hits = self.retriever.search(topic, chunk_filters, k=self.depth).hits
        records: dict[str, DocRecord | None] = {}
        for hit in hits:
            if hit.chunk.doc_id not in records:
                records[hit.chunk.doc_id] = self.store.get_document(hit.chunk.doc_id)
        relevance = self._turn_relevance(topic, hits)
        people: dict[str, _Person] = {}
        for hit in hits:
            record = records[hit.chunk.doc_id]
            for name, share, quote in _contributions(hit.chunk, record, relevance):
                person = people.setdefault(name_key(name), _Person(name=display_name(name)))
                weight = hit.score * share
                person.score += weight
                person.talks[hit.chunk.doc_id] = hit.chunk.title
                person.evidence.append((weight, quote))
                _merge_info(person, name, record)
        ranked = [p for p in people.values() if not person_countries or p.info.get("country") in person_countries]
        ranked.sort(key=lambda p: p.score, reverse=True)
        top = ranked[:limit]
        norm = top[0].score if top and top[0].score > 0 else 1.0
        speakers = [
            Speaker(
                name=p.name,
                organisation=p.info.get("organisation"),
                country=p.info.get("country"),
                role=p.info.get("role"),
                score=round(p.score / norm, 4),
                talks=list(p.talks.values()),
                evidence=_best_evidence(p.evidence, self.evidence_per_person),
            )
            for p in top
        ]
        took = round((time.perf_counter() - started) * 1000, 2)
        return SpeakerResult(topic=topic, speakers=speakers, took_ms=took)

    def _turn_relevance(self, topic: str, hits: Sequence[Hit]) -> dict[tuple[str, int], float]:
        """Relevance in [0, 1] of each distinct speaker turn of the hits (min-max scaled similarity)."""
        turns: dict[tuple[str, int], str] = {}
        for hit in hits:
            offset = hit.chunk.span.start
            for t in hit.chunk.turns:
                key = (hit.chunk.doc_id, t.span.start)
                if t.speaker and key not in turns and len(turns) < self.max_turns:
                    turns[key] = hit.chunk.text[t.span.start - offset : t.span.end - offset]
        if not turns:
            return {}
        q = self.embedder.embed_queries([topic])[0]
        sims = self.embedder.embed_passages(list(turns.values())) @ q
        lo, hi = float(sims.min()), float(sims.max())
        scaled = (sims - lo) / (hi - lo) if hi > lo else sims * 0 + 1.0
        return {key: float(v) ** 2 for key, v in zip(turns, scaled, strict=True)}


def _contributions(
    chunk: Chunk, record: DocRecord | None, relevance: dict[tuple[str, int], float]
) -> Iterable[tuple[str, float, SpeakerEvidence]]:
    """Yield (person, credit share of the chunk, evidence) for everyone credited with a chunk."""
    if chunk.turns:
        total = sum(t.span.end - t.span.start for t in chunk.turns if t.speaker) or 1
        by_person: dict[str, list[tuple[float, Turn]]] = defaultdict(list)
        for t in chunk.turns:
            if t.speaker:
                weight = (t.span.end - t.span.start) / total * relevance.get((chunk.doc_id, t.span.start), 0.0)
                by_person[t.speaker].append((weight, t))
        offset = chunk.span.start
        for name, weighted in by_person.items():
            share = sum(w for w, _ in weighted)
            best = max(weighted, key=lambda wt: wt[0])[1]
            yield (
                name,
                share,
                SpeakerEvidence(
                    doc_id=chunk.doc_id,
                    title=chunk.title,
                    chunk_id=chunk.chunk_id,
                    start_s=best.start_s,
                    end_s=best.end_s,
                    quote=chunk.text[best.span.start - offset : best.span.end - offset],
                    span=best.span,
                    path=chunk.path,
                ),
            )
        return
    authors = record.authors if record else []
    quote_end = min(len(chunk.text), 300)
    for author in authors:
        yield (
            author.name,
            _AUTHOR_SHARE / len(authors),
            SpeakerEvidence(
                doc_id=chunk.doc_id,
                title=chunk.title,
                chunk_id=chunk.chunk_id,
                quote=chunk.text[:quote_end],
                span=Span(start=chunk.span.start, end=chunk.span.start + quote_end),
                path=chunk.path,
            ),
        )


def _best_evidence(evidence: list[tuple[float, SpeakerEvidence]], n: int) -> list[SpeakerEvidence]:
    """The n strongest clips, one per place in a document."""
    out: list[SpeakerEvidence] = []
    seen: set[tuple[str, int]] = set()
    for _, e in sorted(evidence, key=lambda x: -x[0]):
        key = (e.doc_id, e.span.start)
        if key not in seen:
            seen.add(key)
            out.append(e)
        if len(out) == n:
            break
    return out


def _merge_info(person: _Person, name: str, record: DocRecord | None) -> None:
    """Fill organisation, country and role from the document's speaker or author list."""
    if record is None:
        return
    key = name_key(name)
    for entry in (*record.speakers, *record.authors):
        if name_key(entry.name) == key:
            for fld in ("organisation", "country", "role"):
                value = getattr(entry, fld)
                if not person.info.get(fld) and value:
                    person.info[fld] = value
