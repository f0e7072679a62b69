"""The race protocol on PostgreSQL (READ COMMITTED), transaction against transaction:
a GC sweep that meets a push holding what it relies on waits for it and then keeps
it. Without the shared locks of the manifest PUT, or the upsert of the link, the
sweep would see its old snapshot and delete what the push just referenced (write
skew): each test fails on that code."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select, update

from dockyard.errors import BlobBusy
from dockyard.metadata import schema as s
from dockyard.metadata import sql_manifest_writes as mw
from dockyard.metadata import sql_writes as w
from dockyard.metadata.gc import LinkRef
from dockyard.metadata.migrate import upgrade
from dockyard.metadata.records import NewManifest
from dockyard.metadata.sql import SqlMetadataStore
from dockyard.metadata.sql_gc import SqlGcStore
from tests.lifecycle.helpers import OCI_MANIFEST, digest_of

LAYER = "sha256:" + "1" * 64
CONFIG = "sha256:" + "2" * 64


@pytest.fixture
async def stores(postgres_database: str) -> AsyncIterator[tuple[SqlMetadataStore, SqlGcStore]]:
    await upgrade(postgres_database)
    store = SqlMetadataStore(postgres_database, pool_size=4)
    yield store, SqlGcStore(store.read_engine, store.writer)
    await store.close()


async def aged(store: SqlMetadataStore) -> dt.datetime:
    """Make every row old; return a cutoff after them all."""
    old = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    async with store.write_engine.begin() as conn:
        await conn.execute(update(s.blobs).values(touched_at=old))
        await conn.execute(update(s.repository_blobs).values(touched_at=old))
    return dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)


def manifest() -> NewManifest:
    content = json.dumps({"layers": [LAYER], "config": CONFIG}).encode()
    return NewManifest(
        digest_of(content), OCI_MANIFEST, content, None, None, None, [(CONFIG, 5), (LAYER, 7)], []
    )


async def still_waiting(task: asyncio.Task[object]) -> bool:
    done, _ = await asyncio.wait({task}, timeout=0.5)  # it must be blocked on our lock
    return not done


async def test_a_link_a_manifest_put_relies_on_is_kept(
    stores: tuple[SqlMetadataStore, SqlGcStore],
) -> None:
    store, gc = stores
    await store.link_blob("p/app", CONFIG, 5)
    await store.link_blob("p/app", LAYER, 7)
    cutoff = await aged(store)
    async with store.write_engine.connect() as push:
        await push.begin()
        await push.run_sync(mw.put_manifest, "p/app", manifest(), "v1")
        rid = await push.scalar(select(s.repositories.c.id))
        sweep = asyncio.create_task(gc.drop_links([LinkRef(rid, LAYER, 7)], cutoff))
        assert await still_waiting(sweep)
        await push.commit()
    assert await sweep == []  # it saw the manifest's references once it could look
    assert await store.get_blob("p/app", LAYER) is not None


async def test_a_blob_being_linked_is_not_claimed(
    stores: tuple[SqlMetadataStore, SqlGcStore],
) -> None:
    store, gc = stores
    await store.link_blob("p/app", LAYER, 7)
    await store.unlink_blob("p/app", LAYER)
    cutoff = await aged(store)
    async with store.write_engine.connect() as push:
        await push.begin()
        await push.run_sync(w.link_blob, "p/other", LAYER, 7)  # a mount, say
        claim = asyncio.create_task(gc.claim_blobs([LAYER], cutoff))
        assert await still_waiting(claim)
        await push.commit()
    assert await claim == []
    assert await store.get_blob("p/other", LAYER) is not None


async def test_a_claimed_blob_refuses_pins_and_links(
    stores: tuple[SqlMetadataStore, SqlGcStore],
) -> None:
    store, gc = stores
    await store.link_blob("p/app", LAYER, 7)
    await store.unlink_blob("p/app", LAYER)
    cutoff = await aged(store)
    assert [c.digest for c in await gc.claim_blobs([LAYER], cutoff)] == [LAYER]
    with pytest.raises(BlobBusy):
        await store.check_quota("p/app", LAYER, 7)  # the pin before bytes are placed
    with pytest.raises(BlobBusy):
        await store.link_blob("p/app", LAYER, 7)
    assert await gc.forget_blobs([LAYER]) == 1
    await store.link_blob("p/app", LAYER, 7)  # new again
    assert await store.get_blob("p/app", LAYER) is not None


async def test_a_pinned_blob_is_not_claimed(stores: tuple[SqlMetadataStore, SqlGcStore]) -> None:
    store, gc = stores
    await store.link_blob("p/app", LAYER, 7)
    await store.unlink_blob("p/app", LAYER)
    cutoff = await aged(store)
    await store.check_quota("p/app", LAYER, 7)  # an upload of it is finishing
    assert await gc.claim_blobs([LAYER], cutoff) == []
