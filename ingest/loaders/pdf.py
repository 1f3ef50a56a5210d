"""PDF loader on pypdf: paragraphs with pages, headings from font size, running lines dropped.

pypdf's ``visitor_text`` reports each piece of text with its font and position. Pieces are
gathered into lines, lines into blocks (a paragraph, a heading, a list item or a table
cell), and blocks become elements. Headings are lines set larger than the body text, or
entries of the PDF outline; their rank by size gives the level.
"""

from __future__ import annotations

import io
import logging
import time
from typing import Any

from pypdf import PasswordType, PdfReader

from ingest.errors import ParseError
from ingest.loaders.base import Parsed, SectionStack, TextBuilder
from ingest.loaders.pdf_layout import Block, Line, blocks_from_lines, running_lines, visitor_lines

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 120.0


class PdfTimeout(Exception):
    """Raised inside pypdf callbacks when a file takes longer than allowed."""


def load_pdf(name: str, data: bytes, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> Parsed:
    """Parse a PDF into paragraph, heading, list and table elements.

    Args:
        name: The file name used in error messages.
        data: The file's bytes.
        timeout_s: Wall-clock budget for the whole file.

    Returns:
        The parsed document with ``pages`` set and the core title/author in ``meta``.

    Raises:
        ParseError: Encrypted with a password, corrupt, no text layer or too slow.
    """
    try:
        return _load(name, data, time.monotonic() + timeout_s)
    except ParseError:
        raise
    except PdfTimeout:
        raise ParseError(name, f"PDF parsing took longer than {timeout_s:.0f} s") from None
    except RecursionError:
        raise ParseError(name, "corrupt PDF: object nesting too deep (reference loop?)") from None
    except Exception as exc:  # pypdf raises many types on damaged files
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise ParseError(name, f"corrupt PDF: {reason}") from None


def _load(name: str, data: bytes, deadline: float) -> Parsed:
    reader = PdfReader(io.BytesIO(data), strict=False)
    if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
        raise ParseError(name, "encrypted PDF needs a password")
    page_lines: list[list[Line]] = []
    heights: list[float] = []
    for number, page in enumerate(reader.pages, start=1):
        if time.monotonic() > deadline:
            raise PdfTimeout
        lines: list[Line] = []
        collector = visitor_lines(lines, number, _check(deadline))
        page.extract_text(visitor_text=collector)
        collector.finish()
        page_lines.append(lines)
        heights.append(float(page.mediabox.height))
    if not any(line.text.strip() for lines in page_lines for line in lines):
        raise ParseError(name, "no extractable text (scanned PDF?)")
    drop = running_lines(page_lines, heights)
    kept = [line for lines in page_lines for line in lines if id(line) not in drop]
    outline = _outline_levels(reader)
    builder = TextBuilder()
    stack = SectionStack()
    for block in blocks_from_lines(kept, outline):
        _add_block(builder, stack, block)
    meta: dict[str, Any] = {}
    info = _safe_info(reader)
    if info.get("title"):
        meta["title"] = info["title"]
    return builder.build(pages=len(reader.pages), meta=meta)


def _add_block(builder: TextBuilder, stack: SectionStack, block: Block) -> None:
    if block.level is not None:
        path = stack.enter(block.level, block.text)
        builder.add("title", block.text, section=path, page=block.page, level=block.level)
    else:
        builder.add(block.kind, block.text, section=stack.path, page=block.page)


def _check(deadline: float) -> Any:
    def check() -> None:
        if time.monotonic() > deadline:
            raise PdfTimeout

    return check


def _outline_levels(reader: Any) -> dict[str, int]:
    """Map normalised outline titles to levels (1 = top); empty when there is no outline."""
    levels: dict[str, int] = {}

    def walk(items: Any, depth: int) -> None:
        if depth > 20:
            return
        for item in items:
            if isinstance(item, list):
                walk(item, depth + 1)
            else:
                title = getattr(item, "title", None)
                if isinstance(title, str) and title.strip():
                    levels.setdefault(_norm(title), depth)

    try:
        walk(reader.outline, 1)
    except Exception as exc:  # a broken outline must not lose the text
        logger.debug("ignoring unreadable PDF outline: %s", type(exc).__name__)
    return levels


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def _safe_info(reader: Any) -> dict[str, str]:
    try:
        info = reader.metadata
        title = info.title if info is not None else None
    except Exception:
        return {}
    return {"title": title.strip()} if isinstance(title, str) and title.strip() else {}
