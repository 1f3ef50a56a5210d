"""Dependencies: the services built in the lifespan, exposed to routers as typed aliases."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from api.errors import ApiError, map_error
from api.security import (
    AuditLog,
    RateLimiter,
    check_read,
    check_write,
    client_identity,
    key_id,
    matches,
    presented_key,
)
from kb.errors import KBError
from kb.service import KnowledgeBase
from kb.settings import Settings


@dataclass
class Services:
    """Everything the routers use, built once by the lifespan and kept on ``app.state.services``."""

    settings: Settings
    kb: KnowledgeBase
    audit: AuditLog
    ask_limit: RateLimiter
    upload_limit: RateLimiter
    write_lock: threading.Lock = field(default_factory=threading.Lock)
    ready: bool = False
    _open_lock: threading.Lock = field(default_factory=threading.Lock)

    def ensure_open(self) -> None:
        """Open the store once; a store that failed at start-up is retried on the next request."""
        if self.ready:
            return
        with self._open_lock:
            if not self.ready:
                self.kb.open()
                self.ready = True


def get_services(request: Request) -> Services:
    """The services of the running app."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_settings(services: ServicesDep) -> Settings:
    """The app's settings."""
    return services.settings


def get_kb(services: ServicesDep) -> KnowledgeBase:
    """The knowledge base, its store opened (503 when it cannot be)."""
    try:
        services.ensure_open()
    except KBError as exc:
        raise map_error(exc) from None
    return services.kb


SettingsDep = Annotated[Settings, Depends(get_settings)]
KBDep = Annotated[KnowledgeBase, Depends(get_kb)]


def read_access(request: Request, services: ServicesDep) -> str | None:
    """Check the read key when ``KB_READ_API_KEYS`` is set; return the caller's key id if any."""
    s = services.settings
    return check_read(request, s.read_api_keys, s.api_keys)


ReadAccess = Annotated[str | None, Depends(read_access)]


def write_access(action: str) -> Callable[[Request, Services], str]:
    """A dependency that authorises a write and audits refusals under ``action``."""

    def dependency(request: Request, services: ServicesDep) -> str:
        try:
            return check_write(request, services.settings.api_keys)
        except ApiError as exc:
            key = presented_key(request)
            doc_id = request.path_params.get("doc_id")
            services.audit.write(
                key=key_id(key) if key else None, action=action, doc_id=doc_id, outcome=f"denied:{exc.status}"
            )
            raise

    return dependency


def _valid_key(request: Request, services: Services) -> str | None:
    """The presented key when it is a configured one (made-up keys count against the client IP)."""
    key = presented_key(request)
    s = services.settings
    return key if key and matches(key, s.read_api_keys + s.api_keys) else None


def ask_rate(request: Request, services: ServicesDep) -> None:
    """Count a request against the /ask and /compare limit."""
    services.ask_limit.check(client_identity(request, _valid_key(request, services)))


def upload_rate(request: Request, services: ServicesDep) -> None:
    """Count a request against the upload limit."""
    services.upload_limit.check(client_identity(request, _valid_key(request, services)))


AskRate = Annotated[None, Depends(ask_rate)]
UploadRate = Annotated[None, Depends(upload_rate)]
