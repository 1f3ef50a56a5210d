"""Retrieval and answer metrics: chunk hits mapped to documents, scored with ir-measures.

Every ranking metric comes from ir-measures (nDCG, recall, reciprocal rank, precision);
this module only turns ranked document ids into ir-measures runs, maps chunk hits to their
documents and averages per-question values over groups.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import ir_measures
from ir_measures import RR, P, R, nDCG

logger = logging.getLogger(__name__)

RETRIEVAL_MEASURES = {
    "ndcg@10": nDCG @ 10,
    "recall@5": R @ 5,
    "recall@10": R @ 10,
    "recall@100": R @ 100,
    "mrr@10": RR @ 10,
}
SPEAKER_MEASURES = {"speaker_p@1": P @ 1, "speaker_p@3": P @ 3, "speaker_mrr": RR}
# The same questions with every role in metadata withheld, as for webinars that carry none:
# the finder then reads who hosts from the turns alone.
SPEAKER_NO_ROLE_MEASURES = {"speaker_p@1_noroles": P @ 1}
_SPACE = re.compile(r"\s+")


def first_occurrence(doc_ids: Iterable[str]) -> list[str]:
    """Map a ranked list of chunk doc ids to ranked documents: each document keeps its first rank."""
    seen: set[str] = set()
    out: list[str] = []
    for doc_id in doc_ids:
        if doc_id not in seen:
            seen.add(doc_id)
            out.append(doc_id)
    return out


def per_query(
    qrels: Mapping[str, Mapping[str, int]],
    run: Mapping[str, Sequence[str]],
    measures: Mapping[str, Any] | None = None,
) -> dict[str, dict[str, float]]:
    """Per-query values of each measure, computed by ir-measures.

    Args:
        qrels: Query id -> relevant document id -> grade (>= 1 is relevant).
        run: Query id -> document ids, best first (already at document level).
        measures: Output name -> ir-measures measure; the retrieval set by default.

    Returns:
        Query id -> name -> value, for every query in ``qrels`` (a query with no retrieved
        document scores 0 on every measure, rather than being left out of the average).
    """
    measures = dict(measures or RETRIEVAL_MEASURES)
    by_measure = {m: name for name, m in measures.items()}
    out: dict[str, dict[str, float]] = {q: dict.fromkeys(measures, 0.0) for q in qrels}
    qrel_rows = [ir_measures.Qrel(q, d, int(g)) for q, docs in qrels.items() for d, g in docs.items()]
    run_rows = [
        ir_measures.ScoredDoc(q, d, float(len(docs) - rank))
        for q, docs in run.items()
        if q in qrels
        for rank, d in enumerate(docs)
    ]
    if not qrel_rows or not run_rows:
        return out
    for metric in ir_measures.iter_calc(list(measures.values()), qrel_rows, run_rows):
        out[metric.query_id][by_measure[metric.measure]] = float(metric.value)
    return out


def mean_over(rows: Sequence[Mapping[str, float]], names: Iterable[str]) -> dict[str, float]:
    """Mean of each named value over the rows that have it (rounded to 4 places)."""
    out: dict[str, float] = {}
    for name in names:
        values = [r[name] for r in rows if r.get(name) is not None]
        if values:
            out[name] = round(sum(values) / len(values), 4)
    return out


def aggregate(rows: Sequence[Mapping[str, Any]], names: Sequence[str], by: Sequence[str] = ()) -> dict[str, Any]:
    """Averages overall and broken down by each key in ``by`` (e.g. kind, language pair).

    Each row is one question: its metric values (``None`` where a metric does not apply) and
    its grouping keys. Citation support is micro-averaged from ``citations_ok`` and
    ``citations_total`` when rows have them.
    """

    def summary(group: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        values: dict[str, Any] = {"n": len(group), **mean_over(group, names)}
        total = sum(int(r.get("citations_total") or 0) for r in group)
        if total:
            values["citation_support"] = round(sum(int(r.get("citations_ok") or 0) for r in group) / total, 4)
            values["citations"] = total
        return values

    result: dict[str, Any] = {"all": summary(rows)}
    for key in by:
        groups: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
        for row in rows:
            groups[str(row.get(key))].append(row)
        result[f"by_{key}"] = {g: summary(groups[g]) for g in sorted(groups)}
    return result


def normalise(text: str) -> str:
    """Case-folded text with runs of white space as one space."""
    return _SPACE.sub(" ", text).strip().casefold()


def contains_fact(answer: str, facts: Sequence[str]) -> bool:
    """True when the answer contains at least one fact (case-insensitive, white space normalised)."""
    text = normalise(answer)
    return any(normalise(f) in text for f in facts if f.strip())


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo, hi = int(pos), min(int(pos) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)
