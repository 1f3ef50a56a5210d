"""The gold evaluation set agrees with the corpus: ids exist, passages are verbatim, counts hold."""

from __future__ import annotations

import json
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

from ingest.chunking import normalise_space
from ingest.models import SourceDoc
from ingest.registry import iter_files, load_path

ROOT = Path(__file__).resolve().parents[2]
GOLD = ROOT / "eval" / "gold"
MINIMUMS = {"factual": 60, "cross_lingual": 40, "comparison": 20, "speakers": 25, "unanswerable": 20, "small_city": 15}
CORE_COUNTRIES = {"RO", "AT", "SE", "IT", "CZ", "GR", "HU", "NL", "SK", "ES", "PT", "TR", "PL", "FR", "FI"}


def load_gold() -> list[dict[str, Any]]:
    items = []
    for path in sorted(GOLD.glob("*.jsonl")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip():
                item = json.loads(line)
                item["_where"] = f"{path.name}:{n}"
                items.append(item)
    return items


@lru_cache(maxsize=1)
def corpus_docs() -> dict[str, SourceDoc]:
    docs: dict[str, SourceDoc] = {}
    for item in iter_files([ROOT / "corpus"]):
        assert isinstance(item, Path), f"corpus file cannot be read: {item}"
        result = load_path(item, max_bytes=50 * 2**20, max_unzipped_bytes=300 * 2**20)
        assert not result.errors, result.errors
        for doc in result.docs:
            assert doc.doc_id not in docs, f"duplicate doc id {doc.doc_id}"
            docs[doc.doc_id] = doc
    return docs


def test_counts_per_kind_and_fields() -> None:
    items = load_gold()
    ids = [i["id"] for i in items]
    assert len(ids) == len(set(ids)), [i for i, n in Counter(ids).items() if n > 1]
    kinds = Counter(i["kind"] for i in items)
    for kind, minimum in MINIMUMS.items():
        assert kinds[kind] >= minimum, f"{kind}: {kinds[kind]} < {minimum}"
    assert set(kinds) <= set(MINIMUMS)
    for item in items:
        for field in ("id", "question", "language", "kind", "relevant", "facts", "speakers", "countries"):
            assert field in item, f"{item['_where']}: missing {field}"
        if item["kind"] == "unanswerable":
            assert item["relevant"] == [] and item["facts"] == [], item["_where"]
        else:
            assert item["relevant"], f"{item['_where']}: no relevant documents"
        if item["kind"] == "speakers":
            assert item["speakers"], item["_where"]
        if item["kind"] == "comparison":
            assert len(item["countries"]) >= 2, item["_where"]
            covered = {r.get("country") for r in item["relevant"]}
            assert set(item["countries"]) <= covered, f"{item['_where']}: countries without relevant docs"


def test_every_doc_id_exists_and_every_passage_is_verbatim() -> None:
    docs = corpus_docs()
    texts = {doc_id: normalise_space(doc.text) for doc_id, doc in docs.items()}
    problems = []
    for item in load_gold():
        for rel in item["relevant"]:
            doc_id = rel["doc_id"]
            if doc_id not in texts:
                problems.append(f"{item['_where']}: unknown doc {doc_id}")
                continue
            for passage in rel["passages"]:
                if normalise_space(passage) not in texts[doc_id]:
                    problems.append(f"{item['_where']}: passage not in {doc_id}: {passage[:60]!r}")
        passages = " ".join(normalise_space(p) for r in item["relevant"] for p in r["passages"]).casefold()
        for fact in item["facts"]:
            if normalise_space(fact).casefold() not in passages:
                problems.append(f"{item['_where']}: fact {fact!r} not in its passages")
    assert not problems, "\n".join(problems[:40])


def test_cross_lingual_items_cross_languages() -> None:
    docs = corpus_docs()
    pairs = set()
    for item in load_gold():
        if item["kind"] != "cross_lingual":
            continue
        for rel in item["relevant"]:
            doc_lang = docs[rel["doc_id"]].meta.language
            assert doc_lang != item["language"], f"{item['_where']}: same language {doc_lang}"
            pairs.add((item["language"], doc_lang))
    assert len(pairs) >= 6, pairs


def test_corpus_covers_languages_countries_and_metadata() -> None:
    docs = corpus_docs()
    assert len(docs) >= 40
    languages = {d.meta.language for d in docs.values()}
    assert len(languages) >= 8 and "en" in languages
    countries = {d.meta.country for d in docs.values()}
    for d in docs.values():
        countries.update(p.country for p in (*d.meta.speakers, *d.meta.authors) if p.country)
    assert countries >= CORE_COUNTRIES, CORE_COUNTRIES - countries
    for d in docs.values():
        m = d.meta
        assert m.country and m.language and m.doc_type != "other", d.path
        assert m.audience and m.topics and m.date and m.sources, f"{d.path}: incomplete metadata"
    transcripts = [d for d in docs.values() if d.meta.doc_type == "transcript"]
    assert len(transcripts) >= 8
    for t in transcripts:
        speakers = {e.speaker for e in t.elements if e.speaker}
        assert 3 <= len(speakers) <= 6, t.path
        minutes = max(e.end_s or 0 for e in t.elements) / 60
        assert 10 <= minutes <= 25, f"{t.path}: {minutes:.1f} min"


@pytest.mark.parametrize("kind", sorted(MINIMUMS))
def test_questions_are_not_copied_from_passages(kind: str) -> None:
    for item in load_gold():
        if item["kind"] != kind:
            continue
        q = normalise_space(item["question"]).casefold()
        for rel in item["relevant"]:
            for passage in rel["passages"]:
                assert q not in normalise_space(passage).casefold(), item["_where"]


def test_the_held_out_part_is_fixed_by_document_and_covers_every_kind() -> None:
    from eval.gold import load_gold as load_items

    split = json.loads((GOLD / "split.json").read_text(encoding="utf-8"))
    held_docs = set(split["heldout_documents"])
    assert held_docs <= set(corpus_docs()), held_docs - set(corpus_docs())
    items = load_items(GOLD)
    parts = Counter((it.kind, it.part) for it in items)
    for kind in MINIMUMS:
        assert parts[(kind, "heldout")] >= 5 and parts[(kind, "tuning")] >= 5, (kind, parts)
    for it in items:
        if it.relevant:  # a question goes with its first relevant document
            assert (it.part == "heldout") == (it.relevant[0].doc_id in held_docs), it.id
        else:
            assert (it.part == "heldout") == (it.id in split["heldout_unanswerable"]), it.id
