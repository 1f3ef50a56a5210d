"""Fresh parses of the corpus samples equal their reviewed golden chunk files."""

from __future__ import annotations

import json

import pytest

from tests.golden.regenerate import SAMPLES, golden_path, render


@pytest.mark.parametrize("sample", SAMPLES)
def test_chunks_match_golden(sample: str) -> None:
    expected = json.loads(golden_path(sample).read_text(encoding="utf-8"))
    actual = render(sample)
    assert actual["chunks"] == expected["chunks"], f"chunks of {sample} changed: run `make golden` and review"
    assert {k: v for k, v in actual.items() if k != "chunks"} == {k: v for k, v in expected.items() if k != "chunks"}


@pytest.mark.parametrize("sample", SAMPLES)
def test_golden_provenance_per_format(sample: str) -> None:
    data = json.loads(golden_path(sample).read_text(encoding="utf-8"))
    chunks = data["chunks"]
    assert chunks
    fmt = data["format"]
    if fmt in {"pdf", "pptx"}:
        assert all(c["page_start"] for c in chunks), "every PDF/PPTX chunk has its page or slide"
        assert max(c["page_end"] for c in chunks) > 1
    if fmt in {"vtt", "srt"}:
        assert all(c["speakers"] and c["start_s"] is not None for c in chunks)
    if fmt in {"pdf", "docx", "html", "markdown"}:
        assert sum(1 for c in chunks if c["section"]) >= len(chunks) // 2, "sections recorded"
