"""What the identity store conformance suites share: a migrated database on SQLite
or PostgreSQL, the registry store over it and the identity stores, as the server
builds them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dockyard.metadata.identity_stores import Identity
from dockyard.metadata.migrate import upgrade
from dockyard.metadata.sql import SqlMetadataStore
from dockyard.metadata.sql_identity import sql_identity
from dockyard.oci.digest import digest_of

Stores = tuple[SqlMetadataStore, Identity]


def blob(name: str, size: int = 10) -> tuple[str, int]:
    return digest_of(name.encode()), size


class Backend:
    @pytest.fixture
    async def database_url(self) -> AsyncIterator[str]:
        raise NotImplementedError
        yield ""

    @pytest.fixture
    async def stores(self, database_url: str) -> AsyncIterator[Stores]:
        await upgrade(database_url)
        store = SqlMetadataStore(database_url)
        try:
            yield store, sql_identity(store)
        finally:
            await store.close()


class Sqlite(Backend):
    @pytest.fixture
    async def database_url(self, tmp_path: Path) -> AsyncIterator[str]:
        yield f"sqlite:///{tmp_path / 'db.sqlite'}"


class Postgres(Backend):
    @pytest.fixture
    async def database_url(self, postgres_database: str) -> AsyncIterator[str]:
        yield postgres_database
