"""The knowledge base wired together from settings: one object for the CLI, the API and eval."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

from kb import __version__
from kb.answer import Answerer
from kb.documents import Documents
from kb.embed import CachingEmbedder, Embedder, load_embedder
from kb.generate import GenerativeAnswerer
from kb.indexer import Indexer
from kb.model_registry import HASH, resolve
from kb.models import Answer, Comparison, SearchFilters
from kb.reader import CrossEncoderReader, Reader
from kb.rerank import CrossEncoderReranker
from kb.retrieve import Retriever
from kb.settings import Settings
from kb.sparse import SparseEncoder
from kb.speakers import SpeakerFinder
from kb.store import EdgeStore, VectorStore, open_store

logger = logging.getLogger(__name__)

MB = 2**20


@dataclass
class KnowledgeBase:
    """Services built once from settings; heavy parts load on first use."""

    settings: Settings
    embedder_override: Embedder | None = None
    _store: VectorStore | None = field(default=None, init=False)
    _opened: bool = field(default=False, init=False)
    _repaired: bool = field(default=False, init=False)

    @cached_property
    def embedder(self) -> Embedder:
        """The embedding model (converted and cached on first use)."""
        if self.embedder_override is not None:
            return self.embedder_override
        s = self.settings
        return load_embedder(
            s.embed_model,
            s.models_dir,
            threads=s.embed_threads,
            batch_size=s.embed_batch_size,
            precision=s.embed_precision,
        )

    @cached_property
    def sentence_embedder(self) -> Embedder:
        """The embedder behind queries, answers and speaker finding, with a cache of vectors."""
        return CachingEmbedder(self.embedder)

    @cached_property
    def sparse(self) -> SparseEncoder:
        """Language-aware sparse encoder."""
        return SparseEncoder()

    @property
    def store(self) -> VectorStore:
        """The Qdrant store: embedded by default, a server when ``KB_QDRANT_URL`` is set."""
        if self._store is None:
            s = self.settings
            self._store = open_store(
                s.store_dir,
                s.collection,
                url=s.qdrant_url,
                api_key=s.qdrant_api_key,
                timeout_s=s.qdrant_timeout_s,
                retries=s.qdrant_retries,
            )
        return self._store

    def open(self, *, repair_server: bool = False) -> KnowledgeBase:
        """Open the store once: create the collection or check it was built with the configured model.

        The embedded store also drops what an interrupted ingest left (see
        :meth:`VectorStore.repair`), once, before anything reads it, so a reader after a
        kill -9 sees each document as its old or its new version, never a mix. Its folder
        belongs to one process at a time, so no other ingest can be half-way through. A Qdrant
        server may be shared with a running ingest: it is repaired only when ``repair_server``
        says this process is the writer (``kb ingest``).
        """
        store = self.store
        if not self._opened:
            store.ensure_collection(self.embedder.model_id, self.embedder.dim)
            self._opened = True
        if not self._repaired and (isinstance(store, EdgeStore) or repair_server):
            removed = store.repair()
            if removed:
                logger.warning("removed %s chunks left by an interrupted ingest", removed)
            self._repaired = True
        return self

    @cached_property
    def retriever(self) -> Retriever:
        """Hybrid retrieval with the optional reranker."""
        s = self.settings
        reranker = CrossEncoderReranker(s.rerank_model, precision=s.embed_precision) if s.rerank_model else None
        return Retriever(
            store=self.store,
            embedder=self.sentence_embedder,
            sparse=self.sparse,
            prefetch_dense=s.prefetch_dense,
            prefetch_sparse=s.prefetch_sparse,
            dedupe_threshold=s.dedupe_threshold,
            reranker=reranker,
            rerank_top=s.rerank_top,
        )

    @cached_property
    def reader(self) -> Reader | None:
        """The trained reader (loaded on first use), or ``None`` when ``KB_READER`` is off.

        Unset, the reader runs with every real embedding model; the ``hash`` test embedder
        stands for "no model at all", so it runs without one.
        """
        s = self.settings
        wanted = s.reader if s.reader is not None else resolve(s.embed_model).id != HASH.id
        if not wanted:
            return None
        from kb.e5convert import ensure_converted

        return CrossEncoderReader(
            lambda: ensure_converted(s.models_dir), threads=s.embed_threads, precision=s.embed_precision
        )

    @cached_property
    def answerer(self) -> Answerer:
        """Extractive answers and comparisons."""
        s = self.settings
        threshold = s.answer_min_score if s.answer_min_score is not None else resolve(s.embed_model).min_score
        return Answerer(
            retriever=self.retriever,
            embedder=self.sentence_embedder,
            sparse=self.sparse,
            reader=self.reader,
            hits=s.answer_hits,
            max_sentences=s.answer_sentences,
            min_probability=s.answer_min_probability,
            mmr_lambda=s.answer_mmr_lambda,
            min_score=threshold,
        )

    # -- optional generation (KB_LLM_URL) -----------------------------------------------------

    @cached_property
    def generator(self) -> GenerativeAnswerer | None:
        """Citation-checked generated answers, or ``None`` when ``KB_LLM_URL`` is not set."""
        s = self.settings
        if not s.llm_url:
            return None
        from kb.llm import OpenAILikeLlm

        llm = OpenAILikeLlm(s.llm_url, s.llm_model or "default", api_key=s.llm_api_key, timeout_s=s.llm_timeout_s)
        return GenerativeAnswerer(
            retriever=self.retriever,
            embedder=self.sentence_embedder,
            llm=llm,
            extractive=self.answerer,
            hits=s.answer_hits,
            support_threshold=resolve(s.embed_model).support_threshold,
        )

    @cached_property
    def speakers(self) -> SpeakerFinder:
        """Expert finding over transcripts and authors."""
        return SpeakerFinder(retriever=self.retriever, store=self.store, embedder=self.sentence_embedder)

    @cached_property
    def documents(self) -> Documents:
        """List, get, add, delete and re-index documents."""
        s = self.settings
        return Documents(
            store=self.store,
            indexer=self.indexer,
            max_bytes=int(s.max_file_mb * MB),
            max_unzipped_bytes=int(s.max_unzipped_mb * MB),
        )

    def indexer(self) -> Indexer:
        """A new indexer over this knowledge base, opened (:meth:`open`) first."""
        self.open()
        s = self.settings
        return Indexer(
            store=self.store,
            embedder=self.embedder,
            sparse=self.sparse,
            chunk_tokens=s.chunk_tokens,
            chunk_overlap=s.chunk_overlap,
            max_bytes=int(s.max_file_mb * MB),
            max_unzipped_bytes=int(s.max_unzipped_mb * MB),
        )

    def ask(self, question: str, filters: SearchFilters | None = None, *, extractive: bool = False) -> Answer:
        """Answer a question: generated and citation-checked when an LLM is configured, else extractive."""
        answerer = None if extractive else self.generator
        return (answerer or self.answerer).ask(question, filters)

    def compare(self, question: str, countries: Sequence[str] = (), filters: SearchFilters | None = None) -> Comparison:
        """Compare countries: the given ones, else those the question names, else all with material."""
        q = self.retriever.query(question, filters)
        wanted = [c.upper() for c in countries] or list(q.countries) or self.countries()
        return self.answerer.compare(q, wanted)

    def countries(self) -> list[str]:
        """Countries with material (ISO codes only; pan-European material is left out)."""
        counts = self.store.facets("country", SearchFilters())
        return sorted(c for c in counts if c and c != "EU" and len(c) == 2)

    def health(self) -> dict[str, object]:
        """What /health and ``kb stats`` report."""
        return {
            "version": __version__,
            "model": self.embedder.model_id,
            "store": "qdrant-server" if self.settings.qdrant_url else "qdrant-edge",
            "documents": self.store.count_documents(SearchFilters()),
            "chunks": self.store.count_chunks(),
        }

    def close(self) -> None:
        """Flush and close the store."""
        if self._store is not None:
            self._store.close()
            self._store = None
            self._opened = self._repaired = False
