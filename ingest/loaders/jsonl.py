"""JSON Lines collections: one document per line, BEIR ``corpus.jsonl`` as it is.

Each line needs an id (``_id`` or ``id``) and a ``text``; ``title`` becomes a title element
before the text. Other fields, and those inside a ``metadata`` object, become metadata:
known fields are validated, the rest go to ``extra``. A bad line becomes an error for that
line while the other lines load.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from ingest.errors import ParseError
from ingest.loaders.base import Parsed, TextBuilder
from ingest.metadata import DOC_ID_RE, validate

logger = logging.getLogger(__name__)

_BLANK_LINES = re.compile(r"\n\s*\n")


def load_jsonl(name: str, data: bytes, text: str) -> tuple[list[Parsed], list[ParseError]]:
    """Parse a JSONL file into one document per non-empty line.

    Args:
        name: The file name for error messages.
        data: The file's bytes (each document keeps the bytes of its own line).
        text: The decoded file.

    Returns:
        The documents and one :class:`ParseError` per bad line, named ``"{name}:{line}"``.
    """
    docs: list[Parsed] = []
    errors: list[ParseError] = []
    raw_lines = data.split(b"\n")
    text_lines = text.split("\n")
    for number, line in enumerate(text_lines, start=1):
        if not line.strip():
            continue
        where = f"{name}:{number}"
        try:
            doc = _parse_line(where, line)
        except ParseError as exc:
            errors.append(exc if exc.path == where else ParseError(where, exc.reason))
            continue
        if len(raw_lines) == len(text_lines):
            doc.content = raw_lines[number - 1].rstrip(b"\r")
        else:
            doc.content = line.encode("utf-8")
        docs.append(doc)
    if errors:
        logger.warning("%s: %d of %d lines failed", name, len(errors), len(errors) + len(docs))
    return docs, errors


def _parse_line(where: str, line: str) -> Parsed:
    try:
        record = json.loads(line)
    except (json.JSONDecodeError, RecursionError) as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "nesting too deep"
        raise ParseError(where, f"invalid JSON: {reason}") from None
    if not isinstance(record, dict):
        raise ParseError(where, "a line must be a JSON object")
    doc_id = record.pop("_id", None)
    plain_id = record.pop("id", None)
    doc_id = doc_id if doc_id is not None else plain_id
    if doc_id is None or isinstance(doc_id, bool) or not isinstance(doc_id, str | int):
        raise ParseError(where, "missing id (_id or id)")
    doc_id = str(doc_id)
    if not DOC_ID_RE.fullmatch(doc_id):
        raise ParseError(where, f"invalid id {doc_id!r}")
    body = record.pop("text", None)
    if not isinstance(body, str) or not body.strip():
        raise ParseError(where, "missing text")
    title = record.pop("title", None)
    title = title.strip() if isinstance(title, str) else ""
    fields: dict[str, Any] = {}
    nested = record.pop("metadata", None)
    if isinstance(nested, dict):
        fields.update(nested)
    elif nested not in (None, "", []):
        fields["metadata"] = nested
    fields.update(record)
    if title:
        fields["title"] = title
    meta = validate(fields, where)
    builder = TextBuilder()
    if title:
        builder.add("title", title, section=(title,), level=1)
    section = (title,) if title else ()
    for paragraph in _BLANK_LINES.split(body):
        builder.add("text", paragraph, section=section)
    return builder.build(meta=meta, doc_id=doc_id)
