"""Revision supplychain_0002 creates exactly the tables vulndb/tables.py declares."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, Integer, MetaData, Table, select

from dockyard.supplychain.vulndb.tables import metadata, state
from tests.supplychain_vulndb.conftest import Engines


def _only_ours(name: str | None, type_: str, parent: object) -> bool:
    return type_ != "table" or bool(name and name.startswith("vulndb_"))


async def _diffs(engines: Engines, against: object) -> list[object]:
    async with engines.read_engine.connect() as conn:
        return await conn.run_sync(
            lambda sync: compare_metadata(
                MigrationContext.configure(sync, opts={"include_name": _only_ours}), against
            )
        )


async def test_the_migration_matches_the_tables(engines: Engines) -> None:
    assert await _diffs(engines, metadata) == []
    async with engines.read_engine.connect() as conn:
        row = (await conn.execute(select(state))).one()
    assert (row.id, row.generation, row.imported_at, row.changed_at) == (1, 0, None, None)


async def test_the_comparison_would_see_a_difference(engines: Engines) -> None:
    changed = MetaData()
    for table in metadata.tables.values():
        table.to_metadata(changed)
    Table("vulndb_extra", changed, Column("id", Integer, primary_key=True))
    assert [d[0] for d in await _diffs(engines, changed)] == ["add_table"]  # type: ignore[index]
