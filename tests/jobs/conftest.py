"""Fixtures of the job-system tests: a migrated metadata database on SQLite or
PostgreSQL, and queues on it (each one its own engines and writer, as on a replica)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from dockyard.jobs.sql import SqlJobQueue
from dockyard.metadata.migrate import upgrade
from dockyard.metadata.sql import SqlMetadataStore


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'jobs.db'}"
        await upgrade(url)
        yield url
        return
    from tests.support.postgres import temporary_database

    async with temporary_database() as url:
        await upgrade(url)
        yield url


@pytest.fixture
async def replicas(database_url: str) -> AsyncIterator[Callable[[], object]]:
    """`await replicas()` -> (store, queue) of a new replica on the database."""
    async with AsyncExitStack() as stack:

        async def make() -> tuple[SqlMetadataStore, SqlJobQueue]:
            store = SqlMetadataStore(database_url, pool_size=4)
            stack.push_async_callback(store.close)
            return store, SqlJobQueue(store.read_engine, store.writer, max_attempts=3)

        yield make


@pytest.fixture
async def queue(replicas: Callable[[], object]) -> SqlJobQueue:
    _, q = await replicas()  # type: ignore[misc]
    return q  # type: ignore[no-any-return]
