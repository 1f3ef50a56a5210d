"""The knowledge store: one :class:`VectorStore` contract, two backends, one factory.

- :class:`EdgeStore` (default): Qdrant Edge in-process under the data directory.
- :class:`kb.store_server.QdrantServerStore`: a Qdrant server reached with ``KB_QDRANT_URL``.

The Chunk <-> point mapping lives in :mod:`kb.store_base` and nowhere else.
"""

from __future__ import annotations

import logging
from pathlib import Path

from kb.store_base import SnapshotStore, VectorStore, chunk_point_id, doc_point_id
from kb.store_edge import EdgeStore

__all__ = [
    "EdgeStore",
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
        client = QdrantClient(url=url, api_key=api_key, timeout=max(1, round(timeout_s)), check_compatibility=False)
        return QdrantServerStore(client, collection, retries=retries)
    return EdgeStore(Path(data_dir) / "qdrant", collection)
