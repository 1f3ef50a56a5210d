"""The source viewer: a document's text and safe rendering as JSON, and the page that shows them.

A citation opens ``/documents/{doc_id}/view?at=START-END``; the page reads
``/documents/{doc_id}/content`` and highlights the span. Only originals inside the uploads
folder or a configured corpus folder are viewed, as for ``/documents/{doc_id}/file``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from api import files
from api.deps import KBDep, ReadAccess, ServicesDep
from api.errors import ERROR_RESPONSES, ApiError
from api.routers.documents import DocId
from kb.service import MB
from kb.viewer import DocumentView, SourceCache, open_view

router = APIRouter(tags=["documents"], responses=ERROR_RESPONSES)

VIEW_PAGE = Path(__file__).resolve().parents[1] / "static" / "view.html"
# One per process: entries are keyed by file path, size and modification time, so apps
# sharing the process (tests) cannot see each other's stale parses.
_parsed = SourceCache()


@router.get(
    "/documents/{doc_id}/content",
    response_model=DocumentView,
    summary="A document's text and rendering for the source viewer",
    responses={413: {"description": "file too large"}},
)
def get_content(kb: KBDep, services: ServicesDep, _: ReadAccess, doc_id: DocId) -> DocumentView:
    """Parse the original again and return its blocks, with the character spans citations use.

    Markdown and HTML originals also come as sanitised HTML. ``changed`` is true when the
    file no longer gives the indexed text, so highlighted spans may be off.
    """
    record = kb.documents.get(doc_id)
    s = services.settings
    path = files.servable(record.path, [s.files_dir, *s.corpus_dirs])
    if path is None:
        raise ApiError(404, "not_found", f"the original file of {doc_id!r} is not available")
    return open_view(
        record,
        path,
        kb.documents.chunks(doc_id),
        _parsed,
        max_bytes=int(s.max_file_mb * MB),
        max_unzipped_bytes=int(s.max_unzipped_mb * MB),
    )


@router.get("/documents/{doc_id}/view", include_in_schema=False)
def view_page() -> FileResponse:
    """The viewer page; it reads the document id from its own URL."""
    return FileResponse(VIEW_PAGE, media_type="text/html; charset=utf-8")
