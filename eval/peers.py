"""Peers on the same data and model, each in its own process: this project, plain LlamaIndex,
BM25 alone and dense alone.

``python -m eval.peers --beir ../shared/benchmarks/beir/scifact`` or ``python -m eval.peers``
(the gold set over corpus/). Each peer runs in a subprocess (``--worker``), so its peak RSS
is its own; ingest time excludes process start and model load (every peer embeds a warm-up
text first); query latency is wall time per query, top 100.

- ``kb``: this project's pipeline (chunking, dense + sparse, RRF in the embedded Qdrant store).
- ``llamaindex``: ``VectorStoreIndex`` in memory with its default ``SentenceSplitter``, the
  same sentence-transformers model behind a thin ``BaseEmbedding`` adapter, same e5 prefixes,
  run in float32 as LlamaIndex's own HuggingFace embedding runs it.
- ``llamaindex-bf16``: the same, with the model in bf16 autocast as this project runs it on a
  CPU with AMX or AVX512-BF16 (``KB_EMBED_PRECISION=auto``): what is left is the pipeline.
- ``bm25``: bm25s over title + text, English stop words and Snowball stemmer.
- ``dense``: our store's ``dense_search`` on the index the ``kb`` peer built (its ingest is that
  index's, so it reports no ingest time of its own).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from eval.beir import evaluate, load_qrels, load_queries
from kb.precision import Precision

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
PEERS = ("kb", "llamaindex", "llamaindex-bf16", "bm25", "dense")
DEPTH = 100


# --- datasets --------------------------------------------------------------------------


def dataset(
    beir: Path | None, corpus: Path, gold: Path | None = None
) -> tuple[list[tuple[str, str]], dict[str, str], dict[str, dict[str, int]]]:
    """(doc id, text) pairs, queries and qrels of a BEIR folder or of the gold set over ``corpus``.

    For BEIR, ``corpus`` is the corpus file (the dataset's own or a subset written by
    :func:`subset_corpus`).
    """
    if beir is not None:
        qrels = load_qrels(beir / "qrels" / "test.tsv")
        queries = load_queries(beir / "queries.jsonl", set(qrels))
        docs = []
        for line in corpus.read_text(encoding="utf-8").splitlines():
            if line.strip():
                r = json.loads(line)
                title = (r.get("title") or "").strip()
                docs.append((str(r["_id"]), f"{title}\n\n{r['text']}" if title else r["text"]))
        return docs, queries, qrels
    from eval.domain import corpus_texts
    from eval.gold import load_gold

    items = [i for i in (load_gold(gold) if gold else load_gold()) if i.answerable]
    texts = corpus_texts([corpus])
    return list(texts.items()), {i.id: i.question for i in items}, {i.id: i.qrels() for i in items}


def subset_corpus(beir: Path, max_docs: int, dest: Path) -> Path:
    """Write the judged documents plus the first others in corpus order, ``max_docs`` in all."""
    judged = {d for docs in load_qrels(beir / "qrels" / "test.tsv").values() for d in docs}
    lines = [line for line in (beir / "corpus.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    keep, others = [], max_docs - len(judged)
    for line in lines:
        doc_id = str(json.loads(line)["_id"])
        if doc_id in judged:
            keep.append(line)
        elif others > 0:
            keep.append(line)
            others -= 1
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text("\n".join(keep) + "\n", encoding="utf-8")
    return dest


# --- workers ---------------------------------------------------------------------------


def _kb(index_dir: Path, models: Path, collection: str) -> Any:
    from kb.service import KnowledgeBase
    from kb.settings import Settings

    index_dir.mkdir(parents=True, exist_ok=True)
    models.mkdir(parents=True, exist_ok=True)  # a fresh data dir: the link must not dangle
    link = index_dir / "models"
    if not link.exists():
        link.unlink(missing_ok=True)  # a dangling link from an earlier run
        link.symlink_to(models.resolve(), target_is_directory=True)
    return KnowledgeBase(Settings(data_dir=index_dir, collection=collection)).open()


def worker(
    peer: str, beir: Path | None, corpus: Path, index_dir: Path, models: Path, gold: Path | None = None
) -> dict[str, Any]:
    """Run one peer: build its index, run every query; return quality, times and peak RSS."""
    docs, queries, qrels = dataset(beir, corpus, gold)
    ingest_s: float | None = None
    if peer in ("kb", "dense"):
        kb = _kb(index_dir, models, "peer")
        kb.embedder.embed_passages(["warm-up"])
        if peer == "kb":
            started = time.perf_counter()
            kb.indexer().ingest([corpus])
            ingest_s = time.perf_counter() - started

            def search(text: str) -> list[str]:
                return [h.chunk.doc_id for h in kb.retriever.search(text, k=DEPTH).hits]

        else:
            from kb.models import SearchFilters

            def search(text: str) -> list[str]:
                vec = kb.embedder.embed_queries([text])[0]
                return [h.chunk.doc_id for h in kb.store.dense_search(vec, SearchFilters(), limit=DEPTH)]

    elif peer in ("llamaindex", "llamaindex-bf16"):
        search, ingest_s = _llamaindex(docs, models, "bfloat16" if peer == "llamaindex-bf16" else "float32")
    elif peer == "bm25":
        search, ingest_s = _bm25(docs)
    else:
        raise ValueError(f"unknown peer {peer}")
    result = evaluate(search, queries, qrels)
    result["ingest_seconds"] = round(ingest_s, 1) if ingest_s is not None else None
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return result


def _llamaindex(docs: list[tuple[str, str]], models: Path, precision: Precision) -> tuple[Any, float]:
    from llama_index.core import Document, VectorStoreIndex
    from llama_index.core.embeddings import BaseEmbedding
    from pydantic import PrivateAttr

    from kb.embed import load_embedder
    from kb.settings import DEFAULT_MODEL

    class KbEmbedding(BaseEmbedding):
        """LlamaIndex adapter around the project's sentence-transformers embedder."""

        _inner: Any = PrivateAttr()

        def __init__(self, inner: Any, **kwargs: Any) -> None:
            super().__init__(model_name=inner.model_id, embed_batch_size=32, **kwargs)
            self._inner = inner

        def _get_query_embedding(self, query: str) -> list[float]:
            return [float(x) for x in self._inner.embed_queries([query])[0]]

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._get_query_embedding(query)

        def _get_text_embedding(self, text: str) -> list[float]:
            return [float(x) for x in self._inner.embed_passages([text])[0]]

        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            return [[float(x) for x in row] for row in self._inner.embed_passages(texts)]

    embed = KbEmbedding(load_embedder(DEFAULT_MODEL, models, precision=precision))
    embed.get_text_embedding("warm-up")
    started = time.perf_counter()
    index = VectorStoreIndex.from_documents([Document(text=t, id_=d) for d, t in docs], embed_model=embed)
    ingest_s = time.perf_counter() - started
    retriever = index.as_retriever(similarity_top_k=DEPTH)

    def search(text: str) -> list[str]:
        return [n.node.ref_doc_id or "" for n in retriever.retrieve(text)]

    return search, ingest_s


def _bm25(docs: list[tuple[str, str]]) -> tuple[Any, float]:
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    started = time.perf_counter()
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize([t for _, t in docs], stopwords="en", stemmer=stemmer, show_progress=False))
    ingest_s = time.perf_counter() - started
    ids = [d for d, _ in docs]

    def search(text: str) -> list[str]:
        tokens = bm25s.tokenize([text], stopwords="en", stemmer=stemmer, show_progress=False)
        found, _ = retriever.retrieve(tokens, k=min(DEPTH, len(ids)), show_progress=False)
        return [ids[int(i)] for i in found[0]]

    return search, ingest_s


# --- orchestration ---------------------------------------------------------------------


def compare(args: argparse.Namespace) -> tuple[str, dict[str, Any], list[str]]:
    """Run every peer in its own process and report figures and ratios to this project's."""
    from eval.report import table

    name = args.name or f"peers-{args.beir.name if args.beir else 'gold'}"
    index_dir = args.data_dir / "peers" / name
    if not args.reuse:
        shutil.rmtree(index_dir, ignore_errors=True)
    corpus = args.corpus
    if args.beir:
        corpus = args.beir / "corpus.jsonl"
        if args.max_docs:
            corpus = subset_corpus(args.beir, args.max_docs, args.data_dir / "peers" / f"{name}-corpus.jsonl")
    results: dict[str, Any] = {}
    for peer in args.peers:
        out = args.data_dir / "peers" / f"{name}-{peer}.json"
        if peer in args.reuse and out.exists():  # a worker result of this same dataset, kept
            results[peer] = json.loads(out.read_text(encoding="utf-8"))
            continue
        cmd = [
            sys.executable,
            "-m",
            "eval.peers",
            "--worker",
            peer,
            "--out",
            str(out),
            "--data-dir",
            str(args.data_dir),
        ]
        cmd += ["--corpus", str(corpus)] + (["--beir", str(args.beir)] if args.beir else [])
        cmd += ["--name", name] + (["--gold", str(args.gold)] if args.gold else [])
        logger.info("running %s", " ".join(cmd))
        started = time.perf_counter()
        subprocess.run(cmd, check=True, cwd=ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        results[peer] = json.loads(out.read_text(encoding="utf-8"))
        results[peer]["wall_seconds"] = round(time.perf_counter() - started, 1)
        logger.info("%s: %s", peer, results[peer]["metrics"])
    if "dense" in results and "kb" in results:
        results["dense"]["ingest_seconds"] = results["kb"]["ingest_seconds"]  # same index
    base = results.get("kb")
    rows: dict[str, dict[str, Any]] = {}
    for peer, r in results.items():
        row = {
            "ndcg@10": r["metrics"].get("ndcg@10"),
            "recall@10": r["metrics"].get("recall@10"),
            "ingest_s": r["ingest_seconds"],
            "p50_ms": r["latency_ms"]["p50"],
            "p95_ms": r["latency_ms"]["p95"],
            "peak_rss_mb": r["peak_rss_mb"],
        }
        if base:
            for key, value in list(row.items()):
                ref = {
                    "ndcg@10": base["metrics"].get("ndcg@10"),
                    "recall@10": base["metrics"].get("recall@10"),
                    "ingest_s": base["ingest_seconds"],
                    "p50_ms": base["latency_ms"]["p50"],
                    "p95_ms": base["latency_ms"]["p95"],
                    "peak_rss_mb": base["peak_rss_mb"],
                }[key]
                row[f"{key} ratio"] = round(value / ref, 3) if value is not None and ref else None
        rows[peer] = row
    docs = len(dataset(args.beir, corpus, args.gold)[0])
    data = {"peers": results, "metrics": rows, "queries": base["queries"] if base else None, "documents": docs}
    columns = ["ndcg@10", "recall@10", "ingest_s", "p50_ms", "p95_ms", "peak_rss_mb"]
    md = [f"# Peers on {name.removeprefix('peers-')}, {docs} documents (ratios are peer / kb)", ""]
    md += table(rows, columns + [f"{c} ratio" for c in columns], "peer")
    return name, data, md


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``--worker PEER`` runs one peer, otherwise every peer is compared."""
    p = argparse.ArgumentParser(prog="python -m eval.peers")
    p.add_argument("--beir", type=Path, default=None)
    p.add_argument("--corpus", type=Path, default=ROOT / "corpus", help="gold corpus folder (worker: corpus file)")
    p.add_argument("--max-docs", type=int, default=None, help="BEIR: judged documents plus others up to N")
    p.add_argument("--data-dir", type=Path, default=Path("data/eval"))
    p.add_argument("--peers", nargs="+", default=list(PEERS), choices=PEERS)
    p.add_argument("--name", default=None)
    p.add_argument("--worker", choices=PEERS, default=None)
    p.add_argument("--gold", type=Path, default=None, help="gold folder (default eval/gold); pin it for a run")
    p.add_argument("--reuse", nargs="*", default=[], choices=PEERS, help="reuse these peers' kept worker results")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    if args.worker:
        index_dir = args.data_dir / "peers" / args.name
        result = worker(args.worker, args.beir, args.corpus, index_dir, args.data_dir / "models", args.gold)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result), encoding="utf-8")
        return 0
    from eval.report import write

    name, data, md = compare(args)
    data["command"] = "python -m eval.peers " + " ".join(argv if argv is not None else sys.argv[1:])
    data["machine"] = {"cpus": os.cpu_count()}
    write(name, data, md)
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    raise SystemExit(main())
