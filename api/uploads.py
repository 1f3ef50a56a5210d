"""Receive a multipart upload as a stream, stopping as soon as the file passes the size limit.

Starlette's ``request.form()`` spools a whole file before a handler can look at it; this
parser writes the file part to a temporary file while counting, so an oversized upload is
refused after ``max_bytes`` + one network chunk, never read to the end.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import unicodedata
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from fastapi import Request
from python_multipart.multipart import MultipartParser, parse_options_header

from api.errors import ApiError

logger = logging.getLogger(__name__)

FIELDS = ("title", "country", "language", "doc_type", "audience", "topics", "date")
MAX_FIELD_BYTES = 4096
MAX_NAME_CHARS = 200
MAX_HEADER_BYTES = 16 * 1024
# Room for multipart headers and metadata fields on top of the file itself.
ENVELOPE_BYTES = 64 * 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass
class Received:
    """An upload written to a temporary file, with its hash and form fields."""

    tmp_path: Path
    filename: str
    size: int
    sha256: str
    fields: dict[str, str] = field(default_factory=dict)


def safe_name(raw: str) -> str:
    """The last path component of an uploaded name, without control characters, bounded in length.

    The result is only ever used as text (a title, a suffix hint), never as a path.
    """
    name = unicodedata.normalize("NFC", _CONTROL.sub("", raw))
    name = re.split(r"[\\/]", name)[-1].strip().lstrip(".")
    if len(name) > MAX_NAME_CHARS:
        stem, dot, suffix = name.rpartition(".")
        name = (stem[: MAX_NAME_CHARS - 12] + dot + suffix[:10]) if dot and len(suffix) <= 10 else name[:MAX_NAME_CHARS]
    return name or "upload"


class _Parts:
    """python-multipart callbacks collecting one file part and small text fields."""

    def __init__(self, tmp_dir: Path, max_bytes: int) -> None:
        self.tmp_dir = tmp_dir
        self.max_bytes = max_bytes
        self.fields: dict[str, str] = {}
        self.file: IO[bytes] | None = None
        self.tmp_path: Path | None = None
        self.filename = ""
        self.size = 0
        self.digest = hashlib.sha256()
        self.too_large = False
        self.error: ApiError | None = None
        self._header_field = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._name = ""
        self._is_file = False
        self._value = bytearray()
        self._in_file = False

    def on_part_begin(self) -> None:
        self._headers = {}
        self._value = bytearray()
        self._in_file = False

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._header_field.lower()] = self._header_value
        self._header_field = b""
        self._header_value = b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        self._is_file = b"filename" in options or self._name == "file"
        if self._is_file:
            if self._name != "file" or self.file is not None:
                self._fail(ApiError(422, "invalid_request", "send exactly one file, in the form field 'file'"))
                return
            self.filename = safe_name(options.get(b"filename", b"").decode("utf-8", "replace"))
            self.tmp_dir.mkdir(parents=True, exist_ok=True)
            self.tmp_path = self.tmp_dir / f"{uuid.uuid4().hex}.part"
            self.file = self.tmp_path.open("wb")
            self._in_file = True
        elif self._name not in FIELDS:
            self._fail(ApiError(422, "invalid_request", f"unknown form field {self._name[:40]!r}"))

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.error is not None:
            return
        piece = data[start:end]
        if self._in_file and self.file is not None:
            self.size += len(piece)
            if self.size > self.max_bytes:
                self.too_large = True
                return
            self.digest.update(piece)
            self.file.write(piece)
        else:
            self._value += piece
            if len(self._value) > MAX_FIELD_BYTES:
                self._fail(ApiError(422, "invalid_request", f"form field {self._name!r} is too long"))

    def on_part_end(self) -> None:
        if self._in_file:
            self._in_file = False
        elif self.error is None and self._name in FIELDS:
            self.fields[self._name] = _CONTROL.sub(" ", self._value.decode("utf-8", "replace")).strip()

    def _fail(self, error: ApiError) -> None:
        if self.error is None:
            self.error = error

    def close(self) -> None:
        if self.file is not None:
            self.file.close()

    def discard(self) -> None:
        self.close()
        if self.tmp_path is not None:
            self.tmp_path.unlink(missing_ok=True)


async def receive_upload(request: Request, tmp_dir: Path, max_bytes: int) -> Received:
    """Stream a ``multipart/form-data`` upload into ``tmp_dir``.

    Raises:
        ApiError: 415 when the body is not multipart, 413 past ``max_bytes``, 422 for a
            malformed body, a missing file or an unknown field.
    """
    ctype, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise ApiError(415, "unsupported_media_type", "send the file as multipart/form-data in the field 'file'")
    limit_mb = max_bytes / 2**20
    too_large = ApiError(413, "payload_too_large", f"the file is larger than the limit of {limit_mb:g} MB")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes + ENVELOPE_BYTES:
        raise too_large
    parts = _Parts(tmp_dir, max_bytes)
    callbacks = {
        name: getattr(parts, name)
        for name in (
            "on_part_begin",
            "on_part_data",
            "on_part_end",
            "on_header_field",
            "on_header_value",
            "on_header_end",
            "on_headers_finished",
        )
    }
    parser = MultipartParser(boundary, callbacks, max_header_size=MAX_HEADER_BYTES)  # type: ignore[arg-type]
    body = 0
    try:
        async for chunk in request.stream():
            body += len(chunk)
            parser.write(chunk)
            if parts.too_large or body > max_bytes + ENVELOPE_BYTES:
                raise too_large
            if parts.error is not None:
                raise parts.error
        parser.finalize()
    except ApiError:
        parts.discard()
        raise
    except Exception as exc:  # python-multipart raises its own errors on malformed bodies
        parts.discard()
        logger.info("malformed multipart body: %s", type(exc).__name__)
        raise ApiError(422, "invalid_request", "malformed multipart body") from None
    parts.close()
    if parts.tmp_path is None:
        raise ApiError(422, "invalid_request", "no file: send it in the form field 'file'")
    os.chmod(parts.tmp_path, 0o644)
    return Received(parts.tmp_path, parts.filename, parts.size, parts.digest.hexdigest(), parts.fields)
