"""Complete the gold set's relevance judgements where the corpus repeats a fact.

The sample corpus states many facts in several documents (the Gothenburg green bond is in a
guideline, a session note, the slides and a webinar). A question written from one document
is answered just as well by the others, and counting those as misses would understate every
retrieval metric. This tool adds, for factual, cross-lingual and small-city questions, every
other document with one paragraph or cue that contains *all* of the question's facts (two
facts or more with at least 10 characters in all, or one fact of at least 18 characters, so a
lone year or term never matches), with that passage verbatim; a cross-lingual question only
gains documents in another language than its own. Added entries carry
``"added_by": "fact-match"`` so they stay reviewable.

``python -m eval.expand_gold`` rewrites eval/gold/*.jsonl; ``--check`` only reports.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ingest.chunking import normalise_space, split_sentences
from ingest.models import SourceDoc
from ingest.registry import iter_files, load_path

ROOT = Path(__file__).resolve().parents[1]
KINDS = {"factual", "cross_lingual", "small_city"}
MIN_FACT_CHARS = 10
MIN_SINGLE_FACT_CHARS = 18


def corpus_docs(corpus: Path) -> dict[str, SourceDoc]:
    """Every document of the corpus by id."""
    docs: dict[str, SourceDoc] = {}
    for item in iter_files([corpus]):
        if isinstance(item, Path):
            for doc in load_path(item, max_bytes=2**26, max_unzipped_bytes=2**28).docs:
                docs[doc.doc_id] = doc
    return docs


def matching_passage(doc: SourceDoc, facts: list[str]) -> str | None:
    """The shortest run of sentences of one element that contains every fact, if any."""
    wanted = [normalise_space(f).casefold() for f in facts]
    for el in doc.elements:
        if not all(f in normalise_space(el.text).casefold() for f in wanted):
            continue
        sentences = split_sentences(doc.text, el.span.start, el.span.end)
        best: tuple[int, int] | None = None
        for i in range(len(sentences)):
            for j in range(i, len(sentences)):
                text = normalise_space(doc.text[sentences[i][0] : sentences[j][1]]).casefold()
                if all(f in text for f in wanted):
                    span = (sentences[i][0], sentences[j][1])
                    if best is None or span[1] - span[0] < best[1] - best[0]:
                        best = span
                    break
        if best is not None:
            return doc.text[best[0] : best[1]]
    return None


def _specific(facts: list[str]) -> bool:
    """Facts specific enough that a passage holding them all answers the question."""
    if len(facts) >= 2:
        return sum(len(f) for f in facts) >= MIN_FACT_CHARS
    return bool(facts) and len(facts[0]) >= MIN_SINGLE_FACT_CHARS


def own_facts(item: dict[str, object]) -> list[str]:
    """The facts the question's own, hand-judged passages state.

    Facts stated by ``equivalent`` entries are the same facts in other words or languages, so
    no single passage holds them all; matching uses the question's own set.
    """
    relevant = item.get("relevant", [])
    assert isinstance(relevant, list)
    own = " ".join(normalise_space(p).casefold() for r in relevant if "added_by" not in r for p in r["passages"])
    facts = [str(f) for f in item.get("facts", [])]  # type: ignore[attr-defined]
    return [f for f in facts if normalise_space(f).casefold() in own]


def expand(items: list[dict[str, object]], docs: dict[str, SourceDoc]) -> int:
    """Add fact-matching documents to the items in place; returns how many were added."""
    added = 0
    for item in items:
        facts = own_facts(item)
        if item.get("kind") not in KINDS or not _specific(facts):
            continue
        relevant = item["relevant"]
        assert isinstance(relevant, list)
        known = {r["doc_id"] for r in relevant}
        for doc_id, doc in sorted(docs.items()):
            if doc_id in known or (item["kind"] == "cross_lingual" and doc.meta.language == item["language"]):
                continue
            passage = matching_passage(doc, facts)
            if passage:
                relevant.append({"doc_id": doc_id, "passages": [passage], "added_by": "fact-match"})
                added += 1
    return added


def main(argv: list[str] | None = None) -> int:
    """Expand every gold file, or report what would be added with ``--check``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report only, write nothing")
    parser.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    args = parser.parse_args(argv)
    docs = corpus_docs(args.corpus)
    total = 0
    for path in sorted((ROOT / "eval" / "gold").glob("*.jsonl")):
        items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        for item in items:  # recompute from scratch so the tool is idempotent
            item["relevant"] = [r for r in item["relevant"] if r.get("added_by") != "fact-match"]
        added = expand(items, docs)
        total += added
        print(f"{path.name}: {added} documents added by fact match")
        if not args.check:
            lines = [json.dumps(item, ensure_ascii=False) for item in items]
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"total: {total}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
