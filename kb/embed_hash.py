"""``HashEmbedder``: the deterministic fake embedder for tests (no model, no randomness)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

from kb.model_registry import HASH, HASH_DIM, HASH_MAX_TOKENS

_WORD = re.compile(r"\w+", re.UNICODE)
_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)


class HashEmbedder:
    """Deterministic fake for tests: hashed word and character-trigram features.

    Texts sharing words get similar vectors; no model, no randomness, no state. Its entry
    in :mod:`kb.model_registry` is ``hash`` (``hash:<dim>`` picks the dimension).

    Args:
        dim: Number of hash buckets, i.e. the vector dimension.
    """

    def __init__(self, dim: int = HASH_DIM) -> None:
        self._dim = dim

    @property
    def model_id(self) -> str:
        """Identity stored with the collection."""
        return f"{HASH.id}-{self._dim}"

    @property
    def dim(self) -> int:
        """Vector dimension."""
        return self._dim

    @property
    def max_tokens(self) -> int:
        """Same limit as e5, so chunking behaves alike in tests."""
        return HASH_MAX_TOKENS

    def _bucket(self, feature: str) -> tuple[int, float]:
        digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
        value = int.from_bytes(digest, "little")
        return value % self._dim, 1.0 if value >> 63 else -1.0

    def _vector(self, text: str) -> np.ndarray:
        vector = np.zeros(self._dim, dtype=np.float32)
        for word in _WORD.findall(text.lower()):
            index, sign = self._bucket("w:" + word)
            vector[index] += sign
            padded = f" {word} "
            for i in range(len(padded) - 2):
                index, sign = self._bucket("t:" + padded[i : i + 3])
                vector[index] += 0.5 * sign
        norm = float(np.linalg.norm(vector))
        if norm == 0.0:  # no word at all: a fixed unit vector keeps the output normalised
            vector[self._bucket("empty")[0]] = 1.0
            return vector
        return vector / norm

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        return np.stack([self._vector(text) for text in texts]).astype(np.float32)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Embed documents."""
        return self._embed(texts)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embed queries (same features as passages)."""
        return self._embed(texts)

    def count_tokens(self, text: str) -> int:
        """Words and punctuation marks, plus two special tokens."""
        return len(_TOKEN.findall(text)) + 2

    def load(self) -> None:
        """Nothing to load."""
