"""How the indexer recognises what it has seen: a file's key and fingerprint, a document's
fingerprint, and the path users are shown for a file."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

from ingest.metadata import metadata_files
from ingest.models import SourceDoc


def file_fingerprint(path: Path, chunking: str = "") -> str:
    """Hash a file together with the metadata files that apply to it, and how it is chunked."""
    digest = hashlib.sha256(chunking.encode())
    for part in (path, *metadata_files(path)):
        digest.update(str(part.name).encode())
        digest.update(b"\x00")
        digest.update(part.read_bytes())
    return digest.hexdigest()


def doc_fingerprint(doc: SourceDoc, chunking: str = "") -> str:
    """Hash what a document's chunks depend on: its text, its metadata and how it is chunked."""
    payload = json.dumps(
        {
            "chunking": chunking,
            "text": doc.text,
            "title": doc.title,
            "meta": doc.meta.model_dump(mode="json"),
            "format": doc.format,
        },
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def file_key(path: Path) -> str:
    """The absolute path a file is known by in the store."""
    return path.resolve().as_posix()


def shown_path(path: Path, roots: Sequence[Path]) -> str:
    """The path users see: relative to the first of ``roots`` that holds it, else the file's name."""
    for root in roots:
        if path == root:
            continue
        try:
            return path.relative_to(root).as_posix()
        except ValueError:
            pass
        try:
            return path.resolve().relative_to(root.resolve()).as_posix()
        except (OSError, ValueError):
            continue
    return path.name
