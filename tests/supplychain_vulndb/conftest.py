"""A migrated metadata database per test, on SQLite (a file each) and on PostgreSQL (one
database per session, the vulnerability tables emptied before each test), and the VulnDb
over it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncEngine

from dockyard.metadata.engine import make_engines
from dockyard.metadata.migrate import upgrade
from dockyard.supplychain.capability import MIGRATIONS
from dockyard.supplychain.vulndb import VulnDb
from dockyard.supplychain.vulndb.tables import advisories, affected, state
from tests.support.postgres import temporary_database_sync

DATASET = Path(__file__).parent.parent / "support" / "osv"


@dataclass
class Engines:
    read_engine: AsyncEngine
    write_engine: AsyncEngine


async def _engines(url: str) -> Engines:
    await upgrade(url, branches=[MIGRATIONS])
    read, write = make_engines(url, 2)
    return Engines(read, write)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with temporary_database_sync("dockyard_vulndb") as url:
        asyncio.run(upgrade(url, branches=[MIGRATIONS]))
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
async def engines(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_url: str
) -> AsyncIterator[Engines]:
    if request.param == "sqlite":
        found = await _engines(f"sqlite:///{tmp_path / 'meta.db'}")
    else:
        read, write = make_engines(postgres_url, 2)
        found = Engines(read, write)
        async with write.begin() as conn:
            await conn.execute(delete(affected))
            await conn.execute(delete(advisories))
            await conn.execute(
                update(state).values(generation=0, imported_at=None, changed_at=None)
            )
    try:
        yield found
    finally:
        await found.read_engine.dispose()
        await found.write_engine.dispose()


@pytest.fixture
def db(engines: Engines) -> VulnDb:
    return VulnDb(engines)
