"""Speaker finding end to end with the hash embedder: roles read from the turns, what counts as evidence, the floor."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from ingest.registry import load_path
from kb.service import KnowledgeBase
from kb.settings import Settings
from kb.speakers import INFERRED_HOST

# No roles anywhere: the host opens, gives the word by name, asks and closes; her lines repeat the topic.
WEBINAR = """WEBVTT

00:00:01.000 --> 00:00:20.000
<v Mona Vega>Welcome to the webinar on the school heat pump project: a heat pump that replaced the oil boilers of a school. Rita Lind explains the heat pump project, Otto Berg the joint tenders. Rita, over to you.

00:00:20.000 --> 00:01:00.000
<v Rita Lind>Our town replaced the oil boilers of the school with a large heat pump, which now covers most of the winter demand.

00:01:00.000 --> 00:01:10.000
<v Mona Vega>Thank you. Otto, how does your agency help small towns buy heat pumps?

00:01:10.000 --> 00:01:40.000
<v Otto Berg>Our agency bundles the tenders of several small towns, so that suppliers bid for one larger contract.

00:01:40.000 --> 00:01:50.000
<v Mona Vega>Rita, what did the school heat pump cost?

00:01:50.000 --> 00:02:20.000
<v Rita Lind>It cost 1.2 million euros, and the national energy fund paid forty percent of it.

00:02:20.000 --> 00:02:35.000
<v Mona Vega>In my region, three more schools plan to replace their oil boilers with a heat pump next year.

00:02:35.000 --> 00:02:45.000
<v Mona Vega>Thank you Rita and Otto. The school heat pump project that replaced the oil boilers shows what a small town can do.
"""
NOTES = """# Session notes: bundled tenders

## Joint tenders

Paul Sand presented how twelve small towns bundled their heat pump tenders into one joint tender, which cut the price per heat pump by a fifth.

## Contract management

Nora Field explained that one town manages the joint tender contract on behalf of the others.
"""
NOTES_META = {
    "id": "notes-1",
    "title": "Session notes: bundled tenders",
    "language": "en",
    "doc_type": "session_notes",
    "authors": [{"name": "Nora Field", "role": "rapporteur"}, {"name": "Ivo Hart", "role": "rapporteur"}],
}


@pytest.fixture
def kb(tmp_path: Path) -> Iterator[KnowledgeBase]:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "webinar.vtt").write_text(WEBINAR, encoding="utf-8")
    meta = {"id": "web-heat", "language": "en", "doc_type": "transcript"}
    (folder / "webinar.vtt.meta.yaml").write_text(yaml.safe_dump(meta), encoding="utf-8")
    (folder / "notes.md").write_text(NOTES, encoding="utf-8")
    (folder / "notes.md.meta.yaml").write_text(yaml.safe_dump(NOTES_META), encoding="utf-8")
    base = KnowledgeBase(Settings(data_dir=tmp_path / "data", embed_model="hash"))
    summary = base.indexer().ingest([folder])
    assert summary.added == 2 and not summary.failed
    yield base
    base.close()


def _doc_text(kb: KnowledgeBase, doc_id: str) -> str:
    record = kb.store.get_document(doc_id)
    assert record is not None
    return load_path(Path(record.path), max_bytes=2**20, max_unzipped_bytes=2**22).docs[0].text


def test_a_host_found_from_the_turns_does_not_outrank_the_expert(kb: KnowledgeBase) -> None:
    people = kb.speakers.find("school heat pump that replaced oil boilers").speakers
    names = [p.name for p in people]
    assert names[0] == "Rita Lind", names
    mona = people[names.index("Mona Vega")]  # listed for her own remark on the topic, as a host
    assert mona.role == INFERRED_HOST and people[0].role is None
    assert mona.score < 0.5
    assert all(c.start_s == 140.0 for c in mona.evidence[:1])  # her remark, not her welcome or questions


def test_a_host_who_only_asks_about_a_topic_is_not_listed(kb: KnowledgeBase) -> None:
    names = [p.name for p in kb.speakers.find("how an agency helps small towns buy heat pumps").speakers]
    assert names[0] == "Otto Berg" and "Mona Vega" not in names, names


def test_evidence_is_what_the_person_said_closest_to_the_topic_first(kb: KnowledgeBase) -> None:
    text = _doc_text(kb, "web-heat")
    rita = kb.speakers.find("a large heat pump for the school instead of oil boilers").speakers[0]
    assert rita.name == "Rita Lind"
    first = rita.evidence[0]
    assert first.start_s == 20.0 and first.quote.startswith("Our town replaced the oil boilers of the school")
    for clip in rita.evidence:
        assert clip.start_s is not None and text[clip.span.start : clip.span.end] == clip.quote
        assert f"Rita Lind: {clip.quote}" in text  # her own words, never the host's question


def test_notes_credit_only_their_authors_as_writing(kb: KnowledgeBase) -> None:
    text = _doc_text(kb, "notes-1")
    people = {p.name: p for p in kb.speakers.find("joint heat pump tender contract managed by one town").speakers}
    assert "Paul Sand" not in people  # named as a presenter in the notes, but not an author
    nora = people["Nora Field"]
    assert any("manages the joint tender contract" in c.quote for c in nora.evidence if c.doc_id == "notes-1")
    for person in people.values():
        for clip in person.evidence:
            if clip.doc_id == "notes-1":
                assert person.name in ("Nora Field", "Ivo Hart")  # the sidecar's authors
                assert clip.start_s is None and clip.end_s is None  # written, not said
                assert text[clip.span.start : clip.span.end] == clip.quote
                if "Nora Field" in clip.quote:  # a passage naming one of its authors credits that author only
                    assert person.name == "Nora Field"


def test_a_topic_nobody_spoke_or_wrote_about_lists_nobody(kb: KnowledgeBase) -> None:
    assert kb.speakers.find("medieval castle architecture").speakers == []
