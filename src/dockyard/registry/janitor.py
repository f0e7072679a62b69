"""Housekeeping for abandoned uploads: rows past their age, and data with no row.

Runs periodically in each worker (idempotent, so several running at once is
harmless). The durable job queue of a later issue will host it instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable

from dockyard.metadata.records import MetadataStore
from dockyard.storage import layout
from dockyard.storage.base import PathNotFound, StorageDriver

log = logging.getLogger(__name__)


async def purge_stale_uploads(
    store: MetadataStore, storage: StorageDriver, max_age: dt.timedelta, *, dry_run: bool = False
) -> int:
    """Delete uploads idle for longer than `max_age`; return how many were removed (with
    `dry_run`, how many would be). GC's pass runs this too (lifecycle/gc)."""
    removed = 0
    cutoff = dt.datetime.now(dt.UTC) - max_age
    for upload in await store.stale_uploads(cutoff):
        if dry_run:
            removed += 1
            continue
        if await store.delete_upload(upload.id):
            removed += 1
        with contextlib.suppress(PathNotFound):
            await storage.delete(layout.upload_dir(upload.id))
    # Data left by requests that never got a row (a monolithic POST cut off by a crash).
    try:
        entries = await storage.list("uploads")
    except PathNotFound:
        entries = []
    horizon = time.time() - max_age.total_seconds()
    for entry in entries:
        upload_id = entry.rsplit("/", 1)[1]
        try:
            info = await storage.stat(layout.upload_data_path(upload_id))
        except (PathNotFound, ValueError):
            continue
        if info.modified < horizon and await store.get_upload_by_id(upload_id) is None:
            if dry_run:
                removed += 1
                continue
            try:
                await storage.delete(layout.upload_dir(upload_id))
                removed += 1
            except PathNotFound:
                pass
    if removed and not dry_run:
        log.info("purged %d abandoned uploads", removed)
    return removed


async def run_periodically(
    store: MetadataStore,
    storage: StorageDriver,
    max_age: dt.timedelta,
    interval: float,
    housekeeping: Callable[[], Awaitable[None]] | None = None,
) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await purge_stale_uploads(store, storage, max_age)
        except Exception:
            log.exception("purging abandoned uploads failed; will retry")
        if housekeeping is not None:
            try:
                await housekeeping()
            except Exception:
                log.exception("housekeeping failed; will retry")
