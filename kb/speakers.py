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
from collections.abc import Iterable
from dataclasses import dataclass, field

from ingest.models import Chunk
from kb.models import DocRecord, SearchFilters, Speaker, SpeakerEvidence, SpeakerResult
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
        depth: Chunks considered per topic.
        evidence_per_person: Evidence clips returned per person.
    """

    retriever: Retriever
    store: VectorStore
    depth: int = 60
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
        people: dict[str, _Person] = {}
        for hit in hits:
            doc_id = hit.chunk.doc_id
            if doc_id not in records:
                records[doc_id] = self.store.get_document(doc_id)
            for name, share, quote in _contributions(hit.chunk, records[doc_id]):
                key = name_key(name)
                person = people.setdefault(key, _Person(name=display_name(name)))
                weight = hit.score * share
                person.score += weight
                person.talks[doc_id] = hit.chunk.title
                person.evidence.append((weight, quote))
                _merge_info(person, name, records[doc_id])
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
                evidence=[e for _, e in sorted(p.evidence, key=lambda x: -x[0])[: self.evidence_per_person]],
            )
            for p in top
        ]
        took = round((time.perf_counter() - started) * 1000, 2)
        return SpeakerResult(topic=topic, speakers=speakers, took_ms=took)


def _contributions(chunk: Chunk, record: DocRecord | None) -> Iterable[tuple[str, float, SpeakerEvidence]]:
    """Yield (person, share of the chunk, evidence) for everyone credited with a chunk."""
    if chunk.turns:
        spoken: dict[str, int] = defaultdict(int)
        for turn in chunk.turns:
            if turn.speaker:
                spoken[turn.speaker] += turn.span.end - turn.span.start
        total = sum(spoken.values()) or 1
        for name, chars in spoken.items():
            turns = [t for t in chunk.turns if t.speaker == name]
            best = max(turns, key=lambda t: t.span.end - t.span.start)
            offset = chunk.span.start
            quote = chunk.text[best.span.start - offset : best.span.end - offset]
            yield (
                name,
                chars / total,
                SpeakerEvidence(
                    doc_id=chunk.doc_id,
                    title=chunk.title,
                    chunk_id=chunk.chunk_id,
                    start_s=best.start_s,
                    end_s=best.end_s,
                    quote=quote,
                    span=best.span,
                    path=chunk.path,
                ),
            )
        return
    authors = record.authors if record else []
    for author in authors:
        name = author.get("name")
        if name:
            yield (
                name,
                _AUTHOR_SHARE / len(authors),
                SpeakerEvidence(
                    doc_id=chunk.doc_id,
                    title=chunk.title,
                    chunk_id=chunk.chunk_id,
                    quote=chunk.text[:300],
                    span=chunk.span
                    if len(chunk.text) <= 300
                    else chunk.span.model_copy(update={"end": chunk.span.start + 300}),
                    path=chunk.path,
                ),
            )


def _merge_info(person: _Person, name: str, record: DocRecord | None) -> None:
    """Fill organisation, country and role from the document's speaker or author list."""
    if record is None:
        return
    key = name_key(name)
    for entry in (*record.speakers, *record.authors):
        if entry.get("name") and name_key(str(entry["name"])) == key:
            for fld in ("organisation", "country", "role"):
                if not person.info.get(fld) and entry.get(fld):
                    person.info[fld] = entry[fld]
