"""Abandoned uploads are purged, rows and data alike; live ones are kept."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

from dockyard.metadata.migrate import upgrade
from dockyard.metadata.sql import SqlMetadataStore
from dockyard.registry.janitor import purge_stale_uploads
from dockyard.storage import layout
from dockyard.storage.filesystem import FilesystemDriver


async def test_purge_stale_uploads(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    await upgrade(url)
    store = SqlMetadataStore(url)
    storage = FilesystemDriver(tmp_path / "storage")
    try:
        old = await store.create_upload("a/b", "a" * 32)
        fresh = await store.create_upload("a/b", "b" * 32)
        for rec in (old, fresh):
            w = await storage.writer(layout.upload_data_path(rec.id))
            await w.write(b"data")
            await w.close()
        # a data file with no row at all (a crashed monolithic POST), and old
        orphan = "c" * 32
        w = await storage.writer(layout.upload_data_path(orphan))
        await w.write(b"x")
        await w.close()
        past = time.time() - 7200
        os.utime(storage.root / layout.upload_data_path(orphan), (past, past))

        # nothing is older than a day yet
        assert await purge_stale_uploads(store, storage, dt.timedelta(days=1)) == 0
        # over an hour: only the row-less data file from two hours ago
        assert await purge_stale_uploads(store, storage, dt.timedelta(hours=1)) == 1
        assert not (storage.root / layout.upload_dir(orphan)).exists()
        assert await store.get_upload_by_id(old.id) is not None
        assert (storage.root / layout.upload_data_path(old.id)).exists()
        # idle for any time at all: both sessions go, rows and data
        assert await purge_stale_uploads(store, storage, dt.timedelta(0)) == 2
        for rec in (old, fresh):
            assert await store.get_upload_by_id(rec.id) is None
            assert not (storage.root / layout.upload_dir(rec.id)).exists()
    finally:
        await store.close()
