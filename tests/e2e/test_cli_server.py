"""The CLI through a running ``kb serve``: same JSON as on the store itself, and no torch in the CLI.

Real processes: ``kb ingest``, ``kb serve`` on a free port, and the ``kb`` commands, over a
small written corpus with the hash embedder (the model itself is not what is tested here).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
KB = str(ROOT / ".venv" / "bin" / "kb") if (ROOT / ".venv" / "bin" / "kb").exists() else "kb"
READ_KEY = "read-key-0123456789abcdef"
DOCS = {
    "se.md": (
        "# Sweden: a national platform\n\n## Coordination\n\nThe national innovation programme coordinates "
        "nine cities and four agencies under one climate city contract.\n\n## Financing\n\nThe platform is "
        "financed by three national agencies together.\n",
        {"id": "doc-se", "country": "SE", "language": "en", "doc_type": "good_practice"},
    ),
    "es.md": (
        "# Spain: the citiES 2030 platform\n\n## Coordination\n\nThe ministry coordinates the national platform "
        "with a foundation that runs it for the Mission cities.\n",
        {"id": "doc-es", "country": "ES", "language": "en", "doc_type": "good_practice"},
    ),
}
VTT = (
    "WEBVTT\n\nNOTE\ntitle: Financing webinar\nspeakers:\n  - name: Rita Green\n    country: SE\n\n"
    "00:00:01.000 --> 00:00:15.000\n<v Rita Green>Green bonds finance the retrofits of schools in our city.\n"
)
COMMANDS = [
    ["search", "national platform coordination", "--country", "SE,ES"],
    ["ask", "Who coordinates the national platform?", "--extractive"],
    ["compare", "How is the platform coordinated?", "--countries", "SE,ES"],
    ["speakers", "green bonds"],
    ["docs", "list", "--country", "ES"],
    ["docs", "show", "doc-se"],
    ["stats"],
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    base = tmp_path_factory.mktemp("cli-server")
    corpus = base / "corpus"
    corpus.mkdir()
    for name, (text, meta) in DOCS.items():
        (corpus / name).write_text(text, encoding="utf-8")
        (corpus / f"{name}.meta.yaml").write_text(yaml.safe_dump(meta), encoding="utf-8")
    (corpus / "webinar.vtt").write_text(VTT, encoding="utf-8")
    environ = {
        **os.environ,
        "KB_DATA_DIR": str(base / "data"),
        "KB_EMBED_MODEL": "hash",
        "KB_ANSWER_MIN_SCORE": "0.05",
        "KB_READ_API_KEYS": READ_KEY,  # reads need a key: the CLI must send it
        "HF_HUB_OFFLINE": "1",
    }
    environ.pop("KB_QDRANT_URL", None)
    subprocess.run([KB, "ingest", str(corpus)], env=environ, check=True, timeout=300, capture_output=True)
    return environ


def _run(env: dict[str, str], args: list[str]) -> Any:
    flag = [] if args[:2] == ["docs", "show"] else ["--json"]  # docs show always prints JSON
    done = subprocess.run([KB, *args, *flag], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    if isinstance(data, dict):
        data.pop("took_ms", None)  # a timing, different on every run
    return data


@pytest.fixture(scope="module")
def local(env: dict[str, str]) -> list[Any]:
    """Every command's JSON with no server running: the CLI opens the store itself."""
    return [_run(env, args) for args in COMMANDS]


@pytest.fixture(scope="module")
def served(env: dict[str, str], local: list[Any]) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    port = _free_port()
    record = Path(env["KB_DATA_DIR"]) / "qdrant" / "capacities.server.json"
    proc = subprocess.Popen(
        [KB, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 120
        while not record.exists() or httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code != 200:
            assert proc.poll() is None, "kb serve exited"
            assert time.monotonic() < deadline, "kb serve did not start"
            time.sleep(0.3)
        yield proc, record
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)


def test_commands_go_through_the_server_with_the_same_json(
    env: dict[str, str], local: list[Any], served: tuple[subprocess.Popen[bytes], Path]
) -> None:
    _, record = served
    assert json.loads(record.read_text())["url"].startswith("http://127.0.0.1:")
    remote = [_run(env, args) for args in COMMANDS]
    for args, mine, theirs in zip(COMMANDS, local, remote, strict=True):
        assert mine == theirs, args
    assert remote[0]["hits"] and remote[4][0]["doc_id"] == "doc-es"


def test_the_cli_imports_no_model_code_through_the_server(
    env: dict[str, str], served: tuple[subprocess.Popen[bytes], Path]
) -> None:
    script = (
        "import sys\nfrom cli import main\n"
        "try:\n    main(['search', 'platform', '--json'])\nexcept SystemExit as e:\n    assert not e.code\n"
        "print(sorted(m for m in ('torch', 'transformers', 'qdrant_edge', 'qdrant_client') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_the_address_is_withdrawn_and_a_stale_one_ignored(
    env: dict[str, str], local: list[Any], served: tuple[subprocess.Popen[bytes], Path]
) -> None:
    proc, record = served
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)
    assert not record.exists()
    # a server killed without shutting down leaves its file behind: its process is gone
    record.write_text(json.dumps({"url": "http://127.0.0.1:9", "pid": 2**22 + 12345}))
    assert _run(env, COMMANDS[-1]) == local[-1]


def test_stats_on_the_store_imports_no_model_code(env: dict[str, str]) -> None:
    script = (
        "import sys\nfrom cli import main\n"
        "try:\n    main(['stats', '--json'])\nexcept SystemExit as e:\n    assert not e.code\n"
        "print(sorted(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules))"
    )
    environ = {**env, "KB_EMBED_MODEL": "multilingual-e5-small"}  # a real model configured: still not loaded
    done = subprocess.run([sys.executable, "-c", script], env=environ, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_parse_imports_no_model_code(env: dict[str, str]) -> None:
    corpus = Path(env["KB_DATA_DIR"]).parent / "corpus"
    docx = sorted((ROOT / "corpus").rglob("*.docx"))[:1]  # an Office file goes through unstructured
    script = (
        "import sys\nfrom cli import main\n"
        f"try:\n    main(['parse', {str(corpus)!r}, *{[str(p) for p in docx]!r}, '--json'])\n"
        "except SystemExit as e:\n    assert not e.code\n"
        "print(sorted(m for m in ('torch', 'spacy', 'thinc') if m in sys.modules))"
    )
    # the real tokenizer counts the chunks' tokens (a first conversion of the model, on a
    # fresh machine, writes its tokenizer with transformers, but never needs torch)
    environ = {**env, "KB_EMBED_MODEL": "multilingual-e5-small"}
    done = subprocess.run([sys.executable, "-c", script], env=environ, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
