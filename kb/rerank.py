"""Optional second-stage reranking with a cross-encoder (off by default: none ships offline)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from kb.errors import ModelLoadError
from kb.precision import Precision, autocast, use_bf16

logger = logging.getLogger(__name__)


class Reranker(Protocol):
    """Scores (query, passage) pairs; higher is more relevant."""

    def score(self, query: str, passages: Sequence[str]) -> list[float]:
        """Return one relevance score per passage."""
        ...


class CrossEncoderReranker:
    """A sentence-transformers cross-encoder loaded from a name or a local path, offline.

    ``precision`` is ``KB_EMBED_PRECISION`` (:mod:`kb.precision`), as for the other models.
    """

    def __init__(self, name_or_path: str, batch_size: int = 16, precision: Precision = "auto") -> None:
        self.name_or_path = name_or_path
        self.batch_size = batch_size
        self.bf16 = use_bf16(precision)
        self._model: Any = None

    def _load(self) -> Any:
        if self._model is None:
            from sentence_transformers import CrossEncoder

            try:
                self._model = CrossEncoder(self.name_or_path, device="cpu", local_files_only=True)
            except Exception as exc:
                where = Path(self.name_or_path)
                hint = "check the path" if where.exists() else "give a local path (no downloads here)"
                raise ModelLoadError(
                    f"cannot load reranker {self.name_or_path!r}: {exc.__class__.__name__}; {hint}"
                ) from exc
        return self._model

    def score(self, query: str, passages: Sequence[str]) -> list[float]:
        """Score passages against the query with the cross-encoder."""
        if not passages:
            return []
        model = self._load()
        with autocast(self.bf16):
            scores = model.predict([(query, p) for p in passages], batch_size=self.batch_size)
        return [float(s) for s in scores]
