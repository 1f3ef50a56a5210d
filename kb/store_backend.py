"""What :class:`kb.store_qdrant.QdrantStore` asks of a Qdrant engine: the backend adapter contract.

The store writes its filters, points and queries once, in the plain types below. A backend
adapter (:class:`kb.store_edge.EdgeShards` for Qdrant Edge in this process,
:class:`kb.store_server.ServerCollections` for qdrant-client against a server or its local
mode) translates them into its client's types and makes the call, nothing more: no paging,
fusion, registry or repair logic lives in an adapter.

An adapter holds two targets: ``"chunks"`` (named vectors ``dense`` and ``sparse``) and
``"docs"`` (the document registry, a 1-dim dummy vector). Every payload comes back as a plain
``dict``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeAlias

from kb.models import SparseVector

Target: TypeAlias = Literal["chunks", "docs"]
CHUNKS: Target = "chunks"
DOCS: Target = "docs"
Payload: TypeAlias = dict[str, Any]
Scored: TypeAlias = tuple[str, float, Payload]
"""A search result: point id, score, payload (empty unless asked for)."""


@dataclass(frozen=True)
class Match:
    """``key`` equals ``value``; on a list field, one of its items does."""

    key: str
    value: str


@dataclass(frozen=True)
class MatchAny:
    """``key`` equals one of ``values``."""

    key: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class DateRange:
    """``key``, an ISO date, lies between ``gte`` and ``lte``; ``None`` leaves a side open."""

    key: str
    gte: dt.date | None = None
    lte: dt.date | None = None


Leaf: TypeAlias = Match | MatchAny | DateRange


@dataclass(frozen=True)
class Where:
    """A filter: every ``must``, no ``must_not``, and one ``should`` at least when any are given."""

    must: tuple[Leaf | Where, ...] = ()
    must_not: tuple[Leaf | Where, ...] = ()
    should: tuple[Leaf | Where, ...] = ()


@dataclass(frozen=True)
class Point:
    """A point to write: id (a UUID string), named vectors, payload."""

    id: str
    vectors: dict[str, list[float] | SparseVector]
    payload: Payload


@dataclass(frozen=True)
class Nearest:
    """Nearest neighbours of ``vector`` in the named vector ``using``."""

    vector: list[float] | SparseVector
    using: str


@dataclass(frozen=True)
class Rrf:
    """Reciprocal rank fusion of the prefetches, with rank constant ``k``."""

    k: int


@dataclass(frozen=True)
class Search:
    """One Query API request on the chunks: a query, optionally over prefetched candidates."""

    query: Nearest | Rrf
    limit: int
    offset: int = 0
    where: Where | None = None
    prefetch: tuple[Search, ...] = ()
    payload: bool = False


def translate(
    where: Where | None,
    leaf: Callable[[Leaf], Any],
    combine: Callable[[list[Any] | None, list[Any] | None, list[Any] | None], Any],
) -> Any:
    """Build a client's filter from ``where``: ``leaf`` makes a condition, ``combine`` a filter.

    ``combine`` gets ``(must, must_not, should)``, each ``None`` when empty, so an empty
    :class:`Where` becomes a client filter with no clauses, which matches every point.
    """
    if where is None:
        return None

    def part(conds: tuple[Leaf | Where, ...]) -> list[Any] | None:
        return [translate(c, leaf, combine) if isinstance(c, Where) else leaf(c) for c in conds] or None

    return combine(part(where.must), part(where.must_not), part(where.should))


class Backend(Protocol):
    """The client calls of one Qdrant engine, on the targets ``"chunks"`` and ``"docs"``.

    Attributes:
        location: the folder or collection, for messages and logs.
        absent: what :class:`kb.errors.IndexNotReady` says when the collections are missing.
    """

    location: str
    absent: str

    def exists(self, target: Target) -> bool:
        """True when ``target`` exists (an embedded backend opens its files here)."""
        ...

    def create(self, dim: int) -> None:
        """Create whichever target is missing, with its payload indexes."""
        ...

    def upsert(self, target: Target, points: Sequence[Point]) -> None:
        """Insert or overwrite points, durable (in the WAL or acknowledged) on return."""
        ...

    def retrieve(self, target: Target, ids: Sequence[str]) -> list[Payload]:
        """Payloads of the points with these ids that exist."""
        ...

    def scroll(
        self, target: Target, where: Where | None, fields: list[str] | None, offset: Any, limit: int
    ) -> tuple[list[Payload], Any]:
        """One page of payloads (only ``fields`` when given) and the next page's offset or ``None``."""
        ...

    def count(self, target: Target, where: Where | None) -> int:
        """Exact number of points matching ``where``."""
        ...

    def delete_ids(self, target: Target, ids: Sequence[str]) -> None:
        """Delete points by id."""
        ...

    def delete_where(self, target: Target, where: Where) -> None:
        """Delete the points matching ``where``."""
        ...

    def facet(self, target: Target, key: str, where: Where | None, limit: int) -> dict[str, int]:
        """Exact point counts per value of ``key`` among the points matching ``where``."""
        ...

    def query(self, searches: Sequence[Search]) -> list[list[Scored]]:
        """Run searches on the chunks as one batch; one result list per search, in order."""
        ...

    def flush(self) -> None:
        """Make written data durable where the engine buffers it."""
        ...

    def close(self) -> None:
        """Release files or connections; an embedded backend reopens on the next call."""
        ...
