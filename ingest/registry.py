"""From a path to documents: walk folders, sniff, pick a loader, merge metadata.

:func:`load_path` never raises for a bad file: it returns the error in
:class:`LoadResult` so a batch can report it and go on.
"""

from __future__ import annotations

import errno
import fnmatch
import hashlib
import logging
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingest import metadata
from ingest.errors import FileTooLarge, ParseError
from ingest.languages import DOCUMENT_CONFIDENCE, detect_language
from ingest.loaders.base import Parsed
from ingest.models import SourceDoc
from ingest.sniff import sniff

logger = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = frozenset(
    {".pdf", ".docx", ".pptx", ".vtt", ".srt", ".eml", ".html", ".htm", ".md", ".markdown", ".jsonl", ".txt"}
)


@dataclass
class LoadResult:
    """Documents parsed from one file, and the errors met on the way."""

    docs: list[SourceDoc] = field(default_factory=list)
    errors: list[ParseError] = field(default_factory=list)


def load_path(path: Path, *, max_bytes: int, max_unzipped_bytes: int, root: Path | None = None) -> LoadResult:
    """Parse one file into documents.

    Args:
        path: The file.
        max_bytes: Largest file size accepted.
        max_unzipped_bytes: Largest uncompressed size of a DOCX/PPTX.
        root: The folder ingestion started from; manifests between it and the file apply.

    Returns:
        The documents (several for JSONL) and the errors: a failed file gives one error and
        no documents; a JSONL file may give documents and per-line errors.
    """
    name = path.as_posix()
    try:
        external = metadata.external_meta(path, root)
        data = _read(path, name, max_bytes)
        sniffed = sniff(path, data)
        parsed, errors = _dispatch(name, data, sniffed.format, sniffed.text, external, max_unzipped_bytes)
        docs = [_to_doc(name, path, data, sniffed.format, p, external) for p in parsed]
    except ParseError as exc:
        logger.info("skipped %s: %s", name, exc.reason)
        return LoadResult(errors=[exc])
    except ImportError:
        raise
    except Exception as exc:  # a bug or a parser we did not expect to fail: report, don't crash
        logger.exception("unexpected failure on %s", name)
        return LoadResult(errors=[ParseError(name, f"unexpected {type(exc).__name__}: {exc}")])
    if not docs and not errors:
        errors = [ParseError(name, f"no documents found in this {sniffed.format.upper()} file")]
    return LoadResult(docs=docs, errors=errors)


def _read(path: Path, name: str, max_bytes: int) -> bytes:
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise FileTooLarge(name, f"file is {size} bytes, over the limit of {max_bytes}")
        with path.open("rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise ParseError(name, f"cannot read file: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise FileTooLarge(name, f"file is over the limit of {max_bytes} bytes")
    return data


def _dispatch(
    name: str, data: bytes, fmt: str, text: str | None, external: dict[str, Any], max_unzipped: int
) -> tuple[list[Parsed], list[ParseError]]:
    if fmt == "pdf":
        from ingest.loaders.pdf import load_pdf

        return [load_pdf(name, data)], []
    if fmt in ("vtt", "srt"):
        from ingest.loaders.transcript import load_transcript

        speakers = [p.name for p in external.get("speakers", [])]
        return [load_transcript(name, text or "", fmt, known_speakers=speakers)], []
    if fmt == "jsonl":
        from ingest.loaders.jsonl import load_jsonl

        return load_jsonl(name, data, text or "")
    from ingest.loaders.office import load_office

    return [load_office(name, data, fmt, text=text, max_unzipped_bytes=max_unzipped)], []


def _to_doc(name: str, path: Path, data: bytes, fmt: str, parsed: Parsed, external: dict[str, Any]) -> SourceDoc:
    if not parsed.elements:
        raise ParseError(name, "no text found")
    if parsed.doc_id is not None:  # JSONL: the line's own metadata, then the file's
        fields = metadata.merge(parsed.meta, {k: v for k, v in external.items() if k not in ("id", "title")})
        doc_id = parsed.doc_id
    else:
        fields = metadata.merge(external, parsed.meta)
        doc_id = fields.get("id") or "d" + hashlib.sha256(data).hexdigest()[:16]
    fields["id"] = doc_id
    if not fields.get("language"):
        fields["language"] = detect_language(parsed.text, min_confidence=DOCUMENT_CONFIDENCE, min_words=3)
    title = fields.get("title") or _first_title(parsed) or path.stem
    fields["title"] = title
    content = parsed.content if parsed.content is not None else data
    return SourceDoc(
        doc_id=doc_id,
        path=name,
        format=fmt,
        title=title,
        text=parsed.text,
        elements=parsed.elements,
        meta=metadata.build_meta(fields, name),
        content_sha256=hashlib.sha256(content).hexdigest(),
        pages=parsed.pages,
    )


def _first_title(parsed: Parsed) -> str | None:
    return next((el.text for el in parsed.elements if el.kind == "title"), None)


def iter_files(paths: Iterable[Path]) -> Iterator[Path | ParseError]:
    """Yield the files to ingest under ``paths``, in sorted order, or an error per bad entry.

    Folders are walked recursively. Hidden entries, metadata sidecars, manifests, files
    with unsupported suffixes and names matching a manifest's ``exclude:`` patterns are
    skipped; files named explicitly are always yielded.
    Symlinks are followed, but a loop or an unreadable entry yields a :class:`ParseError`.
    """
    for path in paths:
        try:
            info = path.stat()
        except OSError as exc:
            yield ParseError(path.as_posix(), _os_reason(exc))
            continue
        if stat.S_ISDIR(info.st_mode):
            yield from _walk(path, {(info.st_dev, info.st_ino)})
        else:
            yield path


def _walk(folder: Path, ancestors: set[tuple[int, int]]) -> Iterator[Path | ParseError]:
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        yield ParseError(folder.as_posix(), f"cannot read folder: {_os_reason(exc)}")
        return
    excluded = _excluded(folder)
    if isinstance(excluded, ParseError):
        yield excluded
        excluded = []
    for entry in entries:
        if _skipped(entry.name):
            continue
        path = folder / entry.name
        if any(fnmatch.fnmatchcase(entry.name, pattern.rstrip("/")) for pattern in excluded):
            logger.debug("excluded by manifest: %s", path)
            continue
        try:
            info = os.stat(path)
        except OSError as exc:
            yield ParseError(path.as_posix(), _os_reason(exc))
            continue
        if stat.S_ISDIR(info.st_mode):
            key = (info.st_dev, info.st_ino)
            if key in ancestors:
                yield ParseError(path.as_posix(), "symlink loop: points back to a parent folder")
                continue
            yield from _walk(path, ancestors | {key})
        elif stat.S_ISREG(info.st_mode) and path.suffix.lower() in SUPPORTED_SUFFIXES:
            # the ids open() will use: a process that dropped privileges must see its own limits
            if not os.access(path, os.R_OK, effective_ids=os.access in os.supports_effective_ids):
                yield ParseError(path.as_posix(), "cannot read file: permission denied")
                continue
            yield path


def _excluded(folder: Path) -> list[str] | ParseError:
    """Glob patterns of a folder manifest's ``exclude:`` list (names in that folder)."""
    manifest = folder / metadata.MANIFEST_NAME
    if not manifest.is_file():
        return []
    try:
        patterns = metadata.read_yaml(manifest).get("exclude") or []
    except ParseError as exc:
        return exc
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        return ParseError(manifest.as_posix(), "field exclude: must be a list of file name patterns")
    return patterns


def _skipped(name: str) -> bool:
    return name.startswith(".") or name.endswith(metadata.SIDECAR_SUFFIX) or name == metadata.MANIFEST_NAME


def _os_reason(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "symlink loop"
    return exc.strerror or str(exc)
