"""Checks on Office zip containers before any parser opens them."""

from __future__ import annotations

import io
import logging
import xml.etree.ElementTree as ET
import zipfile

from ingest.errors import FileTooLarge, ParseError

logger = logging.getLogger(__name__)

MAX_ENTRIES = 10_000
MAX_RATIO = 200.0
_RATIO_FLOOR = 1_000_000  # small archives may compress well without being suspicious
_DC = "{http://purl.org/dc/elements/1.1/}"


def check_zip(name: str, data: bytes, fmt: str, max_unzipped_bytes: int) -> None:
    """Refuse a DOCX/PPTX that is not a zip or looks like a zip bomb.

    Args:
        name: The file name for error messages.
        data: The file's bytes.
        fmt: ``"DOCX"`` or ``"PPTX"``, for error messages.
        max_unzipped_bytes: Upper bound on the total uncompressed size.

    Raises:
        ParseError: Not a zip archive.
        FileTooLarge: Too big once unzipped, too many entries or an extreme compression ratio.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise ParseError(name, f"not a valid {fmt} (not a zip archive)") from None
    if len(infos) > MAX_ENTRIES:
        raise FileTooLarge(name, f"zip bomb suspected: {len(infos)} entries (limit {MAX_ENTRIES})")
    total = sum(i.file_size for i in infos)
    packed = sum(i.compress_size for i in infos) or 1
    if total > max_unzipped_bytes:
        raise FileTooLarge(name, f"zip bomb suspected: {total} bytes uncompressed (limit {max_unzipped_bytes})")
    if total > _RATIO_FLOOR and total / packed > MAX_RATIO:
        raise FileTooLarge(name, f"zip bomb suspected: compression ratio {total / packed:.0f}:1")


def core_title(data: bytes) -> str | None:
    """Return ``dc:title`` from ``docProps/core.xml`` of an Office file, if any."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            if "docProps/core.xml" not in zf.namelist():
                return None
            info = zf.getinfo("docProps/core.xml")
            if info.file_size > 1_000_000:
                return None
            root = ET.fromstring(zf.read(info))
    except (zipfile.BadZipFile, OSError, ValueError, ET.ParseError):
        return None
    node = root.find(f"{_DC}title")
    title = (node.text or "").strip() if node is not None else ""
    return title or None
