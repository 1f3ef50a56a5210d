"""Faults in dependencies: an unreachable or flaky Qdrant server, missing or damaged model files."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from qdrant_client import QdrantClient

from api.main import create_app
from kb.embed import HashEmbedder
from kb.service import KnowledgeBase
from kb.store_server import QdrantServerStore
from tests.api.conftest import make_settings, write_corpus
from tests.reliability.conftest import run_kb


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_server_gives_bounded_retries_then_503(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    settings = make_settings(tmp_path, qdrant_url=url, qdrant_retries=2, qdrant_timeout_s=1.0)
    started = time.monotonic()
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        for path in ("/search?q=climate", "/documents", "/health"):
            t0 = time.monotonic()
            r = client.get(path)
            assert r.status_code == 503, (path, r.text)
            body = r.json()["error"]
            assert body["code"] == "store_unavailable" and "KB_QDRANT_URL" in body["message"]
            assert time.monotonic() - t0 < 10  # 3 attempts, 0.2 s then 0.4 s apart
    assert time.monotonic() - started < 60
    done = run_kb(["search", "climate"], tmp_path / "cli", KB_QDRANT_URL=url, KB_QDRANT_RETRIES="1")
    assert done.returncode == 1 and "KB_QDRANT_URL" in done.stderr and "Traceback" not in done.stderr


class FlakyClient:
    """qdrant-client local mode that refuses connections while ``down`` is set."""

    def __init__(self, inner: QdrantClient) -> None:
        self.inner = inner
        self.down = False
        self.failures = 0
        self.init_options = inner.init_options

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            if self.down:
                self.failures += 1
                raise ConnectionRefusedError("connection refused")
            return attr(*args, **kwargs)

        return call


def test_server_outage_is_503_and_recovers(tmp_path: Path) -> None:
    flaky = FlakyClient(QdrantClient(":memory:"))
    store = QdrantServerStore(flaky, "capacities", retries=2, backoff_s=0.05)  # type: ignore[arg-type]
    settings = make_settings(tmp_path)
    kb = KnowledgeBase(settings, embedder_override=HashEmbedder(256))
    kb._store = store
    kb.open()
    assert not kb.indexer().ingest([write_corpus(tmp_path / "corpus")]).failed
    with TestClient(create_app(settings, kb), raise_server_exceptions=False) as client:
        assert client.get("/search", params={"q": "green bonds"}).status_code == 200
        flaky.down = True
        r = client.get("/search", params={"q": "green bonds"})
        assert r.status_code == 503 and "after 3 attempts" in r.json()["error"]["message"]
        assert flaky.failures == 3  # the first attempt and two retries, no more
        flaky.down = False
        r = client.get("/search", params={"q": "green bonds"})
        assert r.status_code == 200 and r.json()["hits"]


@pytest.mark.parametrize("damage", ["missing_path", "empty_folder", "damaged_weights"])
def test_missing_or_damaged_model_is_a_clear_startup_error(tmp_path: Path, damage: str) -> None:
    model = tmp_path / "models" / "my-model"
    if damage != "missing_path":
        model.mkdir(parents=True)
    if damage == "damaged_weights":
        (model / "config.json").write_text('{"model_type": "bert", "hidden_size": 8')
        (model / "model.safetensors").write_bytes(b"\x00garbage" * 100)
    env = {"KB_EMBED_MODEL": str(model)}
    done = run_kb(["search", "climate"], tmp_path / "data", **env)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "Traceback" not in done.stderr and str(model) in done.stderr, done.stderr[-2000:]
    settings = make_settings(tmp_path, embed_model=str(model))
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        r = client.get("/search", params={"q": "climate"})
        assert r.status_code == 503 and r.json()["error"]["code"] in ("model_unavailable", "store_unavailable")
        assert "Traceback" not in r.text
