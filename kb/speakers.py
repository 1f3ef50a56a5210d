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
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ingest.metadata import FICTIONAL_MARK
from ingest.models import Chunk, Span
from ingest.textnorm import fold
from kb.embed import Embedder
from kb.models import DocRecord, Hit, SearchFilters, Speaker, SpeakerEvidence, SpeakerResult, validate_query
from kb.retrieve import Retriever
from kb.store import VectorStore

_AUTHOR_SHARE = 0.5  # writing about a topic counts, but less than talking about it at length
_QUESTION_WEIGHT = 0.3
_MODERATOR_WEIGHT = 0.5


def name_key(name: str) -> str:
    """Normalise a person's name for identity: no "(fictional)", accents, case or extra spaces."""
    return " ".join(fold(FICTIONAL_MARK.sub("", name)).replace("-", " ").split())


def display_name(name: str) -> str:
    """A person's name as shown: without a "(fictional)" marker."""
    return " ".join(FICTIONAL_MARK.sub("", name).split())


@dataclass
class _Person:
    name: str
    credits: list[float] = field(default_factory=list)
    info: dict[str, str | None] = field(default_factory=dict)
    talks: dict[str, str] = field(default_factory=dict)
    evidence: list[tuple[float, SpeakerEvidence]] = field(default_factory=list)

    def score(self, top: int) -> float:
        """Sum of the person's strongest credits: depth on the topic, not sheer talking time."""
        return sum(sorted(self.credits, reverse=True)[:top])


@dataclass(frozen=True)
class _Turn:
    """A distinct speaker turn met in the retrieved chunks, with its best chunk score."""

    chunk: Chunk
    speaker: str
    start_s: float
    end_s: float
    span: Span
    text: str
    prior: float


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
        top_credits: A person's score adds up their this many strongest credits.
        mention_share: Share of a turn's credit that goes to the people it names ("Rasmus,
            how did your city issue its green bond?"), rather than to the moderator asking.
        evidence_per_person: Evidence clips returned per person.
    """

    retriever: Retriever
    store: VectorStore
    embedder: Embedder
    depth: int = 60
    max_turns: int = 240
    top_credits: int = 2
    mention_share: float = 0.5
    evidence_per_person: int = 3

    def find(self, topic: str, filters: SearchFilters | None = None, limit: int = 10) -> SpeakerResult:
        """Rank people by how relevant what they said or wrote is to the topic.

        Args:
            topic: What the person should be able to speak about.
            filters: Chunk filters (language, date...); ``country`` filters people, not documents.
            limit: Most people returned.
        """
        started = time.perf_counter()
        topic = validate_query(topic)
        filters = filters or SearchFilters()
        person_countries = {c.upper() for c in filters.country}
        hits = self.retriever.search(topic, filters.model_copy(update={"country": []}), k=self.depth).hits
        records: dict[str, DocRecord | None] = {}
        for hit in hits:
            if hit.chunk.doc_id not in records:
                records[hit.chunk.doc_id] = self.store.get_document(hit.chunk.doc_id)
        people: dict[str, _Person] = {}

        def credit(
            name: str, amount: float, record: DocRecord | None, doc: Chunk, clip: SpeakerEvidence | None
        ) -> None:
            person = people.setdefault(name_key(name), _Person(name=display_name(name)))
            person.credits.append(amount)
            person.talks[doc.doc_id] = doc.title
            if clip is not None:
                person.evidence.append((amount, clip))
            _merge_info(person, name, record)

        turns = _distinct_turns(hits, self.max_turns)
        for turn, relevance in zip(turns, self._relevance(topic, turns), strict=True):
            record = records[turn.chunk.doc_id]
            amount = turn.prior * relevance * _standing(turn, record)
            named = _mentioned(turn, record)
            own = amount * (1 - self.mention_share) if named else amount
            credit(turn.speaker, own, record, turn.chunk, _clip(turn))
            for other in named:
                credit(other, amount * self.mention_share / len(named), record, turn.chunk, None)
        written = [h for h in hits if not h.chunk.turns and (r := records[h.chunk.doc_id]) and r.meta.authors]
        for hit, relevance in zip(written, _relative([h.stages.dense for h in written]), strict=True):
            record = records[hit.chunk.doc_id]  # written material: credit its authors
            assert record is not None
            for author in record.meta.authors:
                share = _AUTHOR_SHARE / len(record.meta.authors)
                credit(author.name, hit.score * relevance * share, record, hit.chunk, _author_clip(hit.chunk))
        ranked = [p for p in people.values() if not person_countries or p.info.get("country") in person_countries]
        ranked.sort(key=lambda p: p.score(self.top_credits), reverse=True)
        top = ranked[:limit]
        norm = top[0].score(self.top_credits) if top and top[0].score(self.top_credits) > 0 else 1.0
        speakers = [
            Speaker(
                name=p.name,
                organisation=p.info.get("organisation"),
                country=p.info.get("country"),
                role=p.info.get("role"),
                score=round(p.score(self.top_credits) / norm, 4),
                talks=list(p.talks.values()),
                evidence=_best_evidence(p.evidence, self.evidence_per_person),
            )
            for p in top
        ]
        took = round((time.perf_counter() - started) * 1000, 2)
        return SpeakerResult(topic=topic, speakers=speakers, took_ms=took)

    def _relevance(self, topic: str, turns: Sequence[_Turn]) -> list[float]:
        """Relevance in (0, 1] of each turn: exp of its similarity's distance from the best turn,
        in standard deviations, so the scale suits any embedding model."""
        if not turns:
            return []
        q = self.embedder.embed_queries([topic])[0]
        sims = self.embedder.embed_passages([t.text for t in turns]) @ q
        return _relative([float(v) for v in sims])


def _relative(scores: Sequence[float | None]) -> list[float]:
    """exp of each score's distance from the best, in standard deviations: (0, 1], any model.

    A missing score counts as the lowest one.
    """
    if not scores:
        return []
    known = [s for s in scores if s is not None]
    if not known:
        return [1.0] * len(scores)
    values = np.array([s if s is not None else min(known) for s in scores])
    spread = max(float(values.std()), 1e-6)
    return [float(v) for v in np.exp((values - float(values.max())) / spread)]


def _distinct_turns(hits: Sequence[Hit], limit: int) -> list[_Turn]:
    """Each speaker turn once (overlapping chunks repeat turns), with its best chunk score."""
    turns: dict[tuple[str, int], _Turn] = {}
    for hit in hits:
        chunk = hit.chunk
        for t in chunk.turns:
            key = (chunk.doc_id, t.span.start)
            if not t.speaker or key in turns or len(turns) >= limit:
                continue
            text = chunk.text[t.span.start - chunk.span.start : t.span.end - chunk.span.start]
            turns[key] = _Turn(chunk, t.speaker, t.start_s, t.end_s, t.span, text, hit.score)
    return list(turns.values())


def _standing(turn: _Turn, record: DocRecord | None) -> float:
    """How much a turn shows its speaker's own expertise.

    Asking is not knowing: a turn that ends in a question counts for less, and so do the
    turns of a webinar's moderator, who frames every topic without presenting one.
    """
    weight = _QUESTION_WEIGHT if turn.text.rstrip().endswith(("?", "？")) else 1.0
    if record is not None:
        key = name_key(turn.speaker)
        for person in record.meta.speakers:
            if name_key(person.name) == key and "modera" in name_key(person.role or ""):
                weight *= _MODERATOR_WEIGHT
    return weight


def _mentioned(turn: _Turn, record: DocRecord | None) -> list[str]:
    """Other speakers of the same webinar that a turn names, by full or first name."""
    if record is None:
        return []
    named = []
    for person in record.meta.speakers:
        if name_key(person.name) == name_key(turn.speaker):
            continue
        first = person.name.split()[0]
        if re.search(rf"\b{re.escape(first)}\b", turn.text):
            named.append(person.name)
    return named


def _clip(turn: _Turn) -> SpeakerEvidence:
    return SpeakerEvidence.from_chunk(
        turn.chunk, start_s=turn.start_s, end_s=turn.end_s, quote=turn.text, span=turn.span
    )


def _author_clip(chunk: Chunk) -> SpeakerEvidence:
    end = min(len(chunk.text), 300)
    return SpeakerEvidence.from_chunk(
        chunk, quote=chunk.text[:end], span=Span(start=chunk.span.start, end=chunk.span.start + end)
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
    for entry in (*record.meta.speakers, *record.meta.authors):
        if name_key(entry.name) == key:
            for fld in ("organisation", "country", "role"):
                value = getattr(entry, fld)
                if not person.info.get(fld) and value:
                    person.info[fld] = value
