"""API keys, rate limits and the audit log of writes.

Keys are compared in constant time against every configured key; only a short hash of a
key (its *key id*) is ever logged or written to the audit log.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import math
import re
import threading
import time
from collections import deque
from pathlib import Path

from fastapi import Request

from api.errors import ApiError

logger = logging.getLogger(__name__)

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*(s|sec|second|m|min|minute|h|hour|d|day)s?\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}
_UNIT_SECONDS |= {"d": 86400, "day": 86400}
MAX_KEY_CHARS = 512


def key_id(key: str) -> str:
    """The first 8 hex digits of the key's sha256: enough to tell keys apart, useless to an attacker."""
    return hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()[:8]


def presented_key(request: Request) -> str | None:
    """The key sent as ``Authorization: Bearer KEY`` or ``X-API-Key: KEY``, if any."""
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()[:MAX_KEY_CHARS]
    header = request.headers.get("x-api-key", "").strip()
    return header[:MAX_KEY_CHARS] or None


def matches(key: str, keys: list[str]) -> bool:
    """Constant-time membership: every configured key is compared, whatever matches first."""
    given = key.encode("utf-8", "replace")
    found = False
    for candidate in keys:
        found |= hmac.compare_digest(given, candidate.encode("utf-8", "replace"))
    return found


_MISSING = "missing API key: send it as 'Authorization: Bearer KEY' or 'X-API-Key: KEY'"
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def check_write(request: Request, write_keys: list[str]) -> str:
    """Authorise a write; return the caller's key id.

    Raises:
        ApiError: 403 when writes are disabled or the key is wrong, 401 when it is missing.
    """
    if not write_keys:
        raise ApiError(403, "writes_disabled", "write endpoints are disabled: set KB_API_KEYS")
    key = presented_key(request)
    if key is None:
        raise ApiError(401, "unauthorized", _MISSING, _CHALLENGE)
    if not matches(key, write_keys):
        raise ApiError(403, "forbidden", "this API key is not valid for write endpoints")
    return key_id(key)


def check_read(request: Request, read_keys: list[str], write_keys: list[str]) -> str | None:
    """Authorise a read when read keys are configured; return the key id if a key was sent.

    Raises:
        ApiError: 401 when a key is required and missing, 403 when it is wrong.
    """
    key = presented_key(request)
    if not read_keys:
        return None
    if key is None:
        raise ApiError(401, "unauthorized", _MISSING, _CHALLENGE)
    if not matches(key, read_keys + write_keys):
        raise ApiError(403, "forbidden", "this API key is not valid")
    return key_id(key)


def parse_rate(spec: str) -> tuple[int, float]:
    """Parse ``"60/minute"``, ``"5/10s"`` or ``"1000/day"`` into (requests, window seconds).

    Raises:
        ValueError: The text is not a rate.
    """
    match = _RATE.match(spec)
    if not match:
        raise ValueError(f"invalid rate limit {spec!r}: expected e.g. '60/minute'")
    count, multiple, unit = int(match.group(1)), match.group(2), match.group(3).lower()
    window = _UNIT_SECONDS[unit] * (int(multiple) if multiple else 1)
    if count < 1 or window < 1:
        raise ValueError(f"invalid rate limit {spec!r}: count and window must be positive")
    return count, float(window)


class RateLimiter:
    """An in-process sliding-window limiter: at most ``count`` hits per ``window`` seconds per identity."""

    def __init__(self, spec: str, max_identities: int = 10_000) -> None:
        self.count, self.window = parse_rate(spec)
        self.max_identities = max_identities
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, identity: str, now: float | None = None) -> float | None:
        """Record a request; return None when allowed, else the seconds to wait."""
        now = time.monotonic() if now is None else now
        with self._lock:
            times = self._hits.get(identity)
            if times is None:
                if len(self._hits) >= self.max_identities:
                    self._prune(now)
                times = self._hits.setdefault(identity, deque())
            while times and times[0] <= now - self.window:
                times.popleft()
            if len(times) >= self.count:
                return max(times[0] + self.window - now, 0.001)
            times.append(now)
            return None

    def _prune(self, now: float) -> None:
        stale = [k for k, t in self._hits.items() if not t or t[-1] <= now - self.window]
        for k in stale:
            del self._hits[k]
        if len(self._hits) >= self.max_identities:  # still full: forget the oldest identity
            oldest = min(self._hits, key=lambda k: self._hits[k][-1])
            del self._hits[oldest]

    def check(self, identity: str) -> None:
        """Raise a 429 :class:`ApiError` with ``Retry-After`` when over the limit."""
        wait = self.hit(identity)
        if wait is not None:
            seconds = max(1, math.ceil(wait))
            raise ApiError(
                429,
                "rate_limited",
                f"too many requests: the limit is {self.count} per {int(self.window)} s; retry in {seconds} s",
                {"Retry-After": str(seconds)},
            )


def client_identity(request: Request, key: str | None) -> str:
    """Who a rate limit counts against: the key id when a key was sent, else the client IP."""
    if key:
        return "key:" + key_id(key)
    host = request.client.host if request.client else "unknown"
    return "ip:" + host


class AuditLog:
    """Append-only JSON lines recording every write: time, key id, action, document, outcome."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def write(self, *, key: str | None, action: str, doc_id: str | None, outcome: str, detail: str = "") -> None:
        """Append one entry; failures to write are logged, never raised to the caller."""
        entry = {
            "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            "key_id": key,
            "action": action,
            "doc_id": doc_id,
            "outcome": outcome,
        }
        if detail:
            entry["detail"] = detail[:300]
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        with self._lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a", encoding="utf-8") as fh:
                    fh.write(line)
            except OSError as exc:
                logger.error("cannot write audit log %s: %s", self.path, exc)
