"""kill -9 in the middle of ingests and updates, on the real Edge store with the hash embedder.

After a crash the next run must converge on exactly what a clean ingest gives, and readers
must never see a document made of two versions.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from kb.service import KnowledgeBase
from kb.settings import Settings
from tests.reliability.conftest import (
    REPO,
    IndexState,
    assert_consistent,
    generate_folder,
    kb_env,
    read_state,
    run_kb,
)

DRIVER = Path(__file__).with_name("crash_driver.py")
_PROGRESS = re.compile(rb"(\d+)/(\d+) \[")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Thirty generated Markdown guides (about 300 chunks)."""
    return generate_folder(tmp_path_factory.mktemp("gen") / "guides", n=30)


@pytest.fixture(scope="module")
def clean(folder: Path, tmp_path_factory: pytest.TempPathFactory) -> IndexState:
    """The index a clean, uninterrupted ingest of ``folder`` produces."""
    data = tmp_path_factory.mktemp("clean")
    done = run_kb(["ingest", str(folder)], data)
    assert done.returncode == 0, done.stderr[-2000:]
    state = read_state(data)
    assert_consistent(state)
    assert len(state.registry) == 30 and state.chunk_count > 100
    return state


def _kill_ingest_after(folder: Path, data: Path, files_done: int, delay_s: float) -> int:
    """Start ``kb ingest FOLDER``; kill -9 it ``delay_s`` after ``files_done`` files are in. Returns files seen."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "ingest", str(folder)],
        cwd=REPO,
        env=kb_env(data),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    seen = -1
    reached = threading.Event()

    def watch() -> None:
        nonlocal seen
        assert proc.stderr is not None
        buf = b""
        while chunk := proc.stderr.read1(4096):  # type: ignore[attr-defined]
            buf = (buf + chunk)[-4096:]
            found = _PROGRESS.findall(buf)
            if found:
                seen = max(seen, int(found[-1][0]))
                if seen >= files_done:
                    reached.set()

    reader = threading.Thread(target=watch, daemon=True)
    reader.start()
    try:
        assert reached.wait(timeout=180), "the ingest never reached the kill point"
        time.sleep(delay_s)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    reader.join(timeout=10)
    return seen


KILL_POINTS = [(0, 0.3), (8, 0.0), (22, 0.1)]  # files in, then seconds more


@pytest.mark.slow
@pytest.mark.parametrize(("files_done", "delay_s"), KILL_POINTS)
def test_kill_during_folder_ingest_then_rerun_equals_clean(
    folder: Path, clean: IndexState, tmp_path: Path, files_done: int, delay_s: float
) -> None:
    data = tmp_path / "data"
    seen = _kill_ingest_after(folder, data, files_done, delay_s)
    assert seen >= files_done
    if (data / "qdrant").exists():  # readers opening the store right after the crash
        state = _as_readers_see_it(data)
        assert_consistent(state)
        assert set(state.registry) <= set(clean.registry)
    rerun = run_kb(["ingest", str(folder)], data)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    after = read_state(data)
    assert_consistent(after)
    assert after.chunk_ids == clean.chunk_ids
    assert after.registry == clean.registry


def _as_readers_see_it(data: Path) -> IndexState:
    """Open the store the way ``kb search`` and ``kb serve`` do, then read what it holds."""
    kb = KnowledgeBase(Settings(_env_file=None, data_dir=data, embed_model="hash"))  # type: ignore[call-arg]
    try:
        kb.open()
    finally:
        kb.close()
    return read_state(data)


def _write_big(folder: Path, version: int) -> None:
    """A ~75-chunk text document with a stable id, so an edit is an update of the same doc_id."""
    folder.mkdir(parents=True, exist_ok=True)
    words = ["city", "climate", "contract", "neutral", "energy", "renovation", "finance", "budget", "bond", "platform"]
    paras = [
        f"Version {version} paragraph {p}: " + " ".join(words[(p * 7 + i * version) % len(words)] for i in range(60))
        for p in range(300)
    ]
    (folder / "big.txt").write_text("\n\n".join(paras) + "\n", encoding="utf-8")
    (folder / "big.txt.meta.yaml").write_text("id: big-doc\ncountry: SE\nlanguage: en\n", encoding="utf-8")


def _driver(data: Path, folder: Path, stop_at: int) -> tuple[subprocess.Popen[str], int]:
    """Run the crash driver until it parks after write ``stop_at`` (or finishes); return it and the writes seen."""
    proc = subprocess.Popen(
        [sys.executable, str(DRIVER), str(data), str(folder), str(stop_at)],
        cwd=REPO,
        env=kb_env(data),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    writes = 0
    deadline = time.monotonic() + 180
    for line in proc.stdout:
        if line.startswith("WRITE "):
            writes = int(line.split()[1])
            if writes == stop_at:
                break
        if time.monotonic() > deadline:
            break
    return proc, writes


@pytest.fixture(scope="module")
def update_setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, IndexState, IndexState, int]:
    """A data dir holding version 1 of the big document, version 2 on disk, and both clean states."""
    base = tmp_path_factory.mktemp("update")
    folder = base / "docs"
    _write_big(folder, 1)
    v1 = base / "v1"
    proc, _ = _driver(v1, folder, 0)
    assert proc.wait(timeout=180) == 0
    old = read_state(v1)
    _write_big(folder, 2)
    v2 = base / "v2"
    shutil.copytree(v1, v2)
    proc, writes = _driver(v2, folder, 0)
    assert proc.wait(timeout=180) == 0
    new = read_state(v2)
    assert old.registry["big-doc"][0] != new.registry["big-doc"][0]
    assert writes >= 4, writes  # chunk batches, the record, the old chunks' deletion
    return folder, v1, old, new, writes


@pytest.mark.slow
def test_kill_during_update_leaves_one_complete_version(
    update_setup: tuple[Path, Path, IndexState, IndexState, int], tmp_path: Path
) -> None:
    folder, v1, old, new, writes = update_setup
    outcomes = []
    for stop_at in range(1, writes + 1):
        data = tmp_path / f"kill-{stop_at}"
        shutil.copytree(v1, data)
        proc, seen = _driver(data, folder, stop_at)
        assert seen == stop_at
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        state = _as_readers_see_it(data)
        assert_consistent(state)
        version = state.registry["big-doc"][0]
        assert state.registry == old.registry or state.registry == new.registry
        assert state.chunk_ids == (old.chunk_ids if version == old.registry["big-doc"][0] else new.chunk_ids)
        outcomes.append("old" if version == old.registry["big-doc"][0] else "new")
        base = KnowledgeBase(Settings(_env_file=None, data_dir=data, embed_model="hash"))  # type: ignore[call-arg]
        try:
            summary = base.indexer().ingest([folder])
        finally:
            base.close()
        assert not summary.failed
        after = read_state(data)
        assert after.registry == new.registry and after.chunk_ids == new.chunk_ids
    assert "old" in outcomes and "new" in outcomes  # the kills fell before and after the switch
