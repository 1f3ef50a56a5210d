"""Fixtures for the browser tests: ``kb serve`` over sample files, and a headless Chromium."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
KEY = "e2e-write-key-7f3a"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SAMPLES = [
    "guidelines/gl-eu-smaller-cities.pdf",
    "transcripts/tr-alliance-1-governance.vtt",
    "good-practice/valtion-sitoumus.html",
    "good-practice/klimatkontrakt-2030.md",
    "good-practice/cities2030-colaboracion-radical.html",
]
HOSTILE = (
    b"<!doctype html><html><head><title>Hostile upload</title></head><body><h1>Hostile upload</h1>"
    b"<p>Marker zebra-quartz. <script>window.__xss=1</script> Please read the "
    b'<a href="javascript:alert(1)">javascript link</a> about zebra-quartz climate contracts.</p>'
    b"<p>&lt;img src=x onerror=alert(2)&gt; zebra-quartz stays text.</p></body></html>"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``kb serve`` on a free loopback port over a few sample files (or small written ones)."""
    base = tmp_path_factory.mktemp("e2e")
    corpus = base / "corpus"
    corpus.mkdir()
    for rel in SAMPLES:
        src = ROOT / "corpus" / rel
        if src.exists():
            shutil.copy(src, corpus / src.name)
            meta = src.with_name(src.name + ".meta.yaml")
            if meta.exists():
                shutil.copy(meta, corpus / meta.name)
    if not any(corpus.iterdir()):
        (corpus / "note.md").write_text("# Note\n\nNational platforms help cities finance climate city contracts.\n")
    data_dir = Path(os.environ.get("KB_E2E_DATA_DIR", base / "data"))
    env = {
        **os.environ,
        "KB_DATA_DIR": str(data_dir),
        "KB_API_KEYS": KEY,
        "KB_CORPUS_DIRS": str(corpus),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    env.pop("KB_EMBED_MODEL", None)
    kb = str(ROOT / ".venv" / "bin" / "kb")
    subprocess.run([kb, "ingest", str(corpus)], env=env, check=True, timeout=1800, capture_output=True)
    port = _free_port()
    log = (base / "server.log").open("wb")
    proc = subprocess.Popen(
        [kb, "serve", "--host", "127.0.0.1", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {(base / 'server.log').read_text()[-2000:]}")
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        else:
            raise RuntimeError("server did not start in 300 s")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="session")
def browser():  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()
