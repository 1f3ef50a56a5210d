"""The optional reranker, tested mechanically: a tiny cross-encoder built here, and a fake."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from kb.errors import ModelLoadError
from kb.rerank import CrossEncoderReranker
from kb.retrieve import rerank
from tests.unit.kb.hits import make_hit


class LengthReranker:
    """Scores longer passages higher: an order nothing else would produce."""

    def score(self, query: str, passages: Sequence[str]) -> list[float]:
        return [float(len(p)) for p in passages]


def test_rerank_reorders_the_head_and_records_the_stage_score() -> None:
    hits = [
        make_hit("a", "short", 0.9),
        make_hit("b", "a much longer passage", 0.8),
        make_hit("c", "mid size", 0.7),
        make_hit("d", "tail", 0.1),
    ]
    out = rerank(LengthReranker(), "q", hits, top=3)
    assert [h.chunk.chunk_id for h in out] == ["b", "c", "a", "d"]
    assert out[0].stages.rerank == float(len("a much longer passage"))
    assert out[-1].stages.rerank is None  # below the reranked head: untouched


@pytest.fixture(scope="module")
def tiny_cross_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-ce")
    vocab = {
        t: i
        for i, t in enumerate(
            ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "green", "bonds", "city", "cities", "finance"]
        )
    }
    raw = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]"))
    raw.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=raw,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        num_labels=1,
    )
    BertForSequenceClassification(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def test_cross_encoder_scores_every_passage(tiny_cross_encoder: Path) -> None:
    reranker = CrossEncoderReranker(str(tiny_cross_encoder))
    scores = reranker.score("green bonds", ["city finance", "green bonds for cities", "bonds"])
    assert len(scores) == 3 and all(isinstance(s, float) for s in scores)
    assert scores == reranker.score("green bonds", ["city finance", "green bonds for cities", "bonds"])
    assert reranker.score("green bonds", []) == []


def test_missing_reranker_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="cannot load reranker"):
        CrossEncoderReranker(str(tmp_path / "nowhere")).score("q", ["p"])
