"""The vector cache in front of the embedder used for queries and answer sentences."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kb.embed import CachingEmbedder, HashEmbedder


class CountingEmbedder(HashEmbedder):
    def __init__(self) -> None:
        super().__init__(dim=32)
        self.seen: list[str] = []

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        self.seen.extend(texts)
        return super().embed_passages(texts)


def test_cache_embeds_each_text_once_and_keeps_order() -> None:
    inner = CountingEmbedder()
    cached = CachingEmbedder(inner, max_items=3)
    first = cached.embed_passages(["a b", "c d", "a b"])
    assert inner.seen == ["a b", "c d"]
    np.testing.assert_allclose(first, inner.embed_passages(["a b", "c d", "a b"]))
    inner.seen.clear()
    cached.embed_passages(["c d", "e f", "g h"])  # "a b" is evicted (least recently used)
    assert inner.seen == ["e f", "g h"]
    inner.seen.clear()
    cached.embed_passages(["a b"])
    assert inner.seen == ["a b"]
    assert cached.embed_passages([]).shape == (0, 32)


def test_queries_and_passages_are_cached_apart() -> None:
    inner = HashEmbedder(dim=16)
    cached = CachingEmbedder(inner)
    q = cached.embed_queries(["green bonds"])
    p = cached.embed_passages(["green bonds"])
    np.testing.assert_allclose(q, inner.embed_queries(["green bonds"]))
    np.testing.assert_allclose(p, inner.embed_passages(["green bonds"]))
