"""XQuAD-R as question -> paragraph retrieval, monolingual and over a multilingual pool.

Each paragraph becomes one document ``<paragraph id>-<language>``; the paragraph id is the
id of its first question, which XQuAD shares across languages. Runs:

- ``mono``: questions in a language against that language's paragraphs (language filter);
- ``to_en``: questions in a language against the English paragraphs;
- ``pool``: questions against every paragraph of every pooled language, where any
  translation of the right paragraph is relevant; once with hybrid search, once dense only.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from ir_measures import Success

from eval.beir import evaluate
from eval.metrics import RETRIEVAL_MEASURES
from kb.models import SearchFilters

logger = logging.getLogger(__name__)

POOL = ("de", "el", "en", "es", "ru", "tr")
DEPTH = 100
MEASURES = {**RETRIEVAL_MEASURES, "success@1": Success @ 1, "success@10": Success @ 10}


def paragraphs(folder: Path, lang: str) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(paragraph id, context, [(question id, question)]) for one language, in file order."""
    data = json.loads((folder / f"{lang}.json").read_text(encoding="utf-8"))
    out = []
    for article in data["data"]:
        for p in article["paragraphs"]:
            qas = [(qa["id"], qa["question"]) for qa in p["qas"]]
            out.append((qas[0][0], p["context"], qas))
    return out


def write_pool(folder: Path, langs: tuple[str, ...], dest: Path) -> Path:
    """Write the pooled paragraphs as a JSONL collection (outside the repository) for ingestion."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        json.dumps({"_id": f"{pid}-{lang}", "text": context, "language": lang}, ensure_ascii=False)
        for lang in langs
        for pid, context, _ in paragraphs(folder, lang)
    ]
    text = "\n".join(lines) + "\n"
    if not dest.exists() or dest.read_text(encoding="utf-8") != text:
        dest.write_text(text, encoding="utf-8")
    return dest


def run_xquad(
    kb: Any, folder: Path, work: Path, per_language: int = 200, langs: tuple[str, ...] = POOL
) -> dict[str, Any]:
    """Ingest the pool and evaluate the first ``per_language`` questions of each language."""
    pool_file = write_pool(folder, langs, work / f"xquad-{'-'.join(langs)}.jsonl")
    summary = kb.indexer().ingest([pool_file])
    logger.info("xquad pool: %s added, %s unchanged", summary.added, summary.unchanged)
    questions: dict[str, list[tuple[str, str, str]]] = {}
    for lang in langs:
        qs = [(qid, q, pid) for pid, _, qas in paragraphs(folder, lang) for qid, q in qas]
        questions[lang] = qs[:per_language]

    def hybrid(filters: SearchFilters | None) -> Any:
        return lambda text: [h.chunk.doc_id for h in kb.retriever.search(text, filters, k=DEPTH).hits]

    def dense(text: str) -> list[str]:
        vec = kb.embedder.embed_queries([text])[0]
        return [h.chunk.doc_id for h in kb.store.dense_search(vec, SearchFilters(), limit=DEPTH)]

    runs: dict[str, Any] = {}
    for lang in langs:
        qs = questions[lang]
        texts = {qid: q for qid, q, _ in qs}
        mono = {qid: {f"{pid}-{lang}": 1} for qid, _, pid in qs}
        runs[f"{lang}->{lang}"] = evaluate(hybrid(SearchFilters(language=[lang])), texts, mono, MEASURES)
        if lang != "en" and "en" in langs:
            to_en = {qid: {f"{pid}-en": 1} for qid, _, pid in qs}
            runs[f"{lang}->en"] = evaluate(hybrid(SearchFilters(language=["en"])), texts, to_en, MEASURES)
        pooled = {qid: {f"{pid}-{lg}": 1 for lg in langs} for qid, _, pid in qs}
        runs[f"{lang}->pool"] = evaluate(hybrid(None), texts, pooled, MEASURES)
        runs[f"{lang}->pool (dense only)"] = evaluate(dense, texts, pooled, MEASURES)
        logger.info("xquad %s done", lang)
    return {
        "pool_languages": list(langs),
        "questions_per_language": per_language,
        "paragraphs": len(langs) * 240,
        "metrics": {name: r["metrics"] for name, r in runs.items()},
        "latency_ms": {name: r["latency_ms"] for name, r in runs.items()},
    }
