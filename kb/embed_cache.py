"""Embedders that wrap another: ``EmbedderWrapper`` passes calls on, ``CachingEmbedder`` remembers vectors."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from kb.embed_protocol import Embedder


class EmbedderWrapper:
    """An :class:`Embedder` that passes every call to ``inner``; subclasses add behaviour around it."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner

    @property
    def model_id(self) -> str:
        """The wrapped model's identity."""
        return self.inner.model_id

    @property
    def dim(self) -> int:
        """The wrapped model's dimension."""
        return self.inner.dim

    @property
    def max_tokens(self) -> int:
        """The wrapped model's token limit."""
        return self.inner.max_tokens

    def count_tokens(self, text: str) -> int:
        """Tokens the wrapped model sees for a passage."""
        return self.inner.count_tokens(text)

    def load(self) -> None:
        """Load the wrapped model."""
        self.inner.load()

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Passage vectors from the wrapped model."""
        return self.inner.embed_passages(texts)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Query vectors from the wrapped model."""
        return self.inner.embed_queries(texts)


class CachingEmbedder(EmbedderWrapper):
    """Wraps an embedder and remembers passage and query vectors by text (bounded LRU).

    Answers and speaker finding embed the sentences of the chunks they read; popular chunks
    come back again and again, so a cache removes most of that work. Thread-safe.
    """

    def __init__(self, inner: Embedder, max_items: int = 50_000) -> None:
        super().__init__(inner)
        self.max_items = max_items
        self._cache: OrderedDict[tuple[bool, str], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def clear_cache(self) -> None:
        """Forget every remembered vector (benchmarks time the model, not the cache)."""
        with self._lock:
            self._cache.clear()

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Passage vectors, computed only for texts not seen recently."""
        return self._embed(texts, query=False)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Query vectors, computed only for texts not seen recently."""
        return self._embed(texts, query=True)

    def _embed(self, texts: Sequence[str], *, query: bool) -> np.ndarray:
        keys = [(query, t) for t in texts]
        with self._lock:
            found = {k: self._cache[k] for k in keys if k in self._cache}
            for k in found:
                self._cache.move_to_end(k)
        missing = list(dict.fromkeys(k for k in keys if k not in found))
        if missing:
            embed = self.inner.embed_queries if query else self.inner.embed_passages
            vectors = embed([t for _, t in missing])
            with self._lock:
                for k, v in zip(missing, vectors, strict=True):
                    found[k] = v
                    self._cache[k] = v
                while len(self._cache) > self.max_items:
                    self._cache.popitem(last=False)
        if not keys:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([found[k] for k in keys]).astype(np.float32, copy=False)
