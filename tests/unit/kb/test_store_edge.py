"""What only the embedded store does: files, processes, corruption, snapshots; and retries."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from qdrant_client import QdrantClient

from kb.errors import IndexNotReady, StoreCorrupted, StoreUnavailable
from kb.models import SearchFilters
from kb.store import EdgeStore, open_store
from kb.store_server import QdrantServerStore

from .test_store_contract import DIM, MODEL, chunk, put, record

ROOT = Path(__file__).resolve().parents[3]


def _filled(path: Path) -> EdgeStore:
    store = EdgeStore(path, "test")
    store.ensure_collection(MODEL, DIM)
    put(store, [chunk("a", i, f"text {i}") for i in range(3)])
    store.put_document(record("a", chunks=3))
    return store


def test_open_store_picks_the_backend(tmp_path: Path) -> None:
    store = open_store(tmp_path, "c")
    assert isinstance(store, EdgeStore)
    assert store.root == tmp_path / "qdrant" / "c"
    server = open_store(tmp_path, "c", url="http://127.0.0.1:1", api_key=None, timeout_s=1, retries=0)
    assert isinstance(server, QdrantServerStore)


def test_second_open_while_in_use_is_unavailable(tmp_path: Path) -> None:
    first = _filled(tmp_path)
    with pytest.raises(StoreUnavailable, match="in use by another process"):
        EdgeStore(tmp_path, "test").count_chunks()
    first.close()
    second = EdgeStore(tmp_path, "test")
    assert second.count_chunks() == 3
    second.close()


def test_writes_survive_kill_9_and_the_folder_reopens(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        sys.path.insert(0, {str(ROOT)!r})
        from pathlib import Path
        from tests.unit.kb.test_store_edge import _filled
        store = _filled(Path({str(tmp_path)!r}))
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, timeout=120)
    assert proc.returncode == -9, proc.stderr.decode()
    store = EdgeStore(tmp_path, "test")
    assert store.count_chunks() == 3
    assert store.get_document("a") is not None
    store.close()


def test_corrupted_folder_names_the_folder_and_the_recovery(tmp_path: Path) -> None:
    _filled(tmp_path).close()
    (tmp_path / "test" / "chunks" / "edge_config.json").write_text("{not json")
    for _ in range(2):  # the same clear error every time, no crash
        with pytest.raises(StoreCorrupted, match="kb restore") as info:
            EdgeStore(tmp_path, "test").has_collection()
        assert str(tmp_path / "test") in str(info.value)


def test_snapshot_and_restore(tmp_path: Path) -> None:
    store = _filled(tmp_path / "data")
    snap = store.snapshot(tmp_path / "snaps" / "s1.tar.gz")
    assert snap.is_file()
    put(store, [chunk("b", 0, "after the snapshot")])
    store.delete_document("a")
    assert store.count_chunks() == 4

    store.restore(snap)
    assert store.count_chunks() == 3
    assert store.get_document("a") is not None
    assert store.count_documents(SearchFilters()) == 1
    put(store, [chunk("c", 0, "still writable")])
    store.close()
    assert EdgeStore(tmp_path / "data", "test").count_chunks() == 4


def test_restore_of_a_bad_snapshot_keeps_the_store(tmp_path: Path) -> None:
    store = _filled(tmp_path)
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(b"not a tarball")
    with pytest.raises(StoreCorrupted, match=r"cannot be read.*unchanged"):
        store.restore(bad)
    assert store.count_chunks() == 3
    store.close()


def test_restore_recovers_a_damaged_store(tmp_path: Path) -> None:
    store = _filled(tmp_path / "data")
    snap = store.snapshot(tmp_path / "s.tar.gz")
    store.close()
    (tmp_path / "data" / "test" / "chunks" / "edge_config.json").write_text("{not json")
    damaged = EdgeStore(tmp_path / "data", "test")
    with pytest.raises(StoreCorrupted):
        damaged.count_chunks()
    damaged.restore(snap)  # never opens the damaged shards
    assert damaged.count_chunks() == 3
    damaged.close()


def test_snapshot_of_nothing_is_not_ready(tmp_path: Path) -> None:
    with pytest.raises(IndexNotReady):
        EdgeStore(tmp_path, "test").snapshot(tmp_path / "s.tar.gz")
    assert not list(tmp_path.glob("s.tar.gz*"))


def test_server_unreachable_retries_then_store_unavailable() -> None:
    client = QdrantClient(url="http://127.0.0.1:1", timeout=1, check_compatibility=False)
    store = QdrantServerStore(client, "c", retries=2, backoff_s=0.01)
    with pytest.raises(StoreUnavailable, match=r"after 3 attempts.*KB_QDRANT_URL"):
        store.has_collection()
