"""A migrated metadata database per test, on SQLite and on PostgreSQL, and the VulnDb
over it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from dockyard.metadata.engine import make_engines
from dockyard.metadata.migrate import upgrade
from dockyard.supplychain.capability import MIGRATIONS
from dockyard.supplychain.vulndb import VulnDb
from tests.support.postgres import temporary_database

DATASET = Path(__file__).parent.parent / "support" / "osv"


@dataclass
class Engines:
    read_engine: AsyncEngine
    write_engine: AsyncEngine


async def _engines(url: str) -> Engines:
    await upgrade(url, branches=[MIGRATIONS])
    read, write = make_engines(url, 2)
    return Engines(read, write)


@pytest.fixture(params=["sqlite", "postgresql"])
async def engines(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Engines]:
    if request.param == "sqlite":
        found = await _engines(f"sqlite:///{tmp_path / 'meta.db'}")
        try:
            yield found
        finally:
            await found.read_engine.dispose()
            await found.write_engine.dispose()
        return
    async with temporary_database("dockyard_vulndb") as url:
        found = await _engines(url)
        try:
            yield found
        finally:
            await found.read_engine.dispose()


@pytest.fixture
def db(engines: Engines) -> VulnDb:
    return VulnDb(engines)
