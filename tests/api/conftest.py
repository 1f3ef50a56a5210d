"""Fixtures: a small corpus written by the tests, indexed with the hash embedder, served by create_app."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from kb.service import KnowledgeBase
from kb.settings import Settings

WRITE_KEY = "write-key-0123456789"
READ_KEY = "read-key-abcdef"

GUIDE = """# National platforms for climate-neutral cities

Sweden's Viable Cities platform supports cities with a climate city contract. The platform funds transition teams in each municipality.

## Financing the transition

Cities combine municipal budgets with EU funds and green bonds to finance their climate neutrality plans.
"""
GUIDE_META = "country: SE\nlanguage: en\ndoc_type: good_practice\naudience: [national_policymakers]\ndate: 2024-05-01\n"

HTML = """<!doctype html><html><head><title>Red española de ciudades</title></head><body>
<h1>Red española de ciudades</h1>
<p>The Spanish network of cities coordinates national support for climate city contracts and shares financing models between ministries.</p>
</body></html>
"""
HTML_META = "country: ES\nlanguage: en\ndoc_type: guideline\naudience: [city_staff]\n"

VTT = """WEBVTT

1
00:00:03.000 --> 00:00:25.000
<v Anna Lindqvist>Welcome everyone. Today we discuss green bonds and how cities finance their climate investment plans.

2
00:01:05.000 --> 00:01:40.000
<v Marco Bellini>In Italy the national coordination helps smaller cities prepare investment plans and apply for EU funds.
"""
VTT_META = """title: Webinar on financing climate investment plans
country: EU
language: en
doc_type: transcript
date: 2024-03-20
speakers:
- name: Anna Lindqvist
  organisation: Viable Cities
  country: SE
  role: programme director
- name: Marco Bellini
  organisation: national coordination office
  country: IT
  role: policy officer
"""


def write_corpus(root: Path) -> Path:
    """Write three small documents with sidecars under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    files = {
        "guide.md": (GUIDE, GUIDE_META),
        "network.html": (HTML, HTML_META),
        "webinar.vtt": (VTT, VTT_META),
    }
    for name, (text, meta) in files.items():
        (root / name).write_text(text, encoding="utf-8")
        (root / f"{name}.meta.yaml").write_text(meta, encoding="utf-8")
    return root


def make_settings(tmp: Path, **overrides: Any) -> Settings:
    """Settings over a temporary data dir with the hash embedder and a write key."""
    values: dict[str, Any] = {
        "data_dir": tmp / "data",
        "embed_model": "hash",
        "api_keys": [WRITE_KEY],
        "corpus_dirs": [tmp / "corpus"],
        "rate_limit_ask": "1000/minute",
        "rate_limit_upload": "1000/minute",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


ClientFactory = Callable[..., TestClient]
_ENV = ("KB_API_KEYS", "KB_READ_API_KEYS", "KB_CORS_ORIGINS", "KB_EMBED_MODEL", "KB_DATA_DIR")


def build_client(base: Path, stack: ExitStack, raise_server_exceptions: bool = True, **overrides: Any) -> TestClient:
    """Index a fresh corpus under ``base`` and enter a client on it (closed with ``stack``)."""
    write_corpus(base / "corpus")
    settings = make_settings(base, **overrides)
    kb = KnowledgeBase(settings)
    kb.open()
    summary = kb.indexer().ingest([base / "corpus"])
    assert not summary.failed, summary.failed
    stack.callback(kb.close)
    client = TestClient(create_app(settings, kb), raise_server_exceptions=raise_server_exceptions)
    stack.enter_context(client)
    client.kb = kb  # type: ignore[attr-defined]
    client.settings = settings  # type: ignore[attr-defined]
    return client


@pytest.fixture
def make_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ClientFactory]:
    """Build clients over freshly indexed corpora; keyword arguments override settings."""
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    count = 0
    with ExitStack() as stack:

        def factory(raise_server_exceptions: bool = True, **overrides: Any) -> TestClient:
            nonlocal count
            count += 1
            return build_client(tmp_path / f"site{count}", stack, raise_server_exceptions, **overrides)

        yield factory


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One client per test module with the default settings, for tests that only read."""
    with pytest.MonkeyPatch.context() as mp, ExitStack() as stack:
        for name in _ENV:
            mp.delenv(name, raising=False)
        yield build_client(tmp_path_factory.mktemp("shared"), stack)


def write_headers(key: str = WRITE_KEY) -> dict[str, str]:
    """Headers carrying a write key."""
    return {"Authorization": f"Bearer {key}"}


def audit_lines(client: TestClient) -> list[dict[str, Any]]:
    """Entries of the app's audit log."""
    import json

    path = client.settings.data_dir / "audit.log"  # type: ignore[attr-defined]
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
