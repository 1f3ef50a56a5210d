"""unstructured loaders work without a network; metadata precedence and validation."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ingest.errors import MetadataError
from tests.unit.ingest.conftest import load, load_one, make_docx, make_pptx

OFFLINE_SCRIPT = textwrap.dedent(
    """
    import socket, sys
    from pathlib import Path

    def refuse(*args, **kwargs):
        raise OSError("network disabled in test")

    socket.socket.connect = refuse
    socket.socket.connect_ex = refuse
    socket.create_connection = refuse
    socket.getaddrinfo = refuse

    from ingest.registry import load_path

    failures = []
    for name in sys.argv[1:]:
        result = load_path(Path(name), max_bytes=10**7, max_unzipped_bytes=10**8)
        if result.errors or not result.docs or not result.docs[0].elements:
            failures.append((name, [str(e) for e in result.errors]))
    print(failures)
    sys.exit(1 if failures else 0)
    """
)


def test_unstructured_loaders_run_offline(tmp_path: Path) -> None:
    files = [make_docx(tmp_path / "a.docx"), make_pptx(tmp_path / "b.pptx")]
    plain = (
        "Short heading\n\nThe ministries agreed on a shared calendar. It was signed in June.\n\n"
        "ANOTHER HEADING\n\nCities report their emissions every year to the platform."
    )
    texts = {
        "c.html": "<h1>Title</h1><p>The national platform supports fifteen cities today.</p>",
        "d.md": "# Title\n\nThe national platform supports fifteen cities today.\n\n- one item\n",
        "e.eml": "From: A <a@example.org>\nSubject: News\nDate: Mon, 17 Mar 2025 09:30:00 +0100\n\n" + plain,
        "f.txt": plain,
    }
    for name, text in texts.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        files.append(tmp_path / name)
    root = Path(__file__).resolve().parents[3]
    proc = subprocess.run(
        [sys.executable, "-c", OFFLINE_SCRIPT, *map(str, files)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root), "HOME": str(tmp_path)},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]


def test_precedence_manifest_sidecar_file(tmp_path: Path) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    (tmp_path / "kb-manifest.yaml").write_text("defaults:\n  licence: CC0\n  country: FR\n", encoding="utf-8")
    (folder / "kb-manifest.yaml").write_text(
        "defaults:\n  doc_type: session_notes\n  country: ES\n  topics: [governance]\n"
        "files:\n  notes.docx:\n    country: SE\n    title: From manifest\n    audience: [smaller_cities]\n",
        encoding="utf-8",
    )
    path = make_docx(folder / "notes.docx")
    (folder / "notes.docx.meta.yaml").write_text(
        "id: sn-test\naudience: [national_policymakers]\nlanguage: EN\n"
        "authors:\n  - name: Zofia Wierzbicka-Lenart (fictional)\n    country: pl\n",
        encoding="utf-8",
    )
    result = load(path, root=tmp_path)
    assert result.errors == []
    meta = result.docs[0].meta
    assert result.docs[0].doc_id == "sn-test"
    assert meta.licence == "CC0"  # root manifest defaults
    assert meta.doc_type == "session_notes" and meta.topics == ["governance"]  # folder defaults
    assert meta.country == "SE"  # manifest file entry beats defaults
    assert result.docs[0].title == "From manifest"  # beats the DOCX core title
    assert meta.audience == ["national_policymakers"]  # sidecar beats manifest entry
    assert meta.language == "en"
    assert meta.authors[0].name == "Zofia Wierzbicka-Lenart" and meta.authors[0].fictional
    assert meta.authors[0].country == "PL"
    without_root = load(path).docs[0].meta
    assert without_root.licence is None


def test_file_title_fills_only_when_metadata_is_silent(tmp_path: Path) -> None:
    doc = load_one(make_docx(tmp_path / "notes.docx"))
    assert doc.title == "Core title of the notes"
    assert doc.meta.language == "en"  # detected


@pytest.mark.parametrize(
    ("sidecar", "field"),
    [
        ("title: [unclosed\n", "invalid YAML"),
        ("doc_type: poster\n", "field doc_type: unknown doc_type 'poster'"),
        ("country: XX\n", "field country: unknown country code 'XX'"),
        ("language: english\n", "field language: 'english' is not an ISO 639-1"),
        ("date: 2024-13-01\n", "field date: '2024-13-01' is not a valid date"),
        ("date: 20 March 2024\n", "field date: '20 March 2024' is not a YYYY-MM-DD date"),
        ("id: 'has space'\n", "field id: 'has space' is not a valid id"),
    ],
)
def test_invalid_sidecar(tmp_path: Path, sidecar: str, field: str) -> None:
    path = tmp_path / "a.txt"
    path.write_text("Some text for the document body.")
    (tmp_path / "a.txt.meta.yaml").write_text(sidecar)
    result = load(path)
    assert result.docs == []
    error = result.errors[0]
    assert isinstance(error, MetadataError)
    assert error.path == (tmp_path / "a.txt.meta.yaml").as_posix()
    assert field in error.reason


def test_invalid_manifest_names_file(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("Some text.")
    (tmp_path / "kb-manifest.yaml").write_text("files:\n  a.txt:\n    country: Sweden\n")
    error = load(path).errors[0]
    assert isinstance(error, MetadataError)
    assert error.path.endswith("kb-manifest.yaml (files.a.txt)")
    assert "field country" in error.reason


def test_eu_style_country_codes_are_stored_as_iso(tmp_path: Path) -> None:
    from ingest.metadata import check_country
    from ingest.models import DocMeta
    from ingest.registry import load_path

    assert check_country(" el ") == "GR" and check_country("UK") == "GB" and check_country("eu") == "EU"
    assert DocMeta(country="EL").country == "GR"
    doc = tmp_path / "note.md"
    doc.write_text("# Note\n\nThe Greek network of municipalities.\n")
    (tmp_path / "note.md.meta.yaml").write_text("country: EL\nspeakers:\n- name: Eleni\n  country: EL\n")
    meta = load_path(doc, max_bytes=2**20, max_unzipped_bytes=2**20).docs[0].meta
    assert meta.country == "GR" and meta.speakers[0].country == "GR"
