"""The domain gold set over corpus/: retrieval, answers, speakers, comparisons, calibration."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eval.gold import GoldItem, language_pair, load_gold
from eval.metrics import (
    RETRIEVAL_MEASURES,
    SPEAKER_MEASURES,
    aggregate,
    contains_fact,
    first_occurrence,
    per_query,
    percentile,
    person_key,
)
from ingest.registry import iter_files, load_path
from kb.answer import sentence_candidates
from kb.models import Answer, Hit

logger = logging.getLogger(__name__)

RETRIEVAL_DEPTH = 100
ANSWER_METRICS = ["fact_recall", "false_refusal", "refusal_accuracy"]
SPEAKER_METRICS = list(SPEAKER_MEASURES)
COMPARE_METRICS = ["country_evidence"]
ALL_METRICS = [*RETRIEVAL_MEASURES, *ANSWER_METRICS, *SPEAKER_METRICS, *COMPARE_METRICS]


def corpus_texts(paths: Sequence[Path]) -> dict[str, str]:
    """Document id -> full text, parsed the way the indexer parses them (for citation checks)."""
    texts: dict[str, str] = {}
    for item in iter_files(list(paths)):
        if not isinstance(item, Path):
            continue
        for doc in load_path(item, max_bytes=50 * 2**20, max_unzipped_bytes=300 * 2**20).docs:
            texts[doc.doc_id] = doc.text
    return texts


def citation_counts(answer: Answer, texts: dict[str, str]) -> tuple[int, int]:
    """(citations whose quote equals the document text at their span, citations)."""
    ok = 0
    for c in answer.citations:
        text = texts.get(c.doc_id)
        if text is not None and text[c.span.start : c.span.end] == c.quote:
            ok += 1
    return ok, len(answer.citations)


@dataclass
class DomainEval:
    """Runs the gold questions against an opened :class:`kb.service.KnowledgeBase`.

    Attributes:
        kb: The knowledge base, already holding the corpus.
        texts: Document id -> text, for citation support.
        fast: Retrieval, refusal and citation support only (no speakers, comparisons, calibration).
    """

    kb: Any
    texts: dict[str, str]
    fast: bool = False

    def run(self, items: Sequence[GoldItem]) -> dict[str, Any]:
        """Evaluate every item; return metrics (overall, by kind, by language pair) and per-question rows."""
        doc_lang = {d: self._doc_language(d) for it in items for d in it.qrels()}
        rows: list[dict[str, Any]] = []
        retrieval_rows = self._retrieval([it for it in items if it.answerable])
        latencies: list[float] = []
        for it in items:
            row: dict[str, Any] = {"id": it.id, "kind": it.kind, "pair": language_pair(it, doc_lang)}
            row.update(retrieval_rows.get(it.id, {}))
            started = time.perf_counter()
            hits = self.kb.answerer.retrieve(it.question)
            answer = self.kb.answerer.answer_from_hits(it.question, hits, started)
            latencies.append((time.perf_counter() - started) * 1000)
            refused = not answer.evidence
            if it.answerable:
                row["false_refusal"] = float(refused)
                if it.facts:
                    row["fact_recall"] = float(contains_fact(answer.answer, it.facts))
            else:
                row["refusal_accuracy"] = float(refused)
            row["citations_ok"], row["citations_total"] = citation_counts(answer, self.texts)
            if not self.fast:
                row["best_similarity"] = self._best_similarity(it.question, hits)
                if it.kind == "speakers" and it.speakers:
                    row.update(self._speakers(it))
                if it.kind == "comparison" and it.countries:
                    row["country_evidence"] = self._compare(it)
            rows.append(row)
            logger.debug("%s done", it.id)
        result: dict[str, Any] = {
            "questions": len(items),
            "metrics": aggregate(rows, ALL_METRICS, by=("kind", "pair")),
            "answer_latency_ms": {
                "p50": round(percentile(latencies, 50), 1),
                "p95": round(percentile(latencies, 95), 1),
            },
            "rows": rows,
        }
        if not self.fast:
            result["calibration"] = calibrate(rows, self.kb.answerer.min_score)
        return result

    def _retrieval(self, items: Sequence[GoldItem]) -> dict[str, dict[str, float]]:
        qrels = {it.id: it.qrels() for it in items}
        run: dict[str, list[str]] = {}
        for it in items:
            hits = self.kb.retriever.search(it.question, k=RETRIEVAL_DEPTH).hits
            run[it.id] = first_occurrence(h.chunk.doc_id for h in hits)
        return per_query(qrels, run)

    def _speakers(self, it: GoldItem) -> dict[str, float]:
        found = self.kb.speakers.find(it.question, limit=10).speakers
        ranked = first_occurrence(person_key(s.name) for s in found)
        qrels = {it.id: {person_key(n): 1 for n in it.speakers}}
        return per_query(qrels, {it.id: ranked}, SPEAKER_MEASURES)[it.id]

    def _compare(self, it: GoldItem) -> float:
        comparison = self.kb.answerer.compare(it.question, list(it.countries))
        with_evidence = {r.country for r in comparison.rows if r.evidence}
        return sum(c.upper() in with_evidence for c in it.countries) / len(it.countries)

    def _best_similarity(self, question: str, hits: Sequence[Hit]) -> float | None:
        """Best query-sentence similarity over the sentences the answerer read for ``hits``."""
        sentences = [c.text for rank, hit in enumerate(hits) for c in sentence_candidates(rank, hit)]
        if not sentences:
            return None
        q = self.kb.embedder.embed_queries([question])[0]
        return round(float((self.kb.embedder.embed_passages(sentences) @ q).max()), 4)

    def _doc_language(self, doc_id: str) -> str | None:
        record = self.kb.store.get_document(doc_id)
        return record.language if record is not None else None


def calibrate(rows: Sequence[dict[str, Any]], current: float) -> dict[str, Any]:
    """Distribution of the best sentence similarity and the threshold that refuses best.

    Refusal accuracy at threshold t is the share of unanswerable questions whose best
    similarity is below t. Fact recall at t is estimated as the share of answerable questions
    with facts whose answer (at the current threshold) held a fact and whose best similarity
    reaches t. The suggestion maximises refusal accuracy among thresholds that keep the fact
    recall measured at the current threshold; ties go to the value nearest the current one.
    """
    ans = [r for r in rows if r.get("best_similarity") is not None and r["kind"] != "unanswerable"]
    una = [r for r in rows if r.get("best_similarity") is not None and r["kind"] == "unanswerable"]
    if not ans or not una:
        return {}
    with_facts = [r for r in ans if "fact_recall" in r]

    def at(t: float) -> tuple[float, float, float]:
        refusal = float(np.mean([r["best_similarity"] < t for r in una]))
        facts = float(np.mean([r["fact_recall"] == 1.0 and r["best_similarity"] >= t for r in with_facts]))
        false_refusal = float(np.mean([r["best_similarity"] < t for r in ans]))
        return refusal, facts, false_refusal

    base = at(current)
    grid = sorted({round(x, 3) for x in np.arange(0.70, 0.92, 0.0025)} | {current})
    best = current
    for t in grid:
        refusal, facts, _ = at(t)
        b_refusal = at(best)[0]
        nearer = abs(t - current) < abs(best - current)
        if facts >= base[1] and (refusal > b_refusal or (refusal == b_refusal and nearer)):
            best = t

    def dist(values: list[float]) -> dict[str, float]:
        return {f"p{q}": round(float(np.percentile(values, q)), 4) for q in (0, 10, 25, 50, 75, 90, 100)}

    suggested = at(best)
    return {
        "current_threshold": current,
        "answerable": dist([r["best_similarity"] for r in ans]),
        "unanswerable": dist([r["best_similarity"] for r in una]),
        "at_current": {
            "refusal_accuracy": round(base[0], 4),
            "fact_recall": round(base[1], 4),
            "false_refusal": round(base[2], 4),
        },
        "suggested_threshold": best,
        "at_suggested": {
            "refusal_accuracy": round(suggested[0], 4),
            "fact_recall": round(suggested[1], 4),
            "false_refusal": round(suggested[2], 4),
        },
        "sweep": [
            {"t": t, "refusal_accuracy": round(a, 4), "fact_recall": round(f, 4), "false_refusal": round(fr, 4)}
            for t in grid[::4]
            for a, f, fr in [at(t)]
        ],
    }


def gold_items(folder: Path | None = None) -> list[GoldItem]:
    """The gold questions (from ``folder`` or eval/gold)."""
    return load_gold(folder) if folder else load_gold()
