"""Errors of the knowledge-base layer. Only ``api`` maps them to HTTP statuses."""

from __future__ import annotations

from ingest.errors import IngestError, ParseError

__all__ = [
    "BadQuery",
    "DocumentNotFound",
    "IndexNotReady",
    "IngestError",
    "KBError",
    "LlmUnavailable",
    "ModelLoadError",
    "ModelMismatch",
    "ParseError",
    "StoreCorrupted",
    "StoreUnavailable",
]


class KBError(Exception):
    """Base class of the knowledge-base errors."""


class BadQuery(KBError):
    """The query cannot be run (empty, too long, bad filter value)."""


class DocumentNotFound(KBError):
    """No document with that id is indexed."""


class IndexNotReady(KBError):
    """The collection does not exist yet: ingest something first."""


class ModelMismatch(KBError):
    """The collection was built with another embedding model."""


class ModelLoadError(KBError):
    """The embedding model's files are missing or damaged."""


class StoreUnavailable(KBError):
    """The Qdrant store cannot be reached or opened."""


class StoreCorrupted(KBError):
    """The embedded store's files are damaged; the message says how to recover."""


class LlmUnavailable(KBError):
    """The configured LLM endpoint failed or could not be reached."""
