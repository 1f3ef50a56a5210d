"""Expert finding: who has spoken or written about a topic, with evidence.

A document-centric expert model (Balog et al., "Model 2"): retrieve the chunks most relevant
to the topic, then credit each person with what they said or wrote in them. A transcript turn
credits its speaker; a passage of a written document credits the authors its metadata names
(those it mentions, if any), as writing, never as speech. Only clips about the topic count
(:mod:`kb.speaker_evidence`), and a person is listed only with one that does more than ask,
hand over or introduce, so a topic nobody spoke about gives a short list or none. A host's
turns, and turns that only ask, hand over or introduce (:mod:`kb.speaker_turns`), count for
less. A person's score adds up their strongest credits across webinars and documents.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from ingest.models import Chunk
from kb.embed import Embedder
from kb.model_registry import Floors
from kb.models import DocRecord, Hit, SearchFilters, Speaker, SpeakerEvidence, SpeakerResult, validate_query
from kb.retrieve import Retriever
from kb.speaker_evidence import (
    about_topic,
    floors_for,
    language_shifted,
    relative,
    said_clip,
    written_clip,
)
from kb.speaker_turns import Roles, display_name, mentions, name_key, read_roles, turns_of
from kb.store import VectorStore

__all__ = ["SpeakerFinder", "display_name", "name_key"]

INFERRED_HOST = "host (inferred from the turns)"
_ROLE_CACHE = 512  # transcripts whose roles are kept between requests


@dataclass
class _Clip:
    """One piece of evidence for one person: a turn they said or a passage they wrote."""

    name: str
    credit: float
    similarity: float
    record: DocRecord | None
    chunk: Chunk
    evidence: SpeakerEvidence | None = None  # None: a written passage, quoted when shown
    place: int = 0  # where in the document, to show each place once
    hosts: bool = False  # said by a host found from the turns
    framing: bool = False  # a turn that only asks, hands over or introduces

    @property
    def order(self) -> tuple[int, float]:
        """Evidence order: what they said on the topic, then what they wrote, then their framing turns."""
        return (2 if self.framing else 1 if self.evidence is None else 0, -self.similarity)


@dataclass
class _Person:
    name: str
    clips: list[_Clip] = field(default_factory=list)
    info: dict[str, str | None] = field(default_factory=dict)
    hosts: bool = False

    def score(self, top: int) -> float:
        """Sum of the person's strongest credits: depth on the topic, not sheer talking time."""
        return sum(sorted((c.credit for c in self.clips), reverse=True)[:top])


@dataclass
class SpeakerFinder:
    """Ranks people for a topic from transcripts and author metadata.

    Attributes:
        retriever: Hybrid search over chunks.
        store: Reads document records (speakers, authors, roles) and whole transcripts (turn order).
        embedder: Scores each turn against the topic, so that a person gets credit for what
            they said, not for sharing a chunk with someone who said it.
        depth: Chunks considered per topic.
        max_turns: Speaker turns scored per topic (bounds the embedding work).
        top_credits: A person's score adds up their this many strongest credits.
        evidence_per_person: Evidence clips returned per person: their turns closest to the
            topic first, then passages they wrote, then turns that only framed the topic.
        author_share: Weight of a written passage, shared by the authors it credits, against a turn.
        framing_weight: Weight of a turn that ends on a question, gives the word to the next
            speaker by name or introduces several people.
        host_weight: Weight of every turn of a webinar's host or moderator.
        meta_roles: Whether roles in metadata win over roles read from the turns; ``False``
            reads every role from the turns, as for webinars without role metadata.
        floors: When a clip is about the topic; ``None``: those of the embedder's model.
    """

    retriever: Retriever
    store: VectorStore
    embedder: Embedder
    depth: int = 60
    max_turns: int = 240
    top_credits: int = 2
    evidence_per_person: int = 3
    author_share: float = 0.5
    framing_weight: float = 0.3
    host_weight: float = 0.5
    meta_roles: bool = True
    floors: Floors | None = None
    _roles: dict[tuple[str, str, bool], Roles] = field(default_factory=dict, init=False, repr=False, compare=False)

    def find(self, topic: str, filters: SearchFilters | None = None, limit: int = 10) -> SpeakerResult:
        """Rank the people whose words are about the topic; nobody is listed without such words.

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
        records = {doc_id: self.store.get_document(doc_id) for doc_id in dict.fromkeys(h.chunk.doc_id for h in hits)}
        floors = self.floors or floors_for(self.embedder.model_id)
        query = self.embedder.embed_queries([topic])[0]
        people: dict[str, _Person] = {}
        for clip in [*self._said(hits, records, query, floors), *self._written(hits, records, floors)]:
            person = people.setdefault(name_key(clip.name), _Person(name=display_name(clip.name)))
            person.clips.append(clip)
            person.hosts = person.hosts or clip.hosts
            _merge_info(person, clip.name, clip.record)
        ranked = [
            p
            for p in people.values()
            if any(not c.framing for c in p.clips)  # asking or handing over about a topic is not knowing it
            if not person_countries or p.info.get("country") in person_countries
        ]
        ranked.sort(key=lambda p: p.score(self.top_credits), reverse=True)
        top = ranked[:limit]
        norm = top[0].score(self.top_credits) if top and top[0].score(self.top_credits) > 0 else 1.0
        speakers = [
            Speaker(
                name=p.name,
                organisation=p.info.get("organisation"),
                country=p.info.get("country"),
                role=p.info.get("role") or (INFERRED_HOST if p.hosts else None),
                score=round(p.score(self.top_credits) / norm, 4),
                talks=list(dict.fromkeys(c.chunk.title for c in sorted(p.clips, key=lambda c: -c.credit))),
                evidence=self._evidence(p.clips, query),
            )
            for p in top
        ]
        took = round((time.perf_counter() - started) * 1000, 2)
        return SpeakerResult(topic=topic, speakers=speakers, took_ms=took)

    def _said(
        self, hits: Sequence[Hit], records: dict[str, DocRecord | None], query: np.ndarray, floors: Floors
    ) -> Iterator[_Clip]:
        """Turns about the topic, each crediting its speaker by relevance, place and role."""
        prior: dict[tuple[str, float, str], float] = {}
        for hit in hits:  # a turn's prior: the best score of a chunk holding it
            for cue in hit.chunk.turns:
                key = (hit.chunk.doc_id, cue.start_s, cue.speaker or "")
                prior[key] = max(prior.get(key, 0.0), hit.score)
        turns = turns_of((h.chunk for h in hits), self.max_turns)
        if not turns:
            return
        roles = {t.chunk.doc_id: self._roles_of(t.chunk.doc_id, records.get(t.chunk.doc_id)) for t in turns}
        # An answer is about what it was asked: it is as relevant as the turn that gave its speaker the word.
        prompts = [roles[t.chunk.doc_id].prompts.get(t.key) for t in turns]
        extra = {(p.chunk.doc_id, *p.key): p for p in prompts if p is not None}
        for t in turns:
            extra.pop((t.chunk.doc_id, *t.key), None)
        pool = [*turns, *extra.values()]
        raw = [float(v) for v in self.embedder.embed_passages([t.text for t in pool]) @ query]
        shifted = language_shifted(raw, [t.chunk.language for t in pool], len(turns))
        rels = {(t.chunk.doc_id, *t.key): r for t, r in zip(pool, relative(shifted), strict=True)}
        about = about_topic(raw[: len(turns)], shifted[: len(turns)], floors.said, floors.said_margin)
        for turn, prompt, sim, ok in zip(turns, prompts, raw[: len(turns)], about, strict=True):
            if not ok:
                continue
            doc_id = turn.chunk.doc_id
            framing = turn.key in roles[doc_id].framing
            weight = self.framing_weight if framing else 1.0
            if name_key(turn.speaker) in roles[doc_id].hosts:
                weight *= self.host_weight
            rel = rels[(doc_id, *turn.key)]
            if prompt is not None:
                rel = max(rel, rels[(doc_id, *prompt.key)])
            credit = prior[(doc_id, *turn.key)] * rel * weight
            hosts = name_key(turn.speaker) in roles[doc_id].inferred
            record = records.get(doc_id)
            yield _Clip(turn.speaker, credit, sim, record, turn.chunk, said_clip(turn), turn.span.start, hosts, framing)

    def _written(self, hits: Sequence[Hit], records: dict[str, DocRecord | None], floors: Floors) -> Iterator[_Clip]:
        """Passages about the topic of documents with authors, crediting the authors they name, or all."""
        written = [
            (h, r)
            for h in hits
            if not h.chunk.turns and h.chunk.doc_type != "transcript"
            if (r := records.get(h.chunk.doc_id)) is not None and r.meta.authors
        ]
        sims = [h.stages.dense for h, _ in written]
        shifted = language_shifted(sims, [h.chunk.language for h, _ in written], len(written))
        about = about_topic(sims, shifted, floors.written, floors.written_margin)
        for (hit, record), rel, ok in zip(written, relative(shifted), about, strict=True):
            if not ok:
                continue
            authors = [a.name for a in record.meta.authors]
            credited = mentions(hit.chunk.text, authors) or authors
            for name in credited:
                credit = hit.score * rel * self.author_share / len(credited)
                yield _Clip(name, credit, hit.stages.dense or 0.0, record, hit.chunk, place=hit.chunk.span.start)

    def _roles_of(self, doc_id: str, record: DocRecord | None) -> Roles:
        """The roles in a transcript, read once per version of it from all its turns."""
        key = (doc_id, record.content_sha256 if record else "", self.meta_roles)
        roles = self._roles.get(key)
        if roles is None:
            chunks = sorted(self.store.get_chunks(doc_id), key=lambda c: c.ordinal)
            listed = record.meta.speakers if record is not None and self.meta_roles else []
            roles = read_roles(turns_of(chunks), {name_key(p.name): p.role for p in listed if p.role})
            if len(self._roles) >= _ROLE_CACHE:
                self._roles.clear()
            self._roles[key] = roles
        return roles

    def _evidence(self, clips: list[_Clip], query: np.ndarray) -> list[SpeakerEvidence]:
        """The clips closest to the topic in :attr:`_Clip.order`, one per place in a document."""
        out: list[SpeakerEvidence] = []
        seen: set[tuple[str, int]] = set()
        for clip in sorted(clips, key=lambda c: c.order):
            where = (clip.chunk.doc_id, clip.place)
            if where in seen:
                continue
            seen.add(where)
            out.append(clip.evidence or written_clip(clip.chunk, query, self.embedder))
            if len(out) == self.evidence_per_person:
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
