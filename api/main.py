"""The composition root of the HTTP API: ``create_app(settings)``.

The lifespan builds the knowledge base once, opens the store and warms the model, then
keeps the services on ``app.state.services``; routers reach them through ``api.deps``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import Services
from api.errors import install_error_handlers
from api.routers import ask, documents, health, search, speakers, viewer
from api.security import AuditLog, RateLimiter
from kb import __version__
from kb.errors import KBError
from kb.remote import address_path, advertise, withdraw
from kb.service import KnowledgeBase
from kb.settings import Settings, get_settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'; object-src 'none'"
)


class SecurityHeaders:
    """Add ``nosniff`` everywhere and a strict Content-Security-Policy to the page and its assets."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        page = path == "/" or path.startswith("/static/") or (path.startswith("/documents/") and path.endswith("/view"))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                if b"x-content-type-options" not in names:
                    headers.append((b"x-content-type-options", b"nosniff"))
                headers.append((b"referrer-policy", b"no-referrer"))
                if page and b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", PAGE_CSP.encode()))
                    headers.append((b"x-frame-options", b"DENY"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def configure_logging() -> None:
    """Log to stderr at INFO unless the process (the CLI, uvicorn) already configured logging."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def create_app(settings: Settings, kb: KnowledgeBase | None = None, address: str | None = None) -> FastAPI:
    """Build the FastAPI app.

    Args:
        settings: The configuration (keys, limits, data directory...).
        kb: A knowledge base to serve instead of building one from ``settings`` (tests);
            the app then does not close it at shutdown.
        address: The URL this server answers on. While it runs with the embedded store, the
            URL is recorded next to the store (:mod:`kb.remote`), so that ``kb search`` and the
            other read commands go through this server instead of failing on the store's lock.

    Returns:
        The app, with the web page at ``/`` and OpenAPI at ``/docs``.

    Raises:
        ValueError: A rate limit in ``settings`` cannot be parsed.
    """
    configure_logging()
    ask_limit = RateLimiter(settings.rate_limit_ask)
    upload_limit = RateLimiter(settings.rate_limit_upload)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        started = time.perf_counter()
        owned = kb is None
        base = kb if kb is not None else KnowledgeBase(settings)
        services = Services(
            settings=settings,
            kb=base,
            audit=AuditLog(settings.data_dir / "audit.log"),
            ask_limit=ask_limit,
            upload_limit=upload_limit,
        )
        app.state.services = services
        try:
            services.ensure_open()
            base.embedder.embed_queries(["warm-up"])
            logger.info("ready in %.1f s: model %s", time.perf_counter() - started, base.embedder.model_id)
        except KBError as exc:  # keep serving: requests answer 503 and retry opening
            logger.error("knowledge base not ready: %s", exc)
        if not settings.api_keys:
            logger.warning("write endpoints are disabled: set KB_API_KEYS to enable uploads")
        record = address_path(settings.store_dir, settings.collection)
        if address and not settings.qdrant_url:
            advertise(record, address)
        try:
            yield
        finally:
            if address and not settings.qdrant_url:
                withdraw(record)
            if owned:
                base.close()

    app = FastAPIOffline(
        title="capacities-kb",
        version=__version__,
        description=(
            "Multilingual search and cited answers over CapaCITIES learning materials. "
            "Write endpoints need an API key (Authorization: Bearer KEY or X-API-Key)."
        ),
        lifespan=lifespan,
        docs_url="/docs",  # Swagger UI 5 from the package's own assets: the page must work offline
        redoc_url=None,
        static_url="/docs-assets",
    )
    install_error_handlers(app)
    for module in (health, search, ask, speakers, viewer, documents):
        app.include_router(module.router)

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type"],
        )
    app.add_middleware(SecurityHeaders)
    return app


def factory() -> FastAPI:
    """The app from environment settings, for ``uvicorn --factory api.main:factory``."""
    return create_app(get_settings())
