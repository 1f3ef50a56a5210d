"""Layout analysis for the PDF loader: pieces of text -> lines -> blocks.

Works on what pypdf's ``visitor_text`` reports (text, matrices, font), so it needs no
other PDF library.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from ingest.models import ElementKind

logger = logging.getLogger(__name__)

_MARKER = re.compile(r"^(?:\d{1,3}[.)]?|[a-zA-Z][.)]|[•●▪‣◦∙·*–-])$")
_INLINE_BULLET = re.compile(r"^[•●▪‣◦∙]\s+")
_BOLD = ("bold", "black", "heavy", "semibold", "demi")
_MARGIN = 0.08


@dataclass
class Line:
    """One line of text on a page, with the style of most of its characters."""

    text: str
    page: int
    x: float
    y: float
    size: float
    bold: bool


@dataclass
class Block:
    """A paragraph, heading, list item or table built from consecutive lines."""

    kind: ElementKind
    page: int
    x: float
    y: float
    size: float
    bold: bool
    lines: list[str] = field(default_factory=list)
    level: int | None = None
    marker: str | None = None

    @property
    def text(self) -> str:
        """The block's lines joined with single spaces (the marker of a numbered item first)."""
        if self.kind == "table":
            return "\n".join(self.lines)
        body = " ".join(" ".join(self.lines).split())
        if self.marker and self.marker[0].isalnum():
            marker = self.marker if self.marker[-1] in ".)" else self.marker + "."
            return f"{marker} {body}"
        return body


class LineCollector:
    """A ``visitor_text`` callback that gathers the pieces of one page into lines."""

    def __init__(self, out: list[Line], page: int, check: Callable[[], None]) -> None:
        """Append the lines of page ``page`` to ``out``; ``check`` may raise to abort."""
        self._out = out
        self._page = page
        self._check = check
        self._pieces: list[tuple[str, float, float, float, bool]] = []

    def __call__(self, text: str, cm: Sequence[float], tm: Sequence[float], font: Any, size: float) -> None:
        """Receive one piece of text from pypdf."""
        self._check()
        if not text:
            return
        m = _mult(tm, cm)
        scaled = abs(size) * (math.hypot(m[2], m[3]) or 1.0)
        bold = _is_bold(font)
        parts = text.split("\n")
        for i, part in enumerate(parts):
            if part:
                self._pieces.append((part, m[4], m[5], scaled, bold))
            if i < len(parts) - 1:
                self.finish()

    def finish(self) -> None:
        """Close the line being gathered (call once more after the page)."""
        pieces, self._pieces = self._pieces, []
        text = " ".join("".join(p[0] for p in pieces).replace("\u00ad", "").split())
        if not text:
            return
        weight: Counter[float] = Counter()
        bold_chars = 0
        for part, _, _, size, bold in pieces:
            n = len(part.strip())
            weight[round(size * 2) / 2] += n
            bold_chars += n if bold else 0
        total = sum(weight.values()) or 1
        first = next(p for p in pieces if p[0].strip()) if any(p[0].strip() for p in pieces) else pieces[0]
        self._out.append(
            Line(
                text=text,
                page=self._page,
                x=min(p[1] for p in pieces),
                y=first[2],
                size=weight.most_common(1)[0][0],
                bold=bold_chars >= 0.9 * total,
            )
        )


def visitor_lines(out: list[Line], page: int, check: Callable[[], None]) -> LineCollector:
    """Return a collector for page ``page``; call its ``finish`` after extraction."""
    return LineCollector(out, page, check)


def _mult(m: Sequence[float], n: Sequence[float]) -> list[float]:
    return [
        m[0] * n[0] + m[1] * n[2],
        m[0] * n[1] + m[1] * n[3],
        m[2] * n[0] + m[3] * n[2],
        m[2] * n[1] + m[3] * n[3],
        m[4] * n[0] + m[5] * n[2] + n[4],
        m[4] * n[1] + m[5] * n[3] + n[5],
    ]


def _is_bold(font: Any) -> bool:
    try:
        name = str(font.get("/BaseFont", "")) if font else ""
    except Exception:
        return False
    return any(word in name.lower() for word in _BOLD)


def running_lines(pages: Sequence[Sequence[Line]], heights: Sequence[float]) -> set[int]:
    """Return ids of header/footer lines: in the top or bottom margin and repeating on most pages.

    Digits are ignored when comparing, so "Page 3" and "Page 4" count as the same line.
    """
    if len(pages) < 2:
        return set()
    seen: dict[str, set[int]] = {}
    where: dict[str, list[int]] = {}
    for number, (lines, height) in enumerate(zip(pages, heights, strict=True)):
        for line in lines:
            if _MARGIN * height < line.y < (1 - _MARGIN) * height:
                continue
            key = re.sub(r"\d+", "#", line.text.casefold())
            seen.setdefault(key, set()).add(number)
            where.setdefault(key, []).append(id(line))
    needed = max(2, math.ceil(0.5 * len(pages)))
    return {i for key, pages_with in seen.items() if len(pages_with) >= needed for i in where[key]}


def blocks_from_lines(lines: Sequence[Line], outline: dict[str, int]) -> list[Block]:
    """Group lines into blocks: headings, list items, table rows and paragraphs."""
    if not lines:
        return []
    body = _body_size(lines)
    heading_sizes = sorted({ln.size for ln in lines if ln.size >= body + 1.0}, reverse=True)
    rank = {size: i + 1 for i, size in enumerate(heading_sizes)}
    leading = _leading(lines)
    blocks: list[Block] = []
    prev: Line | None = None
    pending_marker: str | None = None
    for line in lines:
        if _MARKER.match(line.text) and line.size <= body + 0.5:
            pending_marker = line.text
            prev = line
            continue
        heading = _is_heading(line, body, outline)
        current = blocks[-1] if blocks else None
        starts_item = pending_marker is not None or bool(_INLINE_BULLET.match(line.text))
        if current is None or starts_item or _breaks(prev, line, current, heading, leading):
            kind: ElementKind = "list_item" if starts_item else ("title" if heading else "text")
            current = Block(kind, line.page, line.x, line.y, line.size, line.bold, marker=pending_marker)
            if heading:
                current.level = rank.get(line.size, len(rank) + 1)
            blocks.append(current)
        current.lines.append(_INLINE_BULLET.sub("", line.text))
        pending_marker = None
        prev = line
    for block in blocks:
        if block.level is not None and _norm(block.text) in outline:
            block.level = outline[_norm(block.text)]
    return _merge_table_rows(blocks)


def _breaks(prev: Line | None, line: Line, block: Block, heading: bool, leading: dict[float, float]) -> bool:
    if prev is None or line.page != prev.page or heading != (block.kind == "title"):
        return True
    if abs(line.size - prev.size) > 0.6 or (heading and line.bold != prev.bold):
        return True
    gap = prev.y - line.y
    if abs(gap) <= 1.0 and line.x > prev.x + 1.0:
        return True  # another cell on the same baseline
    usual = leading.get(prev.size, 1.3 * prev.size)
    return gap < -1.0 or gap > max(usual * 1.25, usual + 2.0)


def _is_heading(line: Line, body: float, outline: dict[str, int]) -> bool:
    if not any(c.isalpha() for c in line.text) or len(line.text) > 200:
        return False
    if line.size >= body + 1.0 or _norm(line.text) in outline:
        return True
    return line.bold and line.size >= body - 0.1 and len(line.text) <= 80 and line.text[-1] not in ".,;:"


def _body_size(lines: Sequence[Line]) -> float:
    weight: Counter[float] = Counter()
    for line in lines:
        weight[line.size] += len(line.text)
    return weight.most_common(1)[0][0]


def _leading(lines: Sequence[Line]) -> dict[float, float]:
    """The most common baseline distance between consecutive lines of each font size."""
    gaps: dict[float, Counter[float]] = {}
    for a, b in pairwise(lines):
        gap = a.y - b.y
        if a.page == b.page and a.size == b.size and 0.5 * a.size < gap < 3 * a.size:
            gaps.setdefault(a.size, Counter())[round(gap, 1)] += 1
    return {size: c.most_common(1)[0][0] for size, c in gaps.items()}


def _merge_table_rows(blocks: list[Block]) -> list[Block]:
    """Join cells that start on the same baseline into one table block per run of rows."""
    out: list[Block] = []
    i = 0
    while i < len(blocks):
        row = _row_at(blocks, i)
        if len(row) < 2:
            out.append(blocks[i])
            i += 1
            continue
        table = Block("table", row[0].page, row[0].x, row[0].y, row[0].size, False)
        while len(row) >= 2:
            table.lines.append(" | ".join(cell.text for cell in row))
            i += len(row)
            row = _row_at(blocks, i)
            if row and row[0].page != table.page:
                break
        out.append(table)
    return out


def _row_at(blocks: list[Block], i: int) -> list[Block]:
    if i >= len(blocks) or blocks[i].kind == "title":
        return []
    row = [blocks[i]]
    for block in blocks[i + 1 :]:
        last = row[-1]
        if block.kind == "title" or block.page != last.page or abs(block.y - last.y) > 1.5 or block.x <= last.x:
            break
        row.append(block)
    return row


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()
