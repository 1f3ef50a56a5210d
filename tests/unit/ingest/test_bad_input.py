"""Bad input gives one error that names the file and the reason, never a crash."""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from ingest.errors import FileTooLarge, ParseError, UnsupportedFormat
from ingest.registry import iter_files
from tests.unit.ingest.conftest import load, load_one, make_docx, make_pdf


def one_error(path: Path, **kwargs: object) -> ParseError:
    result = load(path, **kwargs)
    assert result.docs == []
    assert len(result.errors) == 1
    error = result.errors[0]
    assert str(error).startswith(path.as_posix() + ": ")
    assert "\n" not in str(error)
    return error


def test_zero_byte_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.pdf"
    path.write_bytes(b"")
    assert "empty file" in one_error(path).reason


def test_truncated_pdf(tmp_path: Path, pdf_file: Path) -> None:
    path = tmp_path / "truncated.pdf"
    path.write_bytes(pdf_file.read_bytes()[:700])
    error = one_error(path)
    assert type(error) is ParseError
    assert error.reason.startswith(("corrupt PDF", "no extractable text"))


def test_garbage_after_pdf_header(tmp_path: Path) -> None:
    path = tmp_path / "garbage.pdf"
    path.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 40)
    assert one_error(path).reason.startswith(("corrupt PDF", "no extractable text"))


def test_pdf_without_text_layer(tmp_path: Path) -> None:
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf)
    c.rect(100, 100, 200, 200, fill=1)
    c.showPage()
    c.save()
    path = tmp_path / "scan.pdf"
    path.write_bytes(buf.getvalue())
    assert one_error(path).reason == "no extractable text (scanned PDF?)"


def test_encrypted_pdf_with_empty_user_password_opens(tmp_path: Path) -> None:
    doc = load_one(make_pdf(tmp_path / "open.pdf", encrypt="owner-secret"))
    assert doc.pages == 3 and "Lessons learned" in doc.text


def test_encrypted_pdf_with_password_fails(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "locked.pdf", encrypt="owner-secret", user_password="user-secret")
    assert one_error(path).reason == "encrypted PDF needs a password"


def test_office_file_that_is_not_a_zip(tmp_path: Path) -> None:
    path = tmp_path / "notes.docx"
    path.write_text("just some text pretending to be a document")
    assert one_error(path).reason == "not a valid DOCX (not a zip archive)"


def test_zip_bomb(tmp_path: Path) -> None:
    path = tmp_path / "bomb.docx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("word/document.xml", b"\0" * 8_000_000)
    error = one_error(path)
    assert isinstance(error, FileTooLarge)
    assert error.reason.startswith("zip bomb suspected: compression ratio")
    error = one_error(path, max_unzipped_bytes=1_000_000)
    assert error.reason.startswith("zip bomb suspected: 8000")


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("elf.pdf", b"\x7fELF\x02\x01\x01" + b"\0" * 100, "content is an ELF executable, not PDF"),
        ("archive.pdf", None, "content is a zip archive, not PDF"),
        ("guide.docx", b"%PDF-1.4\n%...", "content is PDF, not DOCX"),
        ("slides.pptx", "docx", "content is DOCX, not PPTX"),
        ("text.pdf", b"hello, this is plain text", "content is text, not PDF"),
    ],
)
def test_lying_extension(tmp_path: Path, name: str, content: bytes | str | None, reason: str) -> None:
    path = tmp_path / name
    if content is None:
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("readme.txt", "hi")
    elif content == "docx":
        make_docx(tmp_path / "real.docx").rename(path)
    else:
        assert isinstance(content, bytes)
        path.write_bytes(content)
    error = one_error(path)
    assert isinstance(error, UnsupportedFormat)
    assert error.reason == reason


@pytest.mark.parametrize(
    ("encoding", "text"),
    [
        ("cp1250", "Zażółć gęślą jaźń. Miasta misyjne przygotowują kontrakty klimatyczne."),
        ("latin-1", "Les collectivités préparent leur contrat de ville climat. Été déjà réussi."),
    ],
)
def test_non_utf8_text_is_decoded(tmp_path: Path, encoding: str, text: str) -> None:
    path = tmp_path / "legacy.txt"
    path.write_bytes((text + "\n\n" + text + "\n").encode(encoding))
    doc = load_one(path)
    assert text in doc.text


def test_utf8_bom_is_stripped(tmp_path: Path) -> None:
    path = tmp_path / "bom.md"
    path.write_bytes("\ufeff# Titel\n\nDer Text des Leitfadens.\n".encode())
    doc = load_one(path)
    assert doc.text.startswith("Titel")


def test_file_over_size_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_text("x" * 2000)
    error = one_error(path, max_bytes=1000)
    assert isinstance(error, FileTooLarge)
    assert "over the limit of 1000" in error.reason


def test_binary_junk(tmp_path: Path) -> None:
    path = tmp_path / "junk.txt"
    path.write_bytes(os.urandom(4096) + b"\0")
    error = one_error(path)
    assert isinstance(error, UnsupportedFormat)
    assert error.reason == "content is binary data, not text"


@contextmanager
def unprivileged() -> Iterator[None]:
    """Run the block as ``nobody`` when the tests run as root (CI does): root reads any file."""
    if os.geteuid() != 0:
        yield
        return
    os.setegid(65534)
    os.seteuid(65534)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


def test_unreadable_file() -> None:
    folder = Path(tempfile.mkdtemp(prefix="kb-unreadable-"))  # under /tmp, so nobody may enter it
    try:
        folder.chmod(0o755)
        path = folder / "secret.txt"
        path.write_text("hidden")
        path.chmod(0)
        with unprivileged():
            assert "cannot read file" in one_error(path).reason
            assert [str(x) for x in iter_files([folder])] == [f"{path.as_posix()}: cannot read file: permission denied"]
    finally:
        shutil.rmtree(folder)


def test_unreadable_file_as_any_user(tmp_path: Path) -> None:
    path = tmp_path / "gone.txt"
    path.symlink_to(tmp_path / "missing-target.txt")
    assert "cannot read file" in one_error(path).reason


def test_symlink_loop_in_folder(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "a.txt").write_text("first file")
    (root / "sub" / "up").symlink_to(root, target_is_directory=True)
    (root / "self").symlink_to(root / "self")
    (root / ".hidden.txt").write_text("hidden")
    (root / "b.txt").write_text("second file")
    (root / "b.txt.meta.yaml").write_text("title: B\n")
    (root / "kb-manifest.yaml").write_text("defaults: {}\n")
    (root / "tool.exe").write_bytes(b"MZ")
    items = list(iter_files([root]))
    assert items[0] == root / "b.txt"
    assert isinstance(items[1], ParseError) and items[1].path == (root / "self").as_posix()
    assert "symlink loop" in items[1].reason
    assert items[2] == root / "sub" / "a.txt"
    assert isinstance(items[3], ParseError) and items[3].path == (root / "sub" / "up").as_posix()
    assert len(items) == 4


def test_manifest_exclude(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.md").write_text("# A")
    (tmp_path / "README.md").write_text("# Readme")
    (tmp_path / "keep.md").write_text("# Keep")
    (tmp_path / "kb-manifest.yaml").write_text("exclude: [src/, README.md]\n")
    assert list(iter_files([tmp_path])) == [tmp_path / "keep.md"]


def test_deeply_nested_html(tmp_path: Path) -> None:
    path = tmp_path / "deep.html"
    path.write_text("<html><body>" + "<div>" * 50_000 + "deep text" + "</div>" * 50_000 + "</body></html>")
    result = load(path)
    assert len(result.docs) + len(result.errors) == 1
    if result.errors:
        assert result.errors[0].path == path.as_posix()


def test_malformed_vtt_timestamp_names_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.vtt"
    path.write_text("WEBVTT\n\n1\n00:00:01.000 --> 00:00:04.000\nHello.\n\n2\n00:00:05,000 --> 00:00:09.000\nBye.\n")
    assert one_error(path).reason == "line 8: malformed timestamp '00:00:05,000'"


def test_srt_block_without_timing_names_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.srt"
    path.write_text("1\n00:00:01,000 --> 00:00:04,000\nHello.\n\n2\nno timing here\n")
    assert one_error(path).reason == "line 5: expected a cue timing line ('start --> end')"
