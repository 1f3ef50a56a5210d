"""Snapshots of the embedded store: a ``.tar.gz`` of its folder, and an atomic restore.

:class:`SnapshotStore` is the contract ``kb snapshot`` and ``kb restore`` check for; only the
embedded store (:class:`kb.store_edge.EdgeStore`) offers it, a Qdrant server has its own
snapshot API. The functions here do the file work on any :class:`FolderStore`: the store
only pauses writes with its files closed and says whether a folder holds shards that open.
"""

from __future__ import annotations

import logging
import shutil
import tarfile
import tempfile
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol, runtime_checkable

from kb.errors import StoreCorrupted
from kb.store_base import VectorStore

logger = logging.getLogger(__name__)


@runtime_checkable
class SnapshotStore(VectorStore, Protocol):
    """A store whose files can be copied and restored (the embedded backend)."""

    def snapshot(self, dest: Path) -> Path:
        """Write a consistent ``.tar.gz`` copy of the store to ``dest``."""
        ...

    def restore(self, src: Path) -> None:
        """Replace the store's files with a snapshot, atomically."""
        ...


class FolderStore(Protocol):
    """What snapshots need of a store kept in one folder."""

    root: Path
    collection: str

    def offline(self, existing: bool) -> AbstractContextManager[None]:
        """Hold writes with the files closed, reopened after; ``existing``: require an index."""
        ...

    def check_folder(self, folder: Path) -> None:
        """Raise unless ``folder`` holds a store that opens."""
        ...


def take_snapshot(store: FolderStore, dest: Path) -> Path:
    """Write a ``.tar.gz`` of the store's folder, taken with its files closed, to ``dest``.

    The archive is written next to ``dest`` and renamed into place, so ``dest`` is either
    absent or complete.

    Raises:
        IndexNotReady: there is no index to copy.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    with store.offline(existing=True), tarfile.open(tmp, "w:gz") as tar:
        tar.add(store.root, arcname=store.collection)
    tmp.replace(dest)
    logger.info("snapshot of %s written to %s", store.root, dest)
    return dest


def restore_snapshot(store: FolderStore, src: Path) -> None:
    """Replace the store's folder with the snapshot ``src``; the old folder stays until it opens.

    The archive is unpacked into a staging folder beside the store and checked before the
    swap, so a bad snapshot leaves the store as it was (it may even be damaged: this is how
    a damaged store is recovered).

    Raises:
        StoreCorrupted: ``src`` cannot be read or does not hold a store that opens.
    """
    root = store.root
    with store.offline(existing=False):
        root.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".restore-", dir=root.parent))
        try:
            try:
                with tarfile.open(src, "r:gz") as tar:
                    tar.extractall(staging, filter="data")
            except (tarfile.TarError, OSError) as err:
                raise StoreCorrupted(f"snapshot {src} cannot be read ({err}); the store is unchanged") from err
            new_root = staging / store.collection
            store.check_folder(new_root)
            old = root.with_name(root.name + ".old")
            shutil.rmtree(old, ignore_errors=True)
            if root.exists():
                root.rename(old)
            new_root.rename(root)
            shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    logger.info("restored %s from %s", root, src)
