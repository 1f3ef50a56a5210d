"""DOCX, PPTX, HTML, Markdown, email and plain text through unstructured's partitioners.

unstructured's element types stay in this module: each element becomes one of ours, with
the heading path built from ``Title`` elements and their ``category_depth``, and the slide
number of PPTX elements as ``page``. Email headers are read with the standard library; the
body goes through ``partition_text`` or ``partition_html``.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import io
import logging
import re
from email.message import EmailMessage
from typing import Any

import yaml

from ingest.errors import FileTooLarge, ParseError
from ingest.loaders.base import Parsed, SectionStack, TextBuilder
from ingest.loaders.unstructured_offline import unstructured_partition
from ingest.loaders.zipguard import check_zip, core_title
from ingest.metadata import parse_yaml, validate
from ingest.models import ElementKind

logger = logging.getLogger(__name__)
# unstructured logs the text it classifies (at DEBUG and its own DETAIL level); document text
# must never reach logs, whatever level the application runs at.
logging.getLogger("unstructured").setLevel(logging.WARNING)

_FRONT_MATTER = re.compile(r"\A\ufeff?---[ \t]*\n(.*?\n)---[ \t]*(?:\n|\Z)", re.DOTALL)
_SKIP = {"PageBreak", "Image", "Header", "Footer", "PageNumber"}
_KINDS: dict[str, ElementKind] = {"Title": "title", "ListItem": "list_item", "Table": "table"}
OFFICE_FORMATS = ("docx", "pptx", "html", "markdown", "eml", "text")


def load_office(name: str, data: bytes, fmt: str, *, text: str | None = None, max_unzipped_bytes: int) -> Parsed:
    """Parse one DOCX, PPTX, HTML, Markdown, EML or plain-text file.

    Args:
        name: The file name for error messages.
        data: The file's bytes.
        fmt: One of :data:`OFFICE_FORMATS`.
        text: The decoded text, for text formats.
        max_unzipped_bytes: Limit on the uncompressed size of DOCX/PPTX.

    Returns:
        The parsed document; ``meta`` holds the core title, or the subject, date and sender
        of an email.

    Raises:
        ParseError: Not a zip, unparseable or nested too deeply.
        FileTooLarge: A DOCX/PPTX that looks like a zip bomb.
    """
    meta: dict[str, Any] = {}
    if fmt in ("docx", "pptx"):
        check_zip(name, data, fmt.upper(), max_unzipped_bytes)
        title = core_title(data)
        if title:
            meta["title"] = title
    try:
        elements = _partition(name, fmt, data, text, meta)
    except (ParseError, FileTooLarge):
        raise
    except RecursionError:
        raise ParseError(name, f"cannot parse {fmt.upper()}: nesting too deep") from None
    except ImportError:
        raise
    except Exception as exc:  # unstructured and its parsers raise many types on bad input
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise ParseError(name, f"cannot parse {fmt.upper()}: {reason}") from None
    parsed = _build(elements, slides=fmt == "pptx")
    parsed.meta.update(meta)
    return parsed


def _partition(name: str, fmt: str, data: bytes, text: str | None, meta: dict[str, Any]) -> list[Any]:
    unstructured_partition()
    if fmt == "docx":
        from unstructured.partition.docx import partition_docx

        return list(partition_docx(file=io.BytesIO(data)))
    if fmt == "pptx":
        from unstructured.partition.pptx import partition_pptx

        return list(partition_pptx(file=io.BytesIO(data)))
    if fmt == "eml":
        body, is_html = _email(data, meta)
        return _partition(name, "html" if is_html else "text", data, body, meta) if body.strip() else []
    source = text if text is not None else data.decode("utf-8", "replace")
    if not source.strip():
        return []
    if fmt == "html":
        from unstructured.partition.html import partition_html

        return list(partition_html(text=source))
    if fmt == "markdown":
        from unstructured.partition.md import partition_md

        source = _front_matter(name, source, meta)
        return list(partition_md(text=source)) if source.strip() else []
    from unstructured.partition.text import partition_text

    return list(partition_text(text=source))


def _front_matter(name: str, source: str, meta: dict[str, Any]) -> str:
    """Move a leading YAML front matter block into ``meta`` and return the rest."""
    match = _FRONT_MATTER.match(source)
    if not match:
        return source
    try:
        data = parse_yaml(match.group(1))
    except yaml.YAMLError:
        return source
    if not isinstance(data, dict):
        return source
    meta.update(validate(data, f"{name} (front matter)"))
    return source[match.end() :]


def _email(data: bytes, meta: dict[str, Any]) -> tuple[str, bool]:
    """Read headers into ``meta``; return the body (HTML preferred, for its headings) and whether it is HTML."""
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    subject = str(msg.get("Subject", "") or "").strip()
    if subject:
        meta["title"] = " ".join(subject.split())
    date = msg.get("Date")
    if date:
        try:
            meta["date"] = email.utils.parsedate_to_datetime(str(date)).date()
        except (TypeError, ValueError):
            logger.debug("ignoring unparseable email Date header")
    sender = msg.get("From")
    if sender:
        display, address = email.utils.parseaddr(str(sender))
        if display or address:
            # A sender is often a mailing list or an organisation, not a person to credit as
            # an author: it is kept as the message's source.
            meta["source"] = f"{display} <{address}>" if display and address else (display or address)
    part = msg.get_body(preferencelist=("html", "plain"))
    if part is None:
        return "", False
    try:
        content = part.get_content()
    except (LookupError, UnicodeDecodeError, KeyError):
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    return str(content).replace("\r\n", "\n"), part.get_content_subtype() == "html"


def _build(elements: list[Any], *, slides: bool) -> Parsed:
    builder = TextBuilder()
    stack = SectionStack()
    last_page = 0
    slide_titled: set[int] = set()
    for el in elements:
        category = getattr(el, "category", "")
        text = getattr(el, "text", "") or ""
        if category in _SKIP or not text.strip():
            continue
        md = el.metadata
        page = md.page_number if slides else None
        last_page = max(last_page, page or 0)
        kind = _KINDS.get(category, "text")
        if slides and kind == "title":
            # A slide has one heading, its title; unstructured also calls short bullet lines
            # "Title", which would otherwise nest bullets as sections of each other.
            if page in slide_titled:
                builder.add("list_item", text, section=stack.path, page=page)
                continue
            slide_titled.add(page or 0)
            path = stack.enter(1, text)
            builder.add("title", text, section=path, page=page, level=1)
        elif kind == "title":
            depth = md.category_depth if isinstance(md.category_depth, int) else 0
            path = stack.enter(depth + 1, text)
            builder.add("title", text, section=path, page=page, level=depth + 1)
        elif kind == "table":
            table = _table_text(getattr(md, "text_as_html", None)) or text
            builder.add("table", table, section=stack.path, page=page)
        else:
            builder.add(kind, text, section=stack.path, page=page)
    return builder.build(pages=last_page or None if slides else None)


def _table_text(html: str | None) -> str | None:
    """Rows of an HTML table as lines of cells joined by `` | ``."""
    if not html:
        return None
    import lxml.html

    try:
        root = lxml.html.fromstring(html)
    except (ValueError, TypeError, Exception):
        return None
    rows = []
    for tr in root.iter("tr"):
        cells = [" ".join(cell.text_content().split()) for cell in tr if cell.tag in ("td", "th")]
        if any(cells):
            rows.append(" | ".join(cells))
    return "\n".join(rows) or None
