"""Run a real ingest and park the process right after its N-th store write, for kill -9 tests.

    python tests/reliability/crash_driver.py DATA_DIR FOLDER STOP_AT

Every write the indexer makes to the store's shards (chunk upserts, registry records,
deletions: each one a write-ahead-log entry) is reported on stdout as ``WRITE <n>`` once it
has returned. After write
``STOP_AT`` the process sleeps (at most 60 s) so the test can kill it at exactly that point.
Nothing in the product is changed: the wrapper only observes the real shards' calls. Chunks
go to the store in batches of 32 instead of 256, so a small document takes several writes.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import kb.store_edge
from kb.service import KnowledgeBase
from kb.settings import Settings
from kb.store_edge import EdgeStore


class _Spy:
    """A shard that reports each ``update`` (one WAL write) after it returned."""

    def __init__(self, shard: Any, on_write: Any) -> None:
        self._shard = shard
        self._on_write = on_write

    def update(self, op: Any) -> Any:
        result = self._shard.update(op)
        self._on_write()
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._shard, name)


def main(data_dir: Path, folder: Path, stop_at: int) -> None:
    """Ingest ``folder`` into ``data_dir`` with the hash embedder, parking after write ``stop_at``."""
    count = 0

    def on_write() -> None:
        nonlocal count
        count += 1
        print(f"WRITE {count}", flush=True)
        if count == stop_at:
            time.sleep(60)

    shards = EdgeStore._shards

    def spied(self: EdgeStore) -> tuple[Any, Any]:
        chunks, docs = shards(self)
        return _Spy(chunks, on_write), _Spy(docs, on_write)

    EdgeStore._shards = spied  # type: ignore[method-assign]
    kb.store_edge.UPSERT_BATCH = 32
    settings = Settings(_env_file=None, data_dir=data_dir, embed_model="hash")  # type: ignore[call-arg]
    base = KnowledgeBase(settings)
    try:
        summary = base.indexer().ingest([folder])
    finally:
        base.close()
    print(f"DONE {summary.added} {summary.updated} {summary.unchanged}", flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]))
