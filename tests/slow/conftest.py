"""The sample corpus ingested once with the real embedding model, for the slow tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kb.service import KnowledgeBase
from kb.settings import Settings

CORPUS = Path(__file__).resolve().parents[2] / "corpus"


@pytest.fixture(scope="session")
def corpus_kb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KnowledgeBase]:
    """A knowledge base over corpus/ with multilingual-e5-small on the embedded store."""
    kb = KnowledgeBase(Settings(data_dir=tmp_path_factory.mktemp("corpus-kb"))).open()
    summary = kb.indexer().ingest([CORPUS])
    assert not summary.failed, summary.failed
    yield kb
    kb.close()
