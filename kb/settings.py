"""The project's only settings object, read from ``KB_`` environment variables.

Only composition roots (the CLI, the API and eval) read it; everything else takes plain
arguments.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from kb.model_registry import DEFAULT_MODEL
from kb.precision import Precision

__all__ = ["DEFAULT_MODEL", "Settings", "get_settings"]


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Configuration of capacities-kb. Each field maps to ``KB_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="KB_", env_file=".env", extra="ignore")

    # storage
    data_dir: Path = Path("data")
    collection: str = "capacities"
    qdrant_url: str | None = None
    qdrant_api_key: str | None = None
    qdrant_timeout_s: float = 10.0
    qdrant_retries: int = 3

    # ingestion
    chunk_tokens: int = Field(default=320, ge=32, le=500)
    chunk_overlap: int = Field(default=40, ge=0, le=200)
    max_file_mb: float = Field(default=50.0, gt=0)
    max_unzipped_mb: float = Field(default=300.0, gt=0)

    # embeddings; per-model settings (prefixes, thresholds) live in kb.model_registry
    embed_model: str = DEFAULT_MODEL
    model_cache_dir: Path | None = None
    # texts per forward pass: 8 pads least (the fastest on corpus/ in both precisions, docs/benchmarks.md)
    embed_batch_size: int = Field(default=8, ge=1)
    embed_threads: int | None = None
    # auto: bf16 autocast where the CPU has AMX or AVX512-BF16 (every model: embedder, reader)
    embed_precision: Precision = "auto"

    # retrieval
    search_k: int = Field(default=10, ge=1, le=200)
    prefetch_dense: int = Field(default=60, ge=1)
    prefetch_sparse: int = Field(default=60, ge=1)
    dedupe_threshold: float = Field(default=0.97, ge=0.5, le=1.0)
    rerank_model: str | None = None
    rerank_top: int = Field(default=30, ge=1)

    # answers
    answer_sentences: int = Field(default=7, ge=1, le=20)
    answer_hits: int = Field(default=8, ge=1, le=50)
    answer_mmr_lambda: float = Field(default=0.7, ge=0.0, le=1.0)
    answer_min_score: float | None = None
    reader: bool | None = None
    answer_min_probability: float = Field(default=0.0, ge=0.0, le=1.0)

    # optional generation
    llm_url: str | None = None
    llm_model: str | None = None
    llm_api_key: str | None = None
    llm_timeout_s: float = 60.0

    # api
    api_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    read_api_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    rate_limit_ask: str = "60/minute"
    rate_limit_upload: str = "20/minute"
    host: str = "127.0.0.1"
    port: int = 8000
    # folders whose files GET /documents/{id}/file may serve (besides files_dir)
    corpus_dirs: Annotated[list[Path], NoDecode] = Field(default_factory=lambda: [Path("corpus")])

    @field_validator("api_keys", "read_api_keys", "cors_origins", "corpus_dirs", mode="before")
    @classmethod
    def _csv(cls, value: object) -> object:
        return _split_csv(value)

    @property
    def models_dir(self) -> Path:
        """Where converted embedding models are cached (``KB_MODEL_CACHE_DIR`` or the data dir)."""
        return self.model_cache_dir or self.data_dir / "models"

    @property
    def store_dir(self) -> Path:
        """Where the embedded Qdrant store keeps its files."""
        return self.data_dir / "qdrant"

    @property
    def files_dir(self) -> Path:
        """Where uploaded originals are kept, named by content hash."""
        return self.data_dir / "files"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings, read once."""
    return Settings()
