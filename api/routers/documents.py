"""Documents: list, show, serve the original, upload, delete and reindex."""

from __future__ import annotations

import logging
from pathlib import Path as FsPath
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from api import files
from api.deps import KBDep, ReadAccess, Services, ServicesDep, UploadRate, write_access
from api.errors import ERROR_RESPONSES, ApiError, map_error
from api.params import FiltersDep
from api.schemas import Deleted, UploadResult
from api.uploads import receive_upload
from ingest.metadata import COUNTRY_CODES
from kb.documents import DocumentPage
from kb.models import DocRecord, IngestSummary
from kb.service import MB

logger = logging.getLogger(__name__)

router = APIRouter(tags=["documents"], responses=ERROR_RESPONSES)

DocId = Annotated[str, Path(max_length=200, description="Document id")]
UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "additionalProperties": False,
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "title": {"type": "string"},
                        "country": {
                            "type": "string",
                            "enum": list(COUNTRY_CODES),
                            "description": "ISO 3166 code, e.g. SE (EL is stored as GR)",
                        },
                        "language": {"type": "string", "description": "ISO 639-1 code, e.g. sv"},
                        "doc_type": {"type": "string"},
                        "audience": {"type": "string", "description": "comma-separated"},
                        "topics": {"type": "string", "description": "comma-separated"},
                        "date": {"type": "string", "format": "date"},
                    },
                }
            }
        },
    }
}


def _failed(services: Services, key: str, action: str, doc_id: str | None, exc: Exception) -> ApiError:
    """Audit a failed write and return the HTTP error to raise."""
    mapped = map_error(exc)
    if mapped.status >= 500:
        logger.error("%s failed", action, exc_info=exc)
    services.audit.write(key=key, action=action, doc_id=doc_id, outcome=f"error:{mapped.status}")
    return mapped


@router.get("/documents", response_model=DocumentPage, summary="Documents with facet counts")
def list_documents(
    kb: KBDep,
    _: ReadAccess,
    filters: FiltersDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> DocumentPage:
    """List documents matching the filters, with counts per country, type, language and audience.

    Each facet is counted with every filter except its own, so the choices stay visible.
    """
    return kb.documents.page(filters, limit=limit, offset=offset)


@router.get("/documents/{doc_id}", response_model=DocRecord, summary="One document's record")
def get_document(kb: KBDep, _: ReadAccess, doc_id: DocId) -> DocRecord:
    """Return what the index keeps about a document."""
    return kb.documents.get(doc_id)


@router.get(
    "/documents/{doc_id}/file",
    response_class=FileResponse,
    summary="The original file",
    responses={200: {"content": {"application/pdf": {}, "text/plain": {}}, "description": "The file"}},
)
def get_file(kb: KBDep, services: ServicesDep, _: ReadAccess, doc_id: DocId) -> FileResponse:
    """Serve the original, so a citation can open a PDF at ``#page=N``.

    Only files inside the uploads folder or a configured corpus folder are served.
    """
    record = kb.documents.get(doc_id)
    s = services.settings
    path = files.servable(record.path, [s.files_dir, *s.corpus_dirs])
    if path is None:
        raise ApiError(404, "not_found", f"the original file of {doc_id!r} is not available")
    headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=300"}
    if path.suffix.lower() != ".pdf":  # browsers' PDF viewers do not run in a sandbox
        headers["Content-Security-Policy"] = files.SANDBOX_CSP
    disposition = "attachment" if path.suffix.lower() in (".docx", ".pptx") else "inline"
    return FileResponse(
        path,
        media_type=files.content_type(path),
        headers=headers,
        filename=f"{doc_id}{path.suffix.lower()}",
        content_disposition_type=disposition,
    )


def _add(services: Services, stored: FsPath, name: str, titled: bool) -> IngestSummary:
    """Index an upload under the write lock (parsed once, in :meth:`kb.documents.Documents.add`)."""
    with services.write_lock:
        return services.kb.documents.add(stored, name=name, titled=titled)


@router.post(
    "/documents",
    response_model=UploadResult,
    status_code=201,
    summary="Upload and index one file",
    openapi_extra=UPLOAD_BODY,
    responses={413: {"description": "file too large"}, 415: {"description": "unsupported or mislabelled file"}},
)
async def upload(
    request: Request,
    services: ServicesDep,
    key: Annotated[str, Depends(write_access("upload"))],
    __: UploadRate,
) -> UploadResult:
    """Upload one file (multipart field ``file``) with optional metadata; store it by hash and index it.

    The stored name is the file's sha256 and the extension of its sniffed format; the
    uploaded name is kept only as metadata.
    """
    s = services.settings
    doc_id: str | None = None
    try:
        await run_in_threadpool(services.ensure_open)
        received = await receive_upload(request, s.files_dir / ".incoming", int(s.max_file_mb * MB))
        try:
            meta = files.metadata_fields(received)
            fmt, _data = await run_in_threadpool(files.sniff_upload, received)
        except Exception:
            received.tmp_path.unlink(missing_ok=True)
            raise
        existed = (s.files_dir / f"{received.sha256}{files.EXTENSIONS[fmt]}").exists()
        stored = files.store_upload(received, s.files_dir, fmt, meta)
        try:
            summary = await run_in_threadpool(_add, services, stored, received.filename, "title" in meta)
        except Exception:
            if not existed:
                files.remove_stored(stored)
            raise
        if summary.failed and not summary.doc_ids:
            if not existed:
                files.remove_stored(stored)
            raise ApiError(422, "parse_error", f"{received.filename}: {summary.failed[0].error}")
        doc_id = ",".join(summary.doc_ids) or None
    except Exception as exc:
        raise _failed(services, key, "upload", doc_id, exc) from None
    services.audit.write(key=key, action="upload", doc_id=doc_id, outcome="ok")
    logger.info("upload stored as %s: %s document(s)", stored.name, len(summary.doc_ids))
    return UploadResult(**summary.model_dump(), stored_as=stored.name, format=fmt, bytes=received.size)


@router.delete("/documents/{doc_id}", response_model=Deleted, summary="Delete a document")
def delete_document(
    kb: KBDep,
    services: ServicesDep,
    key: Annotated[str, Depends(write_access("delete"))],
    doc_id: DocId,
) -> Deleted:
    """Remove a document and its chunks; an uploaded original is removed with it."""
    try:
        with services.write_lock:
            record = kb.documents.delete(doc_id)
            removed = False
            path = FsPath(record.path)
            if files.under(path, [services.settings.files_dir]) and not kb.documents.file_in_use(path):
                removed = files.remove_stored(path)
    except Exception as exc:
        raise _failed(services, key, "delete", doc_id, exc) from None
    services.audit.write(key=key, action="delete", doc_id=doc_id, outcome="ok")
    return Deleted(doc_id=doc_id, deleted=True, file_removed=removed)


@router.post("/reindex", response_model=IngestSummary, summary="Re-ingest every indexed document's file")
def reindex(
    kb: KBDep,
    services: ServicesDep,
    key: Annotated[str, Depends(write_access("reindex"))],
) -> IngestSummary:
    """Re-ingest the file of every indexed document; changed files and sidecars are re-indexed,
    missing files are reported as failed."""
    try:
        roots = [services.settings.files_dir, *services.settings.corpus_dirs]
        with services.write_lock:
            summary = kb.documents.reindex(roots)
    except Exception as exc:
        raise _failed(services, key, "reindex", None, exc) from None
    files_seen = summary.added + summary.updated + summary.unchanged + len(summary.failed)
    services.audit.write(key=key, action="reindex", doc_id=None, outcome=f"ok:{files_seen} files")
    return summary
