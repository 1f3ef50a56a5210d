"""A document as the source viewer shows it: ordered blocks with spans, and safe HTML for Markdown and HTML.

Citations and hits point into ``SourceDoc.text`` with character spans. The viewer re-parses
the original file, so its blocks carry the same spans as the indexed chunks, and checks the
indexed chunks against the fresh text to tell when the file changed after indexing.

Markdown is rendered with markdown-it (raw HTML off) and every rendering goes through nh3
(ammonia): no scripts, styles, frames, forms, images or event handlers, and links only to
http, https and mailto addresses.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import nh3
import yaml
from markdown_it import MarkdownIt
from pydantic import BaseModel

from ingest.errors import ParseError
from ingest.metadata import parse_yaml
from ingest.models import Chunk, DocMeta, Element, SourceDoc
from ingest.registry import load_path
from ingest.sniff import decode_text
from kb.errors import DocumentNotFound
from kb.models import DocRecord

logger = logging.getLogger(__name__)

RENDERED_FORMATS = ("markdown", "html")
CACHE_FILES = 8
# The YAML front matter the Markdown loader moves into metadata; it is not document text.
_FRONT_MATTER = re.compile(r"\A\ufeff?---[ \t]*\n(.*?\n)---[ \t]*(?:\n|\Z)", re.DOTALL)
_TAGS = set(nh3.ALLOWED_TAGS) - {"img", "map", "area"}
# Dropped with everything inside them: code, styles, embedded documents and the <head> title.
_DROPPED = {"script", "style", "title", "noscript", "template", "iframe", "object", "embed", "svg", "math", "head"}
_ATTRIBUTES = {
    "a": {"href", "hreflang"},
    "ol": {"start"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
}


class DocumentView(BaseModel):
    """What the source viewer needs to show a document and highlight a span of it."""

    doc_id: str
    title: str
    format: str
    meta: DocMeta  # the document's metadata, as parsing gives it
    pages: int | None = None
    blocks: list[Element]  # the parsed elements, with the spans citations point into
    html: str | None = None  # sanitised rendering of a Markdown or HTML source
    changed: bool = False  # the file no longer gives the indexed text: spans may be off


@dataclass(frozen=True)
class LoadedFile:
    """A parsed original: its documents, and the safe HTML rendering when it is Markdown or HTML."""

    docs: list[SourceDoc]
    html: str | None


def build_view(doc: SourceDoc, *, html: str | None = None, changed: bool = False) -> DocumentView:
    """The view of a parsed document.

    Args:
        doc: The parsed document.
        html: Its sanitised rendering, for Markdown and HTML sources.
        changed: Whether its text differs from what was indexed.

    Returns:
        The view, one block per element, in document order.
    """
    return DocumentView(
        doc_id=doc.doc_id,
        title=doc.title,
        format=doc.format,
        meta=doc.meta,
        pages=doc.pages,
        blocks=list(doc.elements),
        html=html,
        changed=changed,
    )


def render_html(fmt: str, source: str) -> str:
    """Safe HTML for a Markdown or HTML source.

    Args:
        fmt: ``"markdown"`` or ``"html"``.
        source: The decoded file.

    Returns:
        An HTML fragment without scripts, styles, frames, forms, images or event handlers,
        whose links are absolute http, https or mailto addresses opening in a new tab.
    """
    if fmt == "markdown":
        source = (
            MarkdownIt("commonmark", {"html": False})
            .enable(["table", "strikethrough"])
            .render(_without_front_matter(source))
        )
    return nh3.clean(
        source,
        tags=_TAGS,
        clean_content_tags=_DROPPED,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        url_relative="deny",
        link_rel="noopener noreferrer nofollow",
        set_tag_attribute_values={"a": {"target": "_blank"}},
    )


def _without_front_matter(source: str) -> str:
    match = _FRONT_MATTER.match(source)
    if not match:
        return source
    try:
        fields = parse_yaml(match.group(1))
    except yaml.YAMLError:  # not YAML: the loader keeps it as text, so does the rendering
        return source
    return source[match.end() :] if isinstance(fields, dict) else source


class SourceCache:
    """Parsed originals, the last few kept, so that repeated views of a big PDF are not re-parsed.

    An entry is keyed by path and used only while the file's size and modification time
    are those it was parsed with.
    """

    def __init__(self, size: int = CACHE_FILES) -> None:
        """Keep up to ``size`` files."""
        self.size = size
        self._files: OrderedDict[str, tuple[tuple[int, int, int, int], LoadedFile]] = OrderedDict()
        self._lock = threading.Lock()

    def load(self, path: Path, *, max_bytes: int, max_unzipped_bytes: int) -> LoadedFile:
        """Parse ``path`` (or reuse its last parse) as ingestion does.

        Args:
            path: The original file.
            max_bytes: Largest file size accepted.
            max_unzipped_bytes: Largest uncompressed size of a DOCX/PPTX.

        Returns:
            The file's documents, and the safe HTML of a Markdown or HTML file.

        Raises:
            ParseError: The file cannot be read or parsed (``FileTooLarge`` over the limits).
        """
        key = path.as_posix()
        try:
            info = path.stat()
        except OSError as exc:
            raise ParseError(path.name, f"cannot read file: {exc.strerror or exc}") from None
        stamp = (info.st_size, info.st_mtime_ns, max_bytes, max_unzipped_bytes)
        with self._lock:
            cached = self._files.get(key)
            if cached is not None and cached[0] == stamp:
                self._files.move_to_end(key)
                return cached[1]
        loaded = _parse(path, max_bytes, max_unzipped_bytes)
        with self._lock:
            self._files[key] = (stamp, loaded)
            self._files.move_to_end(key)
            while len(self._files) > self.size:
                self._files.popitem(last=False)
        return loaded


def _parse(path: Path, max_bytes: int, max_unzipped_bytes: int) -> LoadedFile:
    result = load_path(path, max_bytes=max_bytes, max_unzipped_bytes=max_unzipped_bytes)
    if not result.docs:
        raise result.errors[0] if result.errors else ParseError(path.name, "no text found")
    html = None
    fmt = result.docs[0].format
    if len(result.docs) == 1 and fmt in RENDERED_FORMATS:
        html = render_html(fmt, decode_text(path.name, path.read_bytes()))
    logger.info("parsed %s for viewing: %d documents", result.docs[0].doc_id, len(result.docs))
    return LoadedFile(docs=result.docs, html=html)


def open_view(
    record: DocRecord,
    path: Path,
    indexed: Sequence[Chunk],
    cache: SourceCache,
    *,
    max_bytes: int,
    max_unzipped_bytes: int,
) -> DocumentView:
    """The view of an indexed document, parsed afresh from its original.

    Args:
        record: The document's registry record.
        path: Its original file, already checked to be one the caller may read.
        indexed: The document's indexed chunks; a chunk whose text is no longer at its span
            in the fresh parse marks the view as changed.
        cache: Where parsed files are kept between views.
        max_bytes: Largest file size accepted.
        max_unzipped_bytes: Largest uncompressed size of a DOCX/PPTX.

    Returns:
        The view, under the record's id and title.

    Raises:
        DocumentNotFound: The file holds several documents and none with the record's id.
        ParseError: The file cannot be parsed any more.
    """
    loaded = cache.load(path, max_bytes=max_bytes, max_unzipped_bytes=max_unzipped_bytes)
    doc = next((d for d in loaded.docs if d.doc_id == record.doc_id), None)
    if doc is None and len(loaded.docs) == 1:
        doc = loaded.docs[0]  # a file without an id of its own gets a new one when its bytes change
    if doc is None:
        raise DocumentNotFound(f"document {record.doc_id!r} is no longer in its file")
    text = doc.text
    changed = doc.doc_id != record.doc_id or any(text[c.span.start : c.span.end] != c.text for c in indexed)
    view = build_view(doc, html=loaded.html, changed=changed)
    return view.model_copy(update={"doc_id": record.doc_id, "title": record.title})
