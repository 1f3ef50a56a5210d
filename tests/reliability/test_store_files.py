"""Damaged store folders give a clear error with the recovery command; snapshot and restore round-trip."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from kb.settings import Settings
from tests.reliability.conftest import COLLECTION, generate_folder, read_state, run_kb


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A folder of 8 guides and a data dir holding their index."""
    base = tmp_path_factory.mktemp("indexed")
    folder = generate_folder(base / "guides", n=8, paragraphs=16)
    data = base / "data"
    done = run_kb(["ingest", str(folder)], data)
    assert done.returncode == 0, done.stderr[-2000:]
    return folder, data


def _root(data: Path) -> Path:
    return Settings(_env_file=None, data_dir=data).store_dir / "qdrant" / COLLECTION  # type: ignore[call-arg]


def _overwrite(path: Path, offset: int = 0, size: int = 4096) -> None:
    with path.open("r+b") as fh:
        fh.seek(offset)
        fh.write(bytes((i * 131 + 7) % 256 for i in range(size)))


def _garbage_wal(root: Path) -> None:
    for f in (root / "chunks" / "wal").glob("open-*"):
        _overwrite(f)


def _garbage_segment_state(root: Path) -> None:
    for f in (root / "chunks" / "segments").glob("*/segment.json"):
        f.write_text("{not json")


def _truncated_vectors(root: Path) -> None:
    for f in (root / "chunks" / "segments").rglob("*"):
        if f.is_file() and f.suffix in (".dat", ".mmap"):
            f.write_bytes(b"")


def _garbage_payloads(root: Path) -> None:
    for f in (root / "chunks" / "segments").rglob("page_0.dat"):
        if "payload_storage" in f.parts:
            _overwrite(f, size=65536)


def _empty_registry_wal(root: Path) -> None:
    for f in (root / "docs" / "wal").glob("open-*"):
        f.write_bytes(b"")


def _bad_config(root: Path) -> None:
    (root / "chunks" / "edge_config.json").write_text("{bad")


DAMAGE: dict[str, Callable[[Path], None]] = {
    "wal": _garbage_wal,
    "segment_state": _garbage_segment_state,
    "vectors_truncated": _truncated_vectors,
    "payloads": _garbage_payloads,
    "registry_wal_empty": _empty_registry_wal,
    "config": _bad_config,
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_store_gives_a_clear_error(indexed: tuple[Path, Path], tmp_path: Path, damage: str) -> None:
    folder, clean = indexed
    data = tmp_path / "data"
    shutil.copytree(clean, data)
    root = _root(data)
    DAMAGE[damage](root)
    for args in (["search", "climate finance"], ["ingest", str(folder)]):
        done = run_kb(args, data)
        assert "Traceback" not in done.stderr, done.stderr[-3000:]
        if args[0] == "search" or done.returncode != 0:
            assert done.returncode == 1, (args, done.stdout[-500:], done.stderr[-2000:])
            assert str(root) in done.stderr and "kb restore" in done.stderr, done.stderr[-2000:]
    settings = Settings(_env_file=None, data_dir=data, embed_model="hash")  # type: ignore[call-arg]
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        for _ in range(3):  # every request answers, none brings the server down
            r = client.get("/search", params={"q": "climate finance"})
            assert r.status_code == 503, r.text
            body = r.json()["error"]
            assert body["code"] == "store_unavailable" and str(root) in body["message"]
            assert "kb restore" in body["message"] and "Traceback" not in r.text
        assert client.get("/").status_code == 200  # the page itself is still served


def test_snapshot_change_restore(indexed: tuple[Path, Path], tmp_path: Path) -> None:
    folder, clean = indexed
    data = tmp_path / "data"
    shutil.copytree(clean, data)
    before = read_state(data)
    snap = tmp_path / "backup" / "kb.tar.gz"
    done = run_kb(["snapshot", str(snap)], data)
    assert done.returncode == 0 and snap.is_file(), done.stderr[-2000:]
    (folder / "guide-00.md").rename(tmp_path / "moved.md")
    extra = generate_folder(tmp_path / "extra", n=2, paragraphs=4, seed=99)
    try:
        assert run_kb(["ingest", "--sync", str(folder), str(extra)], data).returncode == 0
        changed = read_state(data)
        assert changed.registry != before.registry and changed.chunk_ids != before.chunk_ids
        done = run_kb(["restore", str(snap)], data)
        assert done.returncode == 0, done.stderr[-2000:]
        assert "8 documents" in done.stdout
        after = read_state(data)
        assert after.registry == before.registry and after.chunk_ids == before.chunk_ids
        assert not list(_root(data).parent.glob(".restore-*")) and not _root(data).with_suffix(".old").exists()
        bad = tmp_path / "bad.tar.gz"
        bad.write_bytes(b"not a snapshot")
        done = run_kb(["restore", str(bad)], data)
        assert done.returncode == 1 and "the store is unchanged" in done.stderr and "Traceback" not in done.stderr
        assert read_state(data).registry == before.registry
    finally:
        (tmp_path / "moved.md").rename(folder / "guide-00.md")
