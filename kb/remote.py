"""The CLI's way to a running ``kb serve``: the address file next to the store, and a small HTTP client.

The embedded store belongs to one process at a time. While ``kb serve`` holds it, the server
records its address in ``<store dir>/<collection>.server.json`` (next to the store's folder
and its lock), and read commands (``kb search|ask|compare|speakers|docs|stats``) go through
its HTTP API instead of failing on the lock. The file names the server's process; a file
whose process is gone, or whose server does not answer, is ignored.

Only the standard library is imported here, so such a command starts without torch or Qdrant.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from kb.errors import BadQuery, DocumentNotFound, KBError, StoreUnavailable

TIMEOUT_S = 120.0  # an answer on a busy 2-core server can take a while


def address_path(store_dir: Path, collection: str) -> Path:
    """Where the server serving ``collection`` from ``store_dir`` records its address."""
    return Path(store_dir) / f"{collection}.server.json"


def advertise(path: Path, url: str) -> None:
    """Record that this process serves the store at ``url`` (written atomically)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"url": url, "pid": os.getpid()}), encoding="utf-8")
    tmp.replace(path)


def withdraw(path: Path) -> None:
    """Remove the address file if this process wrote it."""
    try:
        if json.loads(path.read_text(encoding="utf-8")).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def running_server(path: Path) -> str | None:
    """The URL of the live server recorded in ``path``, or ``None``."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        pid, url = int(record["pid"]), str(record["url"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:  # alive, owned by another user
        pass
    return url


class ServerUnreachable(KBError):
    """The recorded server did not answer; the caller falls back to the store itself."""


class RemoteKB:
    """Calls the HTTP API of a running ``kb serve``; answers are the API's JSON.

    Args:
        url: The server's base URL, e.g. ``http://127.0.0.1:8000``.
        api_key: Sent as ``X-API-Key`` when the server requires keys for reading.
    """

    def __init__(self, url: str, api_key: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.api_key = api_key

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """GET ``path`` with query parameters (lists become repeated parameters)."""
        query = urllib.parse.urlencode(
            [
                (k, v)
                for k, vs in (params or {}).items()
                for v in (vs if isinstance(vs, list) else [vs])
                if v is not None
            ]
        )
        return self._call(urllib.request.Request(f"{self.url}{path}" + (f"?{query}" if query else "")))

    def post(self, path: str, body: dict[str, Any]) -> Any:
        """POST a JSON body to ``path``."""
        data = json.dumps(body).encode("utf-8")
        request = urllib.request.Request(f"{self.url}{path}", data=data, method="POST")
        request.add_header("Content-Type", "application/json")
        return self._call(request)

    def _call(self, request: urllib.request.Request) -> Any:
        if self.api_key:
            request.add_header("X-API-Key", self.api_key)
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # the recorded server's own URL
                return json.loads(response.read())
        except urllib.error.HTTPError as err:
            raise _error(err) from err
        except (urllib.error.URLError, ConnectionError, TimeoutError) as err:
            raise ServerUnreachable(f"the server at {self.url} does not answer ({err})") from err


def _error(err: urllib.error.HTTPError) -> KBError:
    try:
        message = json.loads(err.read())["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = f"HTTP {err.code}"
    if err.code == 404:
        return DocumentNotFound(message)
    if err.code in (400, 422):
        return BadQuery(message)
    if err.code == 503:
        return StoreUnavailable(message)
    return KBError(f"the server answered {err.code}: {message}")
