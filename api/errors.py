"""HTTP errors: one JSON shape, ``{"error": {"code", "message"}}``, for every failure.

The knowledge-base and ingest errors are mapped to statuses here and nowhere else.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from ingest.errors import FileTooLarge, IngestError, ParseError, UnsupportedFormat
from kb.errors import (
    BadQuery,
    DocumentNotFound,
    IndexNotReady,
    KBError,
    LlmUnavailable,
    ModelLoadError,
    ModelMismatch,
    StoreCorrupted,
    StoreUnavailable,
)

logger = logging.getLogger(__name__)


class ErrorBody(BaseModel):
    """What went wrong: a stable code and a sentence for people."""

    code: str
    message: str


class ErrorResponse(BaseModel):
    """The body of every error response."""

    error: ErrorBody


class ApiError(Exception):
    """An error raised inside api/ with its status, code and message."""

    def __init__(self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})
        super().__init__(message)


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
    503: "unavailable",
}

# Documented on every route: the statuses the handlers below can produce.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": code.replace("_", " ")}
    for status, code in _HTTP_CODES.items()
    if status in (400, 401, 403, 404, 422, 429, 503)
}


def error_json(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """Build an error response."""
    body = ErrorResponse(error=ErrorBody(code=code, message=message))
    return JSONResponse(body.model_dump(), status_code=status, headers=dict(headers or {}))


def map_error(exc: Exception) -> ApiError:
    """Translate a knowledge-base or ingest error into an HTTP error."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, BadQuery):
        return ApiError(400, "bad_query", str(exc))
    if isinstance(exc, DocumentNotFound):
        return ApiError(404, "not_found", str(exc) or "no such document")
    if isinstance(exc, FileTooLarge):
        return ApiError(413, "payload_too_large", exc.reason)
    if isinstance(exc, UnsupportedFormat):
        return ApiError(415, "unsupported_media_type", exc.reason)
    if isinstance(exc, ParseError):
        return ApiError(422, "parse_error", exc.reason)
    if isinstance(exc, ModelMismatch):
        return ApiError(503, "model_mismatch", str(exc))
    if isinstance(exc, IndexNotReady):
        return ApiError(503, "index_not_ready", str(exc) or "nothing is indexed yet")
    if isinstance(exc, StoreUnavailable | StoreCorrupted):
        return ApiError(503, "store_unavailable", str(exc) or "the knowledge store is unavailable")
    if isinstance(exc, ModelLoadError):
        return ApiError(503, "model_unavailable", str(exc) or "the embedding model cannot be loaded")
    if isinstance(exc, LlmUnavailable):
        return ApiError(503, "llm_unavailable", str(exc) or "the language model is unavailable")
    if isinstance(exc, KBError | IngestError):
        return ApiError(400, "bad_request", str(exc))
    return ApiError(500, "internal", "internal server error")


def _validation_message(errors: Sequence[Any]) -> str:
    parts = []
    for err in errors[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("query", "body", "path"))
        msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that give every error the same JSON shape and no stack trace."""

    async def api_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_json(exc.status, exc.code, exc.message, exc.headers)

    async def kb_error(request: Request, exc: Exception) -> JSONResponse:
        mapped = map_error(exc)
        if mapped.status >= 500:
            logger.warning("%s %s: %s", request.method, request.url.path, type(exc).__name__)
        return error_json(mapped.status, mapped.code, mapped.message)

    async def validation_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_json(422, "invalid_request", _validation_message(exc.errors()))

    async def http_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = _HTTP_CODES.get(exc.status_code, "error")
        detail = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        return error_json(exc.status_code, code, detail, exc.headers)

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_json(500, "internal", "internal server error")

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(KBError, kb_error)
    app.add_exception_handler(IngestError, kb_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
