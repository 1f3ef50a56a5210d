"""Golden chunk files: the expected chunks of a few corpus samples, one per format.

``make golden`` (``python -m tests.golden.regenerate``) rewrites them; review the diff before
committing. ``tests/golden/test_golden.py`` compares fresh parses against them. Chunks are
counted with the token estimate so the files do not depend on a model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ingest.chunking import approx_tokens, chunk_document
from ingest.registry import load_path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
SAMPLES = [
    "corpus/guidelines/gl-eu-smaller-cities.pdf",
    "corpus/good-practice/hubul-m100.docx",
    "corpus/session-notes/sn-2-slides.pptx",
    "corpus/good-practice/valtion-sitoumus.html",
    "corpus/good-practice/klimatkontrakt-2030.md",
    "corpus/newsletters/nl-106-labels.eml",
    "corpus/transcripts/tr-alliance-financing.vtt",
    "corpus/transcripts/tr-it-ambasciatori.srt",
]
CHUNK_TOKENS, OVERLAP = 320, 40
KEEP = ("chunk_id", "ordinal", "text", "span", "section", "page_start", "page_end", "start_s", "end_s", "speakers")


def golden_path(sample: str) -> Path:
    """Where the golden file of a sample lives."""
    return HERE / f"{Path(sample).name}.chunks.json"


def render(sample: str) -> dict[str, Any]:
    """Parse and chunk one sample into the golden file's JSON shape."""
    result = load_path(ROOT / sample, max_bytes=50 * 2**20, max_unzipped_bytes=300 * 2**20)
    if result.errors or len(result.docs) != 1:
        raise RuntimeError(f"{sample}: {result.errors}")
    doc = result.docs[0]
    chunks = chunk_document(doc, CHUNK_TOKENS, OVERLAP, approx_tokens)
    return {
        "sample": sample,
        "doc_id": doc.doc_id,
        "format": doc.format,
        "title": doc.title,
        "pages": doc.pages,
        "meta": doc.meta.model_dump(mode="json"),
        "chunks": [{k: c.model_dump(mode="json")[k] for k in KEEP} for c in chunks],
    }


def main() -> None:
    """Rewrite every golden file."""
    for sample in SAMPLES:
        data = render(sample)
        golden_path(sample).write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        print(f"{golden_path(sample).relative_to(ROOT)}: {len(data['chunks'])} chunks")


if __name__ == "__main__":
    main()
