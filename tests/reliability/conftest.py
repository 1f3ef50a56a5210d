"""Helpers for reliability tests: generated folders, ``kb`` in a subprocess, and index checks."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from kb.models import SearchFilters
from kb.settings import Settings
from kb.store import open_store

REPO = Path(__file__).resolve().parents[2]
COLLECTION = "capacities"
WORDS = [
    "city",
    "climate",
    "contract",
    "neutral",
    "mission",
    "energy",
    "renovation",
    "mobility",
    "finance",
    "budget",
    "bond",
    "citizen",
    "platform",
    "ministry",
    "region",
    "transition",
    "governance",
    "heating",
    "transport",
    "emission",
    "inventory",
    "plan",
    "investment",
    "district",
    "waste",
    "water",
    "green",
    "public",
    "procurement",
    "monitoring",
    "indicator",
    "pilot",
]


def generate_folder(root: Path, n: int = 30, paragraphs: int = 40, seed: int = 7) -> Path:
    """Write ``n`` Markdown documents of a few hundred words per paragraph, deterministically."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        lines = [f"# Guide {i} on climate-neutral cities", ""]
        for p in range(paragraphs):
            if p % 8 == 0:
                lines += [f"## Section {p // 8}", ""]
            words = [rng.choice(WORDS) for _ in range(60)]
            lines += [f"Paragraph {p} of guide {i}: " + " ".join(words) + ".", ""]
        (root / f"guide-{i:02d}.md").write_text("\n".join(lines), encoding="utf-8")
    return root


def kb_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """Environment for a ``kb`` subprocess on ``data_dir`` with the hash embedder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KB_")}
    env.update({"KB_DATA_DIR": str(data_dir), "KB_EMBED_MODEL": "hash", "PYTHONPATH": str(REPO)})
    env.update(extra)
    return env


def run_kb(args: list[str], data_dir: Path, timeout: float = 120, **extra: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m cli ARGS`` to completion and return its output."""
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        cwd=REPO,
        env=kb_env(data_dir, **extra),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass
class IndexState:
    """What an Edge store holds, reduced to what crash tests compare."""

    chunk_ids: set[str]
    chunk_count: int
    registry: dict[str, tuple[str, int]]  # doc_id -> (content_sha256, chunk_count)
    chunks_by_doc: dict[str, list[tuple[str, str]]]  # doc_id -> [(chunk_id, content_sha256)]


def read_state(data_dir: Path) -> IndexState:
    """Open the Edge store under ``data_dir`` read-only in spirit and collect its contents."""
    store = open_store(Settings(_env_file=None, data_dir=data_dir).store_dir, COLLECTION)  # type: ignore[call-arg]
    try:
        total = store.count_documents(SearchFilters())
        records = store.list_documents(SearchFilters(), limit=max(total, 1), offset=0)
        registry = {r.doc_id: (r.content_sha256, r.chunk_count) for r in records}
        ids = store.chunk_ids()
        by_doc: dict[str, list[tuple[str, str]]] = {}
        known: set[str] = set()
        for doc_id in registry:
            chunks = store.get_chunks(doc_id)
            by_doc[doc_id] = [(c.chunk_id, c.content_sha256) for c in chunks]
            known.update(c.chunk_id for c in chunks)
        by_doc["<orphans>"] = [(cid, "") for cid in sorted(ids - known)]
        return IndexState(ids, store.count_chunks(), registry, by_doc)
    finally:
        store.close()


def assert_consistent(state: IndexState) -> None:
    """No duplicates, no orphans, and every document is exactly one complete version."""
    assert state.chunk_count == len(state.chunk_ids), "duplicate or unnamed chunks"
    assert state.chunks_by_doc["<orphans>"] == [], "chunks of documents missing from the registry"
    for doc_id, (sha, count) in state.registry.items():
        chunks = state.chunks_by_doc[doc_id]
        shas = {s for _, s in chunks}
        assert shas == {sha}, f"{doc_id}: chunks of versions {shas}, registry says {sha}"
        assert len(chunks) == count, f"{doc_id}: {len(chunks)} chunks stored, registry says {count}"


from tests.api.conftest import make_client  # noqa: E402, F401  (the API fixtures, shared)
