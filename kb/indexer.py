"""Incremental indexing: files -> documents -> chunks -> vectors -> store.

Order of writes for one document, which makes a kill -9 at any point recoverable by
``VectorStore.repair``: new chunks first, then the registry record, then removal of the
previous version's chunks. Unchanged files (same bytes and same metadata files) are skipped
before parsing.

The stages overlap: one batch of chunks is embedded on a worker thread (torch releases the
GIL) while this thread parses and chunks the next files, and the model loads on that worker
as soon as the first changed file is found. Every store write still happens on this thread,
batch after batch, in the order above.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ingest.chunking import CHUNKER_VERSION, chunk_document
from ingest.errors import ParseError
from ingest.metadata import METADATA_VERSION
from ingest.models import Chunk, SourceDoc
from ingest.registry import LoadResult, iter_files, load_path
from kb.embed import Embedder
from kb.fingerprints import doc_fingerprint, file_fingerprint, file_key, shown_path
from kb.models import DocRecord, FailedFile, IngestSummary, SparseVector
from kb.sparse import ANALYSIS_VERSION, SparseEncoder
from kb.store import VectorStore
from kb.store_base import all_documents

logger = logging.getLogger(__name__)

_PARTIAL = "~partial"


@dataclass
class _Pending:
    doc: SourceDoc  # doc.path (and its chunks' path): relative to the folder it was ingested from
    chunks: list[Chunk]
    fingerprint: str
    is_update: bool
    file: str  # the absolute path of the file, kept server-side in the document record


@dataclass
class _Batch:
    """Documents whose chunks are being embedded on the worker thread."""

    pending: list[_Pending]
    sparse: list[SparseVector]
    dense: Future[np.ndarray]


@dataclass
class Indexer:
    """Turns files into indexed chunks, incrementally.

    Attributes:
        store: Where chunks and document records go.
        embedder: Dense passage embeddings; also counts tokens for chunking.
        sparse: Language-aware sparse vectors.
        chunk_tokens: Token budget per chunk.
        chunk_overlap: Tokens of overlap between neighbouring chunks of a section.
        max_bytes: Largest file accepted.
        max_unzipped_bytes: Largest decompressed size of an Office file.
        batch_chunks: Chunks embedded together (across documents). The model sorts one call's
            texts by length before batching them, so larger groups waste less padding. One
            batch is embedded while the next one is parsed and chunked.
        min_batch_chunks: Chunks sent early when the model is loaded and idle, so that it
            starts as soon as it is ready instead of waiting for a full batch.
    """

    store: VectorStore
    embedder: Embedder
    sparse: SparseEncoder
    chunk_tokens: int = 320
    chunk_overlap: int = 40
    max_bytes: int = 50 * 2**20
    max_unzipped_bytes: int = 300 * 2**20
    batch_chunks: int = 512
    min_batch_chunks: int = 64
    _pending: list[_Pending] = field(default_factory=list, init=False)
    _executor: ThreadPoolExecutor | None = field(default=None, init=False)
    _in_flight: _Batch | None = field(default=None, init=False)
    _loading: Future[None] | None = field(default=None, init=False)

    @property
    def chunking(self) -> str:
        """What an unchanged document's chunks and vectors depend on: the chunker, metadata and
        sparse analysis versions, and the token budgets."""
        return f"{CHUNKER_VERSION}.{METADATA_VERSION}.{ANALYSIS_VERSION}/{self.chunk_tokens}/{self.chunk_overlap}"

    def ingest(
        self, paths: Sequence[Path], *, sync: bool = False, progress: bool = False, roots: Sequence[Path] = ()
    ) -> IngestSummary:
        """Ingest files and folders; skip unchanged files; optionally remove vanished ones.

        Args:
            paths: Files and folders to ingest (folders recursively).
            sync: Also remove indexed documents whose file is gone from an ingested folder.
            progress: Show a progress bar on stderr.
            roots: Folders that files named one by one are shown relative to (a document's
                ``source_path``), as files under an ingested folder are shown relative to it.

        Returns:
            Counts of added, updated, unchanged, removed and failed files.
        """
        from tqdm import tqdm

        started = time.perf_counter()
        summary = IngestSummary()
        seen: set[str] = set()
        files: list[tuple[Path, str]] = []
        for root in paths:
            for item in iter_files([root]):
                if isinstance(item, ParseError):
                    summary.failed.append(FailedFile(path=item.path, error=item.reason))
                else:
                    files.append((item, shown_path(item, [root, *roots])))
        try:
            for path, relative in tqdm(files, desc="ingest", unit="file", disable=not progress, leave=False):
                seen.add(file_key(path))
                try:
                    self._ingest_file(path, relative, summary)
                except ParseError as exc:
                    summary.failed.append(FailedFile(path=exc.path, error=exc.reason))
                except Exception as exc:  # one bad file never stops a batch
                    logger.exception("unexpected error ingesting %s", path)
                    summary.failed.append(FailedFile(path=str(path), error=f"internal error: {exc}"))
            self._drain(summary)
        finally:
            self._stop_worker()
        if sync:
            summary.removed += self._sync([p for p in paths if p.is_dir()], seen)
        self.store.flush()
        summary.seconds = round(time.perf_counter() - started, 3)
        return summary

    def ingest_documents(self, docs: Iterable[SourceDoc], summary: IngestSummary | None = None) -> IngestSummary:
        """Index already parsed documents (bulk imports, tests); always re-checks content."""
        summary = summary or IngestSummary()
        try:
            for doc in docs:
                self._queue(doc, fingerprint=doc_fingerprint(doc, self.chunking), summary=summary, file=doc.path)
            self._drain(summary)
        finally:
            self._stop_worker()
        self.store.flush()
        return summary

    def ingest_parsed(self, path: Path, parsed: LoadResult) -> IngestSummary:
        """Index a file already parsed (an upload checked before it is stored), without parsing it again.

        Args:
            path: The file; its fingerprint (bytes and metadata files) is taken now.
            parsed: What :func:`ingest.registry.load_path` gave for it, with its metadata as
                it now stands.

        Returns:
            The summary, as :meth:`ingest` gives for one file.
        """
        started = time.perf_counter()
        summary = IngestSummary()
        try:
            self._ingest_file(path, path.name, summary, parsed)
            self._drain(summary)
        finally:
            self._stop_worker()
        self.store.flush()
        summary.seconds = round(time.perf_counter() - started, 3)
        return summary

    def delete(self, doc_id: str) -> bool:
        """Remove a document and its chunks. Returns False when it was not indexed."""
        if self.store.get_document(doc_id) is None:
            return False
        self.store.delete_document(doc_id)
        self.store.delete_chunks(doc_id)
        self.store.flush()
        return True

    # --- internals -------------------------------------------------------------------

    def _ingest_file(self, path: Path, relative: str, summary: IngestSummary, parsed: LoadResult | None = None) -> None:
        key = file_key(path)
        fingerprint = file_fingerprint(path, self.chunking)
        previous = self.store.find_by_path(key)
        if previous and all(r.fingerprint == fingerprint for r in previous):
            summary.unchanged += 1
            summary.doc_ids.extend(r.doc_id for r in previous)
            return
        result = parsed or load_path(path, max_bytes=self.max_bytes, max_unzipped_bytes=self.max_unzipped_bytes)
        for error in result.errors:
            summary.failed.append(FailedFile(path=error.path, error=error.reason))
        if not result.docs:
            return
        # A file of many documents (JSONL) is complete only when all are in: until then its
        # records carry a partial mark, so a run killed half-way is not taken as unchanged.
        several = len(result.docs) > 1
        marked = f"{fingerprint}{_PARTIAL}" if several else fingerprint
        new_ids = set()
        for doc in result.docs:
            doc = doc.model_copy(update={"path": relative})
            new_ids.add(doc.doc_id)
            self._queue(doc, fingerprint=marked, summary=summary, file=key)
        if several:
            self._drain(summary)
            for doc_id in new_ids:
                record = self.store.get_document(doc_id)
                if record is not None and record.fingerprint != fingerprint:
                    self.store.put_document(record.model_copy(update={"fingerprint": fingerprint}))
        for old in previous:  # documents this file no longer yields (e.g. its id changed)
            if old.doc_id not in new_ids:
                self._drain(summary)
                self.delete(old.doc_id)

    def _queue(self, doc: SourceDoc, fingerprint: str, summary: IngestSummary, file: str) -> None:
        content = doc_fingerprint(doc, self.chunking)
        doc = doc.model_copy(update={"content_sha256": content})
        existing = self.store.get_document(doc.doc_id)
        summary.doc_ids.append(doc.doc_id)
        if existing is not None and existing.content_sha256 == content:
            # same text and metadata: only the file bytes changed (or nothing did)
            if existing.fingerprint != fingerprint:
                self.store.put_document(existing.model_copy(update={"fingerprint": fingerprint}))
            summary.unchanged += 1
            return
        self._start_worker()
        chunks = chunk_document(
            doc,
            max_tokens=self.chunk_tokens,
            overlap_tokens=self.chunk_overlap,
            count_tokens=self.embedder.count_tokens,
        )
        self._pending.append(_Pending(doc, chunks, fingerprint, existing is not None, file))
        queued = sum(len(p.chunks) for p in self._pending)
        if queued >= self.batch_chunks or (queued >= self.min_batch_chunks and self._worker_idle()):
            self._flush(summary)

    def _worker_idle(self) -> bool:
        """True when the model is loaded and no batch is being embedded: send what is queued now."""
        loaded = self._loading is not None and self._loading.done()
        return loaded and (self._in_flight is None or self._in_flight.dense.done())

    def _start_worker(self) -> None:
        """Start the embedding thread, and loading the model on it, at the first changed document."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kb-embed")
            self._loading = self._executor.submit(self.embedder.load)

    def _stop_worker(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
        self._in_flight = self._loading = None

    def _flush(self, summary: IngestSummary) -> None:
        """Send the queued documents to the worker; first write the batch it finished before."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        chunks = [c for p in pending for c in p.chunks]
        texts = [passage_text(c) for c in chunks]
        self._start_worker()
        assert self._executor is not None
        dense = self._executor.submit(self.embedder.embed_passages, texts)
        sparse = [self.sparse.encode_document(t, c.language) for t, c in zip(texts, chunks, strict=True)]
        previous, self._in_flight = self._in_flight, _Batch(pending, sparse, dense)
        self._write(previous, summary)

    def _drain(self, summary: IngestSummary) -> None:
        """Embed and write everything queued so far."""
        self._flush(summary)
        batch, self._in_flight = self._in_flight, None
        self._write(batch, summary)

    def _write(self, batch: _Batch | None, summary: IngestSummary) -> None:
        """Wait for a batch on the worker, then write it: chunks, records, old versions' removal."""
        if batch is None:
            return
        chunks = [c for p in batch.pending for c in p.chunks]
        dense = batch.dense.result()
        if chunks:
            self.store.upsert_chunks(chunks, dense, batch.sparse)
        for p in batch.pending:
            self.store.put_document(_record(p.doc, p.file, len(p.chunks), p.fingerprint))
            self.store.delete_chunks(p.doc.doc_id, keep_sha256=p.doc.content_sha256)
            if p.is_update:
                summary.updated += 1
            else:
                summary.added += 1
            summary.chunks += len(p.chunks)

    def _sync(self, folders: Sequence[Path], seen: set[str]) -> int:
        removed = 0
        roots = [file_key(f).rstrip("/") + "/" for f in folders]
        if not roots:
            return 0
        stale = [
            rec.doc_id
            for rec in all_documents(self.store)
            if any(rec.path.startswith(r) for r in roots) and rec.path not in seen
        ]
        for doc_id in stale:
            if self.delete(doc_id):
                removed += 1
        return removed


def passage_text(chunk: Chunk) -> str:
    """The text embedded for a chunk: its title and section give the model context."""
    return f"{chunk.heading}\n{chunk.text}" if chunk.heading else chunk.text


def _record(doc: SourceDoc, file: str, chunk_count: int, fingerprint: str) -> DocRecord:
    return DocRecord(
        doc_id=doc.doc_id,
        path=file,
        source_path=doc.path,
        fingerprint=fingerprint,
        format=doc.format,
        title=doc.title,
        content_sha256=doc.content_sha256,
        chunk_count=chunk_count,
        pages=doc.pages,
        meta=doc.meta,
        indexed_at=dt.datetime.now(dt.UTC),
    )
