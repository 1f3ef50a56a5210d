"""The domain gold set over corpus/: retrieval, answers, speakers, comparisons, calibration."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from eval.gold import GoldItem, language_pair, load_gold
from eval.metrics import (
    RETRIEVAL_MEASURES,
    SPEAKER_MEASURES,
    SPEAKER_NO_ROLE_MEASURES,
    aggregate,
    contains_fact,
    first_occurrence,
    per_query,
    percentile,
)
from ingest.registry import iter_files, load_path
from kb.models import Answer, Hit
from kb.sentences import sentence_candidates
from kb.speakers import name_key

logger = logging.getLogger(__name__)

RETRIEVAL_DEPTH = 100
ANSWER_METRICS = ["fact_recall", "false_refusal", "refusal_accuracy"]
SPEAKER_METRICS = [*SPEAKER_MEASURES, *SPEAKER_NO_ROLE_MEASURES]
# country_evidence: expected countries whose row has evidence; foreign_rows: rows with evidence
# that cite a passage not about their country (target 0).
COMPARE_METRICS = ["country_evidence", "foreign_rows"]
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
    _roleless: Any = field(default=None, init=False, repr=False)

    def run(self, items: Sequence[GoldItem]) -> dict[str, Any]:
        """Evaluate every item; return metrics (overall, by kind, by language pair) and per-question rows."""
        doc_lang = {d: self._doc_language(d) for it in items for d in it.qrels()}
        rows: list[dict[str, Any]] = []
        retrieval_rows = self._retrieval([it for it in items if it.answerable])
        latencies: list[float] = []
        for it in items:
            row: dict[str, Any] = {"id": it.id, "kind": it.kind, "part": it.part, "pair": language_pair(it, doc_lang)}
            row.update(retrieval_rows.get(it.id, {}))
            started = time.perf_counter()
            hits = self.kb.answerer.retrieve(it.question)
            answer = self.kb.answerer.answer_from_hits(it.question, hits, started)
            latencies.append((time.perf_counter() - started) * 1000)
            refused = not answer.evidence
            row["confidence"] = answer.confidence
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
                    row.update(self._compare(it))
            rows.append(row)
            logger.debug("%s done", it.id)
        result: dict[str, Any] = {
            "questions": len(items),
            "metrics": aggregate(rows, ALL_METRICS, by=("kind", "pair", "part")),
            "answer_latency_ms": {
                "p50": round(percentile(latencies, 50), 1),
                "p95": round(percentile(latencies, 95), 1),
            },
            "rows": rows,
        }
        if self.kb.answerer.reader is not None:
            result["calibration"] = calibrate(rows, self.kb.answerer.min_probability, key="confidence")
        elif not self.fast:
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
        """Speaker ranking measures, and P@1 again with the transcripts' metadata roles withheld."""
        if self._roleless is None:
            self._roleless = replace(self.kb.speakers, meta_roles=False)
        qrels = {it.id: {name_key(n): 1 for n in it.speakers}}
        row: dict[str, float] = {}
        for finder, measures in ((self.kb.speakers, SPEAKER_MEASURES), (self._roleless, SPEAKER_NO_ROLE_MEASURES)):
            ranked = first_occurrence(name_key(s.name) for s in finder.find(it.question, limit=10).speakers)
            row.update(per_query(qrels, {it.id: ranked}, measures)[it.id])
        return row

    def _compare(self, it: GoldItem) -> dict[str, float]:
        comparison = self.kb.answerer.compare(it.question, list(it.countries))
        answered = [r for r in comparison.rows if r.evidence]
        with_evidence = {r.country for r in answered}
        foreign = [r for r in answered if any(r.country not in c.about for c in r.citations)]
        return {
            "country_evidence": sum(c.upper() in with_evidence for c in it.countries) / len(it.countries),
            "foreign_rows": len(foreign) / len(answered) if answered else 0.0,
        }

    def _best_similarity(self, question: str, hits: Sequence[Hit]) -> float | None:
        """Best query-sentence similarity over the sentences the answerer read for ``hits``."""
        sentences = [c.text for rank, hit in enumerate(hits) for c in sentence_candidates(rank, hit)]
        if not sentences:
            return None
        q = self.kb.embedder.embed_queries([question])[0]
        return round(float((self.kb.embedder.embed_passages(sentences) @ q).max()), 4)

    def _doc_language(self, doc_id: str) -> str | None:
        record = self.kb.store.get_document(doc_id)
        return record.meta.language if record is not None else None


def calibrate(rows: Sequence[dict[str, Any]], current: float, key: str = "best_similarity") -> dict[str, Any]:
    """The refusal threshold on ``key`` chosen on the tuning part, and what it gives on the held-out part.

    A question is refused when its ``key`` (the reader's confidence, or without a reader the
    best sentence similarity) is below the threshold t. At t, refusal accuracy is the share of
    unanswerable questions refused, false refusal the share of answerable ones refused, and
    fact recall the share of answerable questions with facts whose answer held a fact and that
    t lets through (exact for t at or above the threshold the answers were made with). The
    suggestion maximises refusal accuracy on the tuning part among thresholds that refuse at
    most 3% of its answerable questions; ties go to the lowest such t.
    """

    def split(part: str | None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        usable = [r for r in rows if r.get(key) is not None and (part is None or r.get("part", "tuning") == part)]
        return [r for r in usable if r["kind"] != "unanswerable"], [r for r in usable if r["kind"] == "unanswerable"]

    def at(t: float, part: str | None) -> dict[str, float]:
        ans, una = split(part)
        with_facts = [r for r in ans if "fact_recall" in r]
        return {
            "refusal_accuracy": round(float(np.mean([r[key] < t for r in una])) if una else 0.0, 4),
            "fact_recall": round(float(np.mean([r["fact_recall"] == 1.0 and r[key] >= t for r in with_facts])), 4)
            if with_facts
            else 0.0,
            "false_refusal": round(float(np.mean([r[key] < t for r in ans])) if ans else 0.0, 4),
        }

    ans, una = split("tuning")
    if not ans or not una:
        return {}
    values = sorted({round(float(r[key]), 4) for r in ans + una})
    grid = sorted({0.0, current, *values, *(v + 1e-4 for v in values)})
    allowed = [t for t in grid if at(t, "tuning")["false_refusal"] <= 0.03]
    best = max(allowed, key=lambda t: (at(t, "tuning")["refusal_accuracy"], -t)) if allowed else current

    def dist(values: list[float]) -> dict[str, float]:
        return {f"p{q}": round(float(np.percentile(values, q)), 4) for q in (0, 10, 25, 50, 75, 90, 100)}

    return {
        "key": key,
        "current_threshold": current,
        "answerable": dist([r[key] for r in split(None)[0]]),
        "unanswerable": dist([r[key] for r in split(None)[1]]),
        "suggested_threshold": round(best, 4),
        "at_current": {part: at(current, part) for part in ("tuning", "heldout")},
        "at_suggested": {part: at(best, part) for part in ("tuning", "heldout")},
        "sweep": [{"t": t, **at(t, "tuning")} for t in np.round(np.arange(0.0, 1.0001, 0.05), 2).tolist()],
    }


def gold_items(folder: Path | None = None) -> list[GoldItem]:
    """The gold questions (from ``folder`` or eval/gold)."""
    return load_gold(folder) if folder else load_gold()
