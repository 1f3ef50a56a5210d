"""The documents of a knowledge base: list, get, add an uploaded file, delete and re-index.

The HTTP API's document routes call these instead of reaching into the store or ingest, and
an upload is parsed once: the parse that checks it is the parse that is indexed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from ingest.errors import ParseError
from ingest.metadata import read_sidecar, write_sidecar
from ingest.models import Chunk
from ingest.registry import LoadResult, load_path
from kb.errors import DocumentNotFound
from kb.fingerprints import file_key
from kb.indexer import Indexer
from kb.models import DocRecord, FailedFile, IngestSummary, SearchFilters
from kb.store import VectorStore
from kb.store_base import all_documents

FACETS = ("country", "doc_type", "language", "audience")


class DocumentPage(BaseModel):
    """One page of documents, the total and facet counts: the JSON of ``GET /documents``."""

    documents: list[DocRecord]
    total: int
    limit: int
    offset: int
    facets: dict[str, dict[str, int]]


@dataclass
class Documents:
    """Document operations over one store.

    Attributes:
        store: The knowledge store.
        indexer: Builds an indexer for a write (building one does no I/O).
        max_bytes: Largest file accepted.
        max_unzipped_bytes: Largest uncompressed size of a DOCX/PPTX.
    """

    store: VectorStore
    indexer: Callable[[], Indexer]
    max_bytes: int
    max_unzipped_bytes: int

    def page(self, filters: SearchFilters, limit: int, offset: int) -> DocumentPage:
        """Documents matching ``filters``, with counts per facet.

        Each facet is counted with every filter except its own, so the other choices stay visible.
        """
        facets = {name: self.store.facets(name, filters.model_copy(update={name: []})) for name in FACETS}
        return DocumentPage(
            documents=self.store.list_documents(filters, limit=limit, offset=offset),
            total=self.store.count_documents(filters),
            limit=limit,
            offset=offset,
            facets=facets,
        )

    def get(self, doc_id: str) -> DocRecord:
        """The record of one document.

        Raises:
            DocumentNotFound: No document has this id.
        """
        record = self.store.get_document(doc_id)
        if record is None:
            raise DocumentNotFound(f"no document with id {doc_id!r}")
        return record

    def chunk(self, chunk_id: str) -> Chunk:
        """One chunk, to show a quote in its context.

        Raises:
            DocumentNotFound: No chunk has this id.
        """
        chunk = self.store.get_chunk(chunk_id)
        if chunk is None:
            raise DocumentNotFound(f"no chunk with id {chunk_id!r}")
        return chunk

    def chunks(self, doc_id: str) -> list[Chunk]:
        """A document's chunks, in order."""
        return self.store.get_chunks(doc_id)

    def add(self, path: Path, *, name: str, titled: bool) -> IngestSummary:
        """Check and index an uploaded file, parsing it once.

        Args:
            path: The stored file, with its metadata sidecar written.
            name: The name it was uploaded under, for messages and as the title of a file
                that has none of its own.
            titled: Whether the uploader gave a title.

        Returns:
            The ingest summary; failures name ``name``, never the stored path.

        Raises:
            ParseError: The file gives no document (its reason, under ``name``).
        """
        parsed = load_path(path, max_bytes=self.max_bytes, max_unzipped_bytes=self.max_unzipped_bytes)
        if not parsed.docs:
            error = parsed.errors[0] if parsed.errors else ParseError(name, "no text found")
            raise type(error)(name, error.reason)
        if not titled and parsed.docs[0].title == path.stem:
            parsed = _titled(path, parsed, Path(name).stem or name)
        summary = self.indexer().ingest_parsed(path, parsed)
        summary.failed = [FailedFile(path=name, error=f.error) for f in summary.failed]
        return summary

    def delete(self, doc_id: str) -> DocRecord:
        """Remove a document and its chunks.

        Returns:
            The record it had.

        Raises:
            DocumentNotFound: No document has this id.
        """
        record = self.get(doc_id)
        self.indexer().delete(doc_id)
        return record

    def file_in_use(self, path: Path) -> bool:
        """True when some indexed document still comes from ``path``."""
        return bool(self.store.find_by_path(file_key(path)))

    def reindex(self, roots: Sequence[Path]) -> IngestSummary:
        """Ingest again the file of every indexed document; changed files and sidecars are re-indexed.

        Args:
            roots: The folders files were ingested from, so that their shown paths stay the same.

        Returns:
            The summary; a missing file is a failure under its shown path.
        """
        # absolute path -> the path users see
        shown = {r.path: r.source_path or Path(r.path).name for r in all_documents(self.store)}
        if not shown:
            return IngestSummary()
        summary = self.indexer().ingest([Path(p) for p in shown], roots=roots)
        summary.failed = [FailedFile(path=shown.get(f.path, Path(f.path).name), error=f.error) for f in summary.failed]
        return summary


def _titled(path: Path, parsed: LoadResult, title: str) -> LoadResult:
    """Give a file without a title of its own ``title``: in its sidecar for later re-indexing,
    and in the documents parsed now, as parsing it again would."""
    write_sidecar(path, {**read_sidecar(path), "title": title})
    docs = [
        d.model_copy(update={"title": title, "meta": d.meta.model_copy(update={"title": title})}) for d in parsed.docs
    ]
    return LoadResult(docs=docs, errors=parsed.errors)
