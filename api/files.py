"""Where originals live: uploads stored by content hash, and the only files the API will serve."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from api.uploads import Received
from ingest.metadata import sidecar_path, validate, write_sidecar
from ingest.registry import SUPPORTED_SUFFIXES
from ingest.sniff import sniff

logger = logging.getLogger(__name__)

EXTENSIONS = {
    "pdf": ".pdf",
    "docx": ".docx",
    "pptx": ".pptx",
    "vtt": ".vtt",
    "srt": ".srt",
    "eml": ".eml",
    "html": ".html",
    "markdown": ".md",
    "jsonl": ".jsonl",
    "text": ".txt",
}
CONTENT_TYPES = {
    ".pdf": "application/pdf",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
}
# Served documents never run scripts or load anything, even HTML uploaded by anyone.
SANDBOX_CSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def sniff_upload(received: Received) -> tuple[str, bytes]:
    """Decide the upload's format from its bytes; the uploaded name's suffix only chooses among text formats.

    Raises:
        UnsupportedFormat: Content no loader reads, or content contradicting the suffix.
        ParseError: Empty or undecodable content.
    """
    data = received.tmp_path.read_bytes()
    suffix = Path(received.filename).suffix.lower()
    hint = Path("upload" + (suffix if suffix in SUPPORTED_SUFFIXES else ""))
    return sniff(hint, data).format, data


def metadata_fields(received: Received) -> dict[str, Any]:
    """The upload's metadata form fields as sidecar fields, validated like any sidecar.

    Raises:
        MetadataError: A field has a bad value (unknown country, language or type, bad date).
    """
    raw: dict[str, Any] = {}
    for key, value in received.fields.items():
        if not value:
            continue
        if key in ("audience", "topics"):
            raw[key] = [v.strip() for v in value.split(",") if v.strip()]
        else:
            raw[key] = value
    fields = validate(raw, "upload metadata")
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in fields.items()}


def store_upload(received: Received, files_dir: Path, fmt: str, meta: dict[str, Any]) -> Path:
    """Move the upload to ``files_dir/<sha256><ext>`` and write its metadata sidecar next to it.

    The uploaded name never becomes a path: it is kept only as ``original_name`` in the sidecar.
    """
    files_dir.mkdir(parents=True, exist_ok=True)
    dest = files_dir / f"{received.sha256}{EXTENSIONS[fmt]}"
    if dest.exists():
        received.tmp_path.unlink(missing_ok=True)
    else:
        os.replace(received.tmp_path, dest)
    write_sidecar(dest, {**meta, "original_name": received.filename})
    return dest


def remove_stored(path: Path) -> bool:
    """Delete an uploaded file and its sidecar; True when the file existed."""
    existed = path.is_file()
    path.unlink(missing_ok=True)
    sidecar_path(path).unlink(missing_ok=True)
    return existed


def under(path: Path, roots: list[Path]) -> bool:
    """True when ``path`` (symlinks resolved) is inside one of ``roots``."""
    try:
        resolved = path.resolve(strict=True)
    except (OSError, RuntimeError):
        return False
    for root in roots:
        try:
            if resolved.is_relative_to(root.resolve()):
                return True
        except (OSError, RuntimeError):
            continue
    return False


def servable(path_text: str, roots: list[Path]) -> Path | None:
    """The file behind a document record if it is a regular file inside an allowed root, else None."""
    if not path_text or "\x00" in path_text:
        return None
    path = Path(path_text)
    if not path.is_absolute() or not under(path, roots):
        return None
    resolved = path.resolve()
    return resolved if resolved.is_file() else None


def content_type(path: Path) -> str:
    """The Content-Type a stored original is served with; text formats are plain text."""
    return CONTENT_TYPES.get(path.suffix.lower(), "text/plain; charset=utf-8")
