"""Decide a file's format from its content; the extension only chooses among text formats."""

from __future__ import annotations

import io
import logging
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ingest.errors import ParseError, UnsupportedFormat

logger = logging.getLogger(__name__)

BINARY_FORMATS = ("pdf", "docx", "pptx")
TEXT_SUFFIXES = {
    ".html": "html",
    ".htm": "html",
    ".md": "markdown",
    ".markdown": "markdown",
    ".jsonl": "jsonl",
    ".vtt": "vtt",
    ".srt": "srt",
    ".eml": "eml",
    ".txt": "text",
}
FORMAT_NAMES = {
    "pdf": "PDF",
    "docx": "DOCX",
    "pptx": "PPTX",
    "vtt": "WebVTT",
    "srt": "SRT",
    "eml": "email",
    "html": "HTML",
    "markdown": "Markdown",
    "jsonl": "JSONL",
    "text": "text",
}
_SUFFIX_FORMAT = {".pdf": "pdf", ".docx": "docx", ".pptx": "pptx", **TEXT_SUFFIXES}
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x7fELF", "an ELF executable"),
    (b"MZ", "a Windows executable"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"BZh", "a bzip2 archive"),
    (b"\xfd7zXZ", "an xz archive"),
    (b"7z\xbc\xaf", "a 7z archive"),
    (b"Rar!", "a RAR archive"),
    (b"\xd0\xcf\x11\xe0", "a legacy OLE2 Office file (doc/ppt/xls)"),
    (b"{\\rtf", "RTF"),
)
_PREFERRED = ("cp1254", "cp1252", "cp1250", "cp1251", "cp1253", "cp1257", "iso8859_15", "iso8859_2")
_CANDIDATES = (*_PREFERRED, "iso8859_7", "iso8859_9", "iso8859_13", "koi8_r", "koi8_u", "utf_16", "latin_1")
_CHAOS_TOLERANCE = 0.07
_SRT_START = re.compile(r"\A\s*\d+\s*\r?\n\s*\d{1,2}:\d{2}:\d{2}[,.]\d{1,3}\s*-->")
_HEADER_LINE = re.compile(r"^([A-Za-z][A-Za-z0-9-]*):[ \t]?(.*)$")
_EMAIL_HEADERS = {"from", "to", "subject", "date", "message-id", "mime-version", "cc", "return-path"}
_HTML_START = re.compile(r"\A\s*(<!--.*?-->\s*)*<(!doctype\s+html|html[\s>])", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class Sniffed:
    """The outcome of sniffing: a format, and the decoded text for text formats."""

    format: str
    text: str | None = None


def sniff(path: Path, data: bytes) -> Sniffed:
    """Decide the format of ``data`` read from ``path``.

    Args:
        path: The file's path; only its suffix is used, to choose among text formats.
        data: The file's bytes.

    Returns:
        The format (pdf, docx, pptx, vtt, srt, eml, html, markdown, jsonl, text) and the
        decoded text for text formats.

    Raises:
        ParseError: Empty file, undecodable text or an Office file that is not a zip.
        UnsupportedFormat: Binary content no loader reads, or content that contradicts the
            extension.
    """
    name = str(path)
    if not data:
        raise ParseError(name, "empty file (0 bytes)")
    claimed = _SUFFIX_FORMAT.get(path.suffix.lower())
    actual = _binary_kind(name, data, claimed)
    if actual is not None:
        if claimed is not None and claimed != actual:
            raise UnsupportedFormat(name, f"content is {FORMAT_NAMES[actual]}, not {FORMAT_NAMES[claimed]}")
        return Sniffed(actual)
    for magic, what in _MAGIC:
        if data.startswith(magic):
            expected = FORMAT_NAMES.get(claimed or "", "a supported format")
            raise UnsupportedFormat(name, f"content is {what}, not {expected}")
    if claimed in ("docx", "pptx"):
        raise ParseError(name, f"not a valid {FORMAT_NAMES[claimed]} (not a zip archive)")
    text = decode_text(name, data)
    if claimed == "pdf":
        raise UnsupportedFormat(name, "content is text, not PDF")
    return Sniffed(_text_kind(text, claimed), text)


def _binary_kind(name: str, data: bytes, claimed: str | None) -> str | None:
    """Return pdf/docx/pptx when the bytes are one of them, else None."""
    if b"%PDF-" in data[:1024]:
        return "pdf"
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                names = set(zf.namelist())
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            what = FORMAT_NAMES.get(claimed or "", "zip")
            raise ParseError(name, f"not a valid {what} (corrupt zip archive: {exc})") from None
        if "word/document.xml" in names:
            return "docx"
        if "ppt/presentation.xml" in names:
            return "pptx"
        expected = FORMAT_NAMES.get(claimed or "", "DOCX or PPTX")
        raise UnsupportedFormat(name, f"content is a zip archive, not {expected}")
    return None


def decode_text(name: str, data: bytes) -> str:
    """Decode text: UTF-8 (BOM stripped), UTF-16 with BOM, else charset-normalizer.

    Raises:
        UnsupportedFormat: The bytes look binary.
        ParseError: No encoding decodes them.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return _check_textual(name, data.decode("utf-16"))
        except UnicodeDecodeError:
            pass
    if b"\x00" in data[:8192]:
        raise UnsupportedFormat(name, "content is binary data, not text")
    try:
        return _check_textual(name, data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    results = list(from_bytes(data, cp_isolation=list(_CANDIDATES)))
    if not results:
        raise ParseError(name, "undecodable text (not UTF-8 and no other encoding fits)")
    # Short texts fit several code pages about equally well; among the near-best, prefer
    # the Windows code pages of the languages we serve (cp1254 equals cp1252 on every letter
    # of Western European languages and adds Turkish).
    least = min(r.chaos for r in results)
    close = [r for r in results if r.chaos <= least + _CHAOS_TOLERANCE]
    best = min(close, key=lambda r: _rank(r.encoding))
    logger.debug("decoded %s as %s", name, best.encoding)
    return _check_textual(name, str(best))


def _check_textual(name: str, text: str) -> str:
    """Reject decoded 'text' that is mostly control characters."""
    sample = text[:8192]
    controls = sum(1 for c in sample if ord(c) < 32 and c not in "\t\n\r\f\v")
    if sample and controls / len(sample) > 0.02:
        raise UnsupportedFormat(name, "content is binary data, not text")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _text_kind(text: str, claimed: str | None) -> str:
    """Choose a text format from strong content signals, then from the extension."""
    head = text.lstrip("\ufeff")
    if head.startswith("WEBVTT"):
        return "vtt"
    if claimed in ("vtt", "srt", "jsonl", "eml"):
        return claimed
    if _SRT_START.match(head):
        return "srt"
    if claimed in ("html", "markdown"):
        return claimed
    if _looks_like_email(head):
        return "eml"
    if _HTML_START.match(head):
        return "html"
    return claimed or "text"


def _looks_like_email(text: str) -> bool:
    """True when the text opens with an RFC 5322 header block naming at least two mail headers."""
    seen: set[str] = set()
    for line in text.split("\n", 60)[:60]:
        if not line.strip():
            break
        if line[0] in " \t":
            continue
        match = _HEADER_LINE.match(line)
        if not match:
            return False
        seen.add(match.group(1).lower())
    return len(seen & _EMAIL_HEADERS) >= 2 and bool(seen & {"from", "subject"})


def _rank(encoding: str) -> int:
    return _PREFERRED.index(encoding) if encoding in _PREFERRED else len(_PREFERRED)
