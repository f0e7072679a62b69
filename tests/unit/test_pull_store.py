"""Pull statistics in the metadata store, on SQLite and PostgreSQL: a flush adds its
counts and moves `last_pulled_at` only forward, writes one `artifact.pulled` event per
artifact in the same transaction, skips artifacts deleted since they were pulled, and
the statistics go with their manifest. The in-memory counter puts a failed flush back."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from dockyard.metadata import schema as s
from dockyard.metadata.migrate import upgrade
from dockyard.metadata.sql import SqlMetadataStore
from dockyard.metadata.sql_pulls import PullTally
from dockyard.registry.pulls import PullCounter
from tests.unit.test_metadata import blob, manifest

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SqlMetadataStore]:
    async with contextlib.AsyncExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path / 'metadata.db'}"
        else:
            from tests.support.postgres import temporary_database

            url = await stack.enter_async_context(temporary_database())
        await upgrade(url)
        st = SqlMetadataStore(url, pool_size=2)
        try:
            yield st
        finally:
            await st.close()


async def _push(store: SqlMetadataStore, repo: str, name: str, tag: str) -> str:
    refs = [blob(f"{repo}/{name}")]
    for d, size in refs:
        await store.link_blob(repo, d, size)
    m = manifest(name, refs)
    await store.put_manifest(repo, m, tag)
    return m.digest


async def _rows(store: SqlMetadataStore) -> dict[str, tuple[int, dt.datetime]]:
    ap = s.artifact_pulls
    async with store.read_engine.connect() as conn:
        rows = (await conn.execute(select(ap.c.digest, ap.c.pull_count, ap.c.last_pulled_at))).all()
    return {r.digest: (int(r.pull_count), r.last_pulled_at.replace(tzinfo=dt.UTC)) for r in rows}


async def _pulled_events(store: SqlMetadataStore) -> list[dict[str, Any]]:
    async with store.read_engine.connect() as conn:
        rows = (
            await conn.execute(
                text("SELECT repository, digest, detail FROM events WHERE kind = :k ORDER BY id"),
                {"k": "artifact.pulled"},
            )
        ).all()
    return [{"repository": r[0], "digest": r[1], **json.loads(r[2])} for r in rows]


async def test_flushes_add_counts_and_write_events(store: SqlMetadataStore) -> None:
    a = await _push(store, "team/app", "a", "v1")
    b = await _push(store, "team/app", "b", "v2")
    written = await store.record_pulls(
        [
            PullTally("team/app", a, 3, T0 + dt.timedelta(seconds=10), ("v1",)),
            PullTally("team/app", b, 1, T0, ()),
        ]
    )
    assert written == 2
    # another process's older flush: adds its count, never moves the time back
    await store.record_pulls([PullTally("team/app", a, 2, T0, ("latest", "v1"))])
    rows = await _rows(store)
    assert rows[a] == (5, T0 + dt.timedelta(seconds=10))
    assert rows[b] == (1, T0)
    events = await _pulled_events(store)
    assert events == [
        {"repository": "team/app", "digest": a, "count": 3, "tags": ["v1"]},
        {"repository": "team/app", "digest": b, "count": 1, "tags": []},
        {"repository": "team/app", "digest": a, "count": 2, "tags": ["latest", "v1"]},
    ]


async def test_deleted_artifacts_are_skipped_and_take_their_statistics(
    store: SqlMetadataStore,
) -> None:
    a = await _push(store, "team/app", "a", "v1")
    gone = await _push(store, "team/app", "gone", "v2")
    await store.record_pulls([PullTally("team/app", gone, 1, T0)])
    assert await store.delete_manifest("team/app", gone)
    assert gone not in await _rows(store)  # went with its manifest
    written = await store.record_pulls(
        [
            PullTally("team/app", a, 1, T0),
            PullTally("team/app", gone, 4, T0),  # pulled, then deleted before the flush
            PullTally("no/such-repo", a, 4, T0),
        ]
    )
    assert written == 1
    assert set(await _rows(store)) == {a}
    assert [e["digest"] for e in await _pulled_events(store)] == [gone, a]


class _Failing:
    def __init__(self) -> None:
        self.fail = True
        self.got: list[PullTally] = []
        self.flushed = asyncio.Event()

    async def record_pulls(self, tallies: list[PullTally]) -> int:
        if self.fail:
            raise OSError("database gone")
        self.got.extend(tallies)
        self.flushed.set()
        return len(tallies)


async def test_a_failed_flush_is_put_back_and_retried() -> None:
    backend = _Failing()
    counter = PullCounter(backend, interval=3600)
    counter.count("team/app", "sha256:" + "a" * 64, "v1")
    counter.count("team/app", "sha256:" + "a" * 64, None)
    with pytest.raises(OSError):
        await counter.flush()
    counter.count("team/app", "sha256:" + "a" * 64, "latest")
    backend.fail = False
    assert await counter.flush() == 1
    (tally,) = backend.got
    assert (tally.count, tally.tags) == (3, ("latest", "v1"))
    assert await counter.flush() == 0 and counter.pending == 0


async def test_a_full_table_wakes_the_flusher_before_its_time() -> None:
    backend = _Failing()
    backend.fail = False
    counter = PullCounter(backend, interval=3600, max_entries=3)
    counter.start()
    try:
        for i in range(3):
            counter.count("team/app", f"sha256:{i:064x}", None)
        # the interval is an hour: only the wake-up at max_entries can flush this soon
        await asyncio.wait_for(backend.flushed.wait(), 10)
        assert len(backend.got) == 3
    finally:
        await counter.stop()
