"""Ingest, search, answers, comparisons and speakers end to end on the real Qdrant Edge engine.

The hash embedder keeps these fast; tests with the real model live in tests/slow/.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main
from ingest.registry import load_path
from kb.models import SearchFilters
from kb.service import KnowledgeBase
from kb.settings import Settings, get_settings

DOCS = {
    "se.md": (
        "# Sweden: a national platform\n\n## Coordination\n\nThe national innovation programme coordinates "
        "nine cities and four agencies under one climate city contract signed in December 2020.\n\n"
        "## Financing\n\nGothenburg issued the first city green bond in 2013, worth SEK 500 million.\n",
        {"id": "doc-se", "country": "SE", "language": "en", "doc_type": "good_practice", "topics": ["governance"]},
    ),
    "es.md": (
        "# España: plataforma nacional\n\n## Coordinación\n\nLa plataforma nacional reúne a quince ciudades "
        "con miembros académicos, privados y públicos, y ofrece desayunos bimestrales.\n",
        {"id": "doc-es", "country": "ES", "language": "es", "doc_type": "good_practice", "topics": ["governance"]},
    ),
}
VTT = """WEBVTT

NOTE
title: Financing webinar
date: 2024-11-14
speakers:
  - name: Rita Green
    organisation: city treasury
    country: SE
    role: green finance specialist
  - name: Otto Shop
    organisation: regional agency
    country: FR
    role: one-stop-shop manager

00:00:01.000 --> 00:00:15.000
<v Rita Green>Green bonds let our city finance building retrofits, and investors asked for yearly impact reports on the green bond portfolio.

00:00:15.000 --> 00:00:30.000
<v Otto Shop>Our one-stop shop gives households a single adviser for home renovation, from the energy audit to the works.

00:01:00.000 --> 00:01:20.000
<v Rita Green>The green bond framework lists eligible projects, and the treasury reports the green bond allocation every year.
"""


def write_corpus(folder: Path) -> Path:
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    for name, (text, meta) in DOCS.items():
        (folder / name).write_text(text, encoding="utf-8")
        (folder / f"{name}.meta.yaml").write_text(yaml.safe_dump(meta), encoding="utf-8")
    (folder / "webinar.vtt").write_text(VTT, encoding="utf-8")
    (folder / "webinar.vtt.meta.yaml").write_text(
        yaml.safe_dump({"id": "web-1", "country": "EU", "language": "en", "doc_type": "transcript"}), encoding="utf-8"
    )
    return folder


@pytest.fixture
def kb(tmp_path: Path) -> KnowledgeBase:
    base = KnowledgeBase(Settings(data_dir=tmp_path / "data", embed_model="hash", answer_min_score=0.05))
    yield base
    base.close()


def test_ingest_is_incremental_and_reflects_changes(kb: KnowledgeBase, tmp_path: Path) -> None:
    folder = write_corpus(tmp_path / "docs")
    first = kb.indexer().ingest([folder])
    assert (first.added, first.updated, first.unchanged, first.failed) == (3, 0, 0, [])
    ids = kb.store.chunk_ids()
    again = kb.indexer().ingest([folder])
    assert (again.added, again.updated, again.unchanged, again.chunks) == (0, 0, 3, 0)
    assert kb.store.chunk_ids() == ids

    (folder / "se.md").write_text(DOCS["se.md"][0] + "\n## Results\n\nForty-eight municipalities signed in 2024.\n")
    changed = kb.indexer().ingest([folder])
    assert (changed.updated, changed.unchanged) == (1, 2)
    se_chunks = kb.store.get_chunks("doc-se")
    assert any("Forty-eight" in c.text for c in se_chunks)
    assert len({c.content_sha256 for c in se_chunks}) == 1, "old and new versions mixed"

    (folder / "es.md").unlink()
    synced = kb.indexer().ingest([folder], sync=True)
    assert synced.removed == 1
    assert kb.store.get_document("doc-es") is None and kb.store.get_chunks("doc-es") == []


def test_bad_file_is_reported_and_the_rest_goes_in(kb: KnowledgeBase, tmp_path: Path) -> None:
    folder = write_corpus(tmp_path / "docs")
    (folder / "empty.pdf").write_bytes(b"")
    (folder / "fake.pdf").write_bytes(b"\x7fELF\x02\x01\x01" + b"\x00" * 64)
    summary = kb.indexer().ingest([folder])
    assert summary.added == 3
    failed = {Path(f.path).name: f.error for f in summary.failed}
    assert set(failed) == {"empty.pdf", "fake.pdf"}
    assert all(msg and "\n" not in msg for msg in failed.values())


def test_country_filter_and_paging(kb: KnowledgeBase, tmp_path: Path) -> None:
    kb.indexer().ingest([write_corpus(tmp_path / "docs")])
    hits = kb.retriever.search("national platform cities", SearchFilters(country=["ES"]), k=10).hits
    assert hits and {h.chunk.country for h in hits} == {"ES"}
    all_hits = kb.retriever.search("national platform cities", k=10).hits
    page2 = kb.retriever.search("national platform cities", k=1, offset=1).hits
    assert page2[0].chunk.chunk_id == all_hits[1].chunk.chunk_id
    assert all_hits[0].stages.fused is not None


def test_answer_citations_are_verbatim_at_their_span(kb: KnowledgeBase, tmp_path: Path) -> None:
    folder = write_corpus(tmp_path / "docs")
    kb.indexer().ingest([folder])
    answer = kb.answerer.ask("Which city issued the first green bond and when?")
    assert answer.evidence and answer.citations
    texts = {}
    for path in folder.iterdir():
        if not path.name.endswith(".yaml"):
            for doc in load_path(path, max_bytes=2**20, max_unzipped_bytes=2**22).docs:
                texts[doc.doc_id] = doc.text
    for c in answer.citations:
        assert texts[c.doc_id][c.span.start : c.span.end] == c.quote
        assert f"[{c.n}]" in answer.answer
    transcript = [c for c in answer.citations if c.doc_id == "web-1"]
    assert all(c.start_s is not None and c.speakers == ["Rita Green"] for c in transcript)


def test_no_evidence_when_nothing_is_similar(tmp_path: Path) -> None:
    base = KnowledgeBase(Settings(data_dir=tmp_path / "data", embed_model="hash", answer_min_score=0.9))
    try:
        base.indexer().ingest([write_corpus(tmp_path / "docs")])
        answer = base.answerer.ask("zebra migration patterns in the Serengeti")
        assert not answer.evidence and not answer.citations
        assert "no evidence" in answer.answer
    finally:
        base.close()


def test_compare_has_a_row_per_country_even_without_evidence(kb: KnowledgeBase, tmp_path: Path) -> None:
    kb.indexer().ingest([write_corpus(tmp_path / "docs")])
    result = kb.answerer.compare("How is the national platform coordinated?", ["SE", "ES", "PT"])
    rows = {r.country: r for r in result.rows}
    assert list(rows) == ["SE", "ES", "PT"]
    assert rows["SE"].evidence and rows["ES"].evidence
    assert not rows["PT"].evidence and rows["PT"].citations == []
    assert all(c.country == "SE" for c in rows["SE"].citations)


def test_speaker_who_talked_about_the_topic_ranks_first(kb: KnowledgeBase, tmp_path: Path) -> None:
    kb.indexer().ingest([write_corpus(tmp_path / "docs")])
    result = kb.speakers.find("green bonds")
    assert result.speakers[0].name == "Rita Green"
    top = result.speakers[0]
    assert top.organisation == "city treasury" and top.country == "SE"
    assert top.evidence and top.evidence[0].start_s is not None
    shop = kb.speakers.find("one-stop shop for home renovation").speakers[0]
    assert shop.name == "Otto Shop"
    french = SearchFilters(country=["FR"])
    assert [s.name for s in kb.speakers.find("one-stop shop for home renovation", french).speakers] == ["Otto Shop"]
    assert kb.speakers.find("green bonds", french).speakers == []  # nobody from France spoke about them


def test_cli_ingest_search_and_exit_codes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = write_corpus(tmp_path / "docs")
    monkeypatch.setenv("KB_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KB_EMBED_MODEL", "hash")
    get_settings.cache_clear()
    runner = CliRunner()
    result = runner.invoke(main, ["ingest", str(folder), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["added"] == 3 and set(summary) >= {"added", "updated", "unchanged", "removed", "failed"}
    (folder / "broken.docx").write_bytes(b"not a zip at all")
    result = runner.invoke(main, ["ingest", str(folder), "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["failed"][0]["path"].endswith("broken.docx")
    result = runner.invoke(main, ["search", "green bond", "--country", "SE", "--json"])
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)["hits"]
    assert hits and all(h["country"] == "SE" for h in hits)
    assert {"chunk_id", "doc_id", "title", "path", "text", "score", "span", "speakers"} <= set(hits[0])
    result = runner.invoke(main, ["search", "   ", "--json"])
    assert result.exit_code == 1 and "empty" in result.stderr
    get_settings.cache_clear()


def test_cli_names_a_bad_setting_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KB_EMBED_PRECISION", "half")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(main, ["stats"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "error: invalid setting KB_EMBED_PRECISION: Input should be 'auto', 'float32' or 'bfloat16'"
    ]


MODERATED = """WEBVTT

NOTE
title: Green finance webinar
date: 2024-11-14
speakers:
  - name: Mona Host
    organisation: mission platform
    country: EU
    role: moderator
  - name: Rita Green
    organisation: city treasury
    country: SE
    role: green finance specialist

00:00:01.000 --> 00:00:12.000
<v Mona Host>Welcome. Rita, your city issued green bonds: how did the green bond programme start?

00:00:12.000 --> 00:00:30.000
<v Rita Green>Our first green bond needed a framework and a review; now the treasury reports each year on the green bonds it issued.
"""


def test_a_moderator_asking_about_a_topic_does_not_outrank_the_expert(kb: KnowledgeBase, tmp_path: Path) -> None:
    folder = tmp_path / "web"
    folder.mkdir()
    (folder / "w.vtt").write_text(MODERATED, encoding="utf-8")
    kb.indexer().ingest([folder])
    ranked = [s.name for s in kb.speakers.find("green bonds").speakers]
    assert ranked[0] == "Rita Green", ranked


def test_compare_defaults_to_the_countries_the_question_names(kb: KnowledgeBase, tmp_path: Path) -> None:
    kb.indexer().ingest([write_corpus(tmp_path / "docs")])
    assert [r.country for r in kb.compare("How do Sweden and Spain coordinate their platforms?").rows] == ["SE", "ES"]
    assert [r.country for r in kb.compare("How is the platform coordinated?").rows] == ["ES", "SE"]  # all with material
    assert [r.country for r in kb.compare("platform", ["pt"]).rows] == ["PT"]


def test_a_bulk_file_cut_short_is_not_taken_as_unchanged(kb: KnowledgeBase, tmp_path: Path) -> None:
    folder = tmp_path / "bulk"
    folder.mkdir()
    lines = [
        json.dumps({"_id": f"doc{i}", "title": f"Title {i}", "text": f"Body number {i} about cities."})
        for i in range(6)
    ]
    path = folder / "corpus.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    indexer = kb.indexer()
    indexer.batch_chunks = 2  # documents reach the store a couple at a time, as in a long run

    calls = {"n": 0}
    original = indexer._flush

    def dying_flush(summary: object) -> None:
        calls["n"] += 1
        if calls["n"] == 3:  # the first batch is written when the second is sent to the model
            raise KeyboardInterrupt  # the process stops half-way through the file
        original(summary)  # type: ignore[arg-type]

    indexer._flush = dying_flush  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        indexer.ingest([folder])
    assert 0 < kb.store.count_documents(SearchFilters()) < 6
    summary = kb.indexer().ingest([folder])
    assert summary.unchanged < 6 and summary.added > 0
    assert kb.store.count_documents(SearchFilters()) == 6
    assert kb.indexer().ingest([folder]).unchanged == 1  # now complete: the whole file is skipped


def test_a_change_of_chunking_rechunks_unchanged_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = write_corpus(tmp_path / "docs")

    def ingest(**settings: int) -> tuple[tuple[int, int, int], set[str]]:
        base = KnowledgeBase(Settings(data_dir=tmp_path / "data", embed_model="hash", **settings))
        try:
            s = base.indexer().ingest([folder])
            return (s.added, s.updated, s.unchanged), set(base.store.chunk_ids())
        finally:
            base.close()

    first, ids = ingest()
    assert first == (3, 0, 0)
    assert ingest()[0] == (0, 0, 3)
    smaller, small_ids = ingest(chunk_tokens=40, chunk_overlap=0)
    assert smaller == (0, 3, 0) and len(small_ids) > len(ids) and not small_ids & ids
    monkeypatch.setattr("kb.indexer.CHUNKER_VERSION", 99)
    assert ingest(chunk_tokens=40, chunk_overlap=0)[0] == (0, 3, 0), "a new chunker version re-chunks"


def test_files_are_parsed_while_a_batch_is_embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    import kb.indexer as indexer_module
    from kb.embed import HashEmbedder

    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(6):
        (folder / f"note-{i}.md").write_text(f"# Note {i}\n\nCity number {i} renovates schools.\n", encoding="utf-8")
    last_parsed = threading.Event()
    threads: set[str] = set()
    parsed_during_embedding: list[bool] = []

    def load_and_signal(path: Path, **kw: object) -> object:
        if path.name == "note-3.md":  # the last file of the batch after the first
            last_parsed.set()
        return load_path(path, **kw)  # type: ignore[arg-type]

    class SlowEmbedder(HashEmbedder):
        def embed_passages(self, texts: object) -> object:
            threads.add(threading.current_thread().name)
            # the first batch waits until the main thread has parsed the next batch's files
            parsed_during_embedding.append(last_parsed.wait(timeout=10))
            return super().embed_passages(texts)  # type: ignore[arg-type]

        def load(self) -> None:
            threads.add(threading.current_thread().name)

    monkeypatch.setattr(indexer_module, "load_path", load_and_signal)
    base = KnowledgeBase(Settings(data_dir=tmp_path / "data", embed_model="hash"), embedder_override=SlowEmbedder())
    try:
        indexer = base.indexer()
        indexer.batch_chunks = 2
        summary = indexer.ingest([folder])
        assert summary.added == 6 and not summary.failed
        assert parsed_during_embedding[0] is True
        assert threading.current_thread().name not in threads  # the model ran on the worker only
        assert base.store.count_documents(SearchFilters()) == 6
    finally:
        base.close()


def test_building_does_no_io_and_the_store_is_repaired_once_on_open(
    kb: KnowledgeBase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kb.indexer import Indexer

    class NoIO:
        def __getattr__(self, name: str) -> object:
            raise AssertionError(f"the constructor called store.{name}")

    Indexer(store=NoIO(), embedder=kb.embedder, sparse=kb.sparse)  # type: ignore[arg-type]
    calls: list[str] = []
    repair = type(kb.store).repair
    monkeypatch.setattr(type(kb.store), "repair", lambda self: calls.append("repair") or repair(self))
    folder = write_corpus(tmp_path / "docs")
    for _ in range(3):
        kb.indexer().ingest([folder])
    kb.documents.delete("doc-es")
    kb.open()
    assert calls == ["repair"]


def test_an_upload_is_parsed_once(kb: KnowledgeBase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import kb.documents as documents_module
    import kb.indexer as indexer_module

    parsed: list[Path] = []

    def counting(path: Path, **kwargs: object) -> object:
        parsed.append(path)
        return load_path(path, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(documents_module, "load_path", counting)
    monkeypatch.setattr(indexer_module, "load_path", counting)
    upload = tmp_path / "0123abcd.md"
    upload.write_text("Cities share one adviser for home renovation.\n")
    summary = kb.documents.add(upload, name="Renovation advice.md", titled=False)
    assert summary.added == 1 and parsed == [upload]
    record = kb.documents.get(summary.doc_ids[0])
    assert record.title == "Renovation advice"
    again = kb.documents.reindex([tmp_path])
    assert again.unchanged == 1 and again.added == again.updated == 0


def test_a_request_works_its_question_out_once(
    kb: KnowledgeBase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ingest.countries import countries_in

    kb.indexer().ingest([write_corpus(tmp_path / "docs")])
    question = "How does Sweden finance its national climate platform?"
    detected: list[str] = []
    named: list[str] = []
    detect = kb.sparse.detect_language
    find = countries_in
    monkeypatch.setattr(kb.sparse, "detect_language", lambda text: detected.append(text) or detect(text))
    monkeypatch.setattr("kb.query.countries_in", lambda text: named.append(text) or find(text))
    comparison = kb.compare(question, ["SE", "ES", "FR"])
    assert [row.country for row in comparison.rows] == ["SE", "ES", "FR"]
    assert detected == [question] and named == [question]
    detected.clear()
    named.clear()
    kb.ask(question)
    assert detected == [question] and named == [question]


EU_GUIDE = """# National support structures in Europe

## Programme model: Sweden

A strategic innovation programme runs the national platform, funded by three agencies.

## Programme model: Spain

A public foundation runs the national platform, funded through the ecological transition ministry.
"""


def test_an_eu_level_section_feeds_only_its_own_countrys_row(kb: KnowledgeBase, tmp_path: Path) -> None:
    import yaml

    folder = tmp_path / "eu"
    folder.mkdir()
    (folder / "guide.md").write_text(EU_GUIDE, encoding="utf-8")
    meta = {"id": "eu-guide", "country": "EU", "language": "en", "doc_type": "guideline"}
    (folder / "guide.md.meta.yaml").write_text(yaml.safe_dump(meta), encoding="utf-8")
    kb.indexer().ingest([folder])
    chunks = kb.store.get_chunks("eu-guide")
    assert {tuple(c.section[-1:]): c.about for c in chunks if c.section} == {
        ("Programme model: Sweden",): ["SE"],
        ("Programme model: Spain",): ["ES"],
    }
    about_se = kb.retriever.search("national platform funded", SearchFilters(about=["SE"])).hits
    assert about_se and {h.chunk.chunk_id for h in about_se} <= {c.chunk_id for c in chunks if c.about == ["SE"]}
    assert kb.retriever.search("national platform funded", SearchFilters(country=["SE"])).hits == []
    rows = {r.country: r for r in kb.compare("How is the national platform funded?", ["SE", "ES", "PL"]).rows}
    assert rows["SE"].evidence and rows["ES"].evidence and not rows["PL"].evidence
    assert all("agencies" in c.quote or "innovation" in c.quote for c in rows["SE"].citations), rows["SE"].citations
    assert all("foundation" in c.quote or "ministry" in c.quote for c in rows["ES"].citations), rows["ES"].citations
