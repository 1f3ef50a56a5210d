"""The knowledge store: one :class:`VectorStore` contract, one Qdrant store, two backends, one factory.

- :mod:`kb.store_base`: the contract and the Chunk <-> point mapping (point ids, payloads,
  points, hits), written nowhere else.
- :mod:`kb.store_qdrant`: :class:`QdrantStore`, everything the store decides (filters,
  hybrid search with RRF, paging, facets, registry, repair, locking), over a backend adapter
  (:mod:`kb.store_backend`) that only makes client calls.
- :class:`EdgeStore` (default): the store on Qdrant Edge in-process under the data directory.
- :class:`kb.store_server.QdrantServerStore`: the store on a Qdrant server (``KB_QDRANT_URL``).
- :mod:`kb.snapshot`: ``kb snapshot`` / ``kb restore`` of the embedded store's folder.

The embedded store's files end up in ``<data_dir>/qdrant/qdrant/<collection>``: callers pass
``Settings.store_dir`` (``<data_dir>/qdrant``) as ``data_dir`` and :func:`open_store` adds
another ``qdrant``. Existing indexes live there, so the path stays.
"""

from __future__ import annotations

import logging
from pathlib import Path

from kb.snapshot import SnapshotStore
from kb.store_base import RRF_K, VectorStore, chunk_point_id, doc_point_id
from kb.store_edge import EdgeStore
from kb.store_qdrant import QdrantStore

__all__ = [
    "RRF_K",
    "EdgeStore",
    "QdrantStore",
    "SnapshotStore",
    "VectorStore",
    "chunk_point_id",
    "doc_point_id",
    "open_store",
]

logger = logging.getLogger(__name__)


def open_store(
    data_dir: Path,
    collection: str,
    url: str | None = None,
    api_key: str | None = None,
    timeout_s: float = 10.0,
    retries: int = 3,
) -> VectorStore:
    """Build the configured store.

    Args:
        data_dir: the data directory; Qdrant Edge keeps its files in ``data_dir / "qdrant"``.
        collection: collection name.
        url: a Qdrant server URL; ``None`` selects the embedded Qdrant Edge store.
        api_key: the server's API key, if any.
        timeout_s: per-request timeout for the server.
        retries: retries with exponential backoff before :class:`kb.errors.StoreUnavailable`.

    Returns:
        A store; nothing is created until :meth:`VectorStore.ensure_collection`.
    """
    if url:
        from qdrant_client import QdrantClient  # imported here: commands on the embedded store start faster

        from kb.store_server import QdrantServerStore

        logger.info("using Qdrant server for collection %s", collection)
        # the version check asks the server in a background thread and only warns on a mismatch
        client = QdrantClient(url=url, api_key=api_key, timeout=max(1, round(timeout_s)), check_compatibility=True)
        return QdrantServerStore(client, collection, retries=retries)
    return EdgeStore(Path(data_dir) / "qdrant", collection)
