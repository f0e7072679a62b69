"""What the SQL identity stores share: the engines (and dialect helpers) of the
metadata database, the identity cache, and small helpers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dockyard.errors import NotFound
from dockyard.metadata import schema as s
from dockyard.metadata.sql import _utc


class SqlEngines:
    """The reader and writer engines of one metadata database, as every SQL store
    uses them (on SQLite the writer is a single connection; on PostgreSQL both are
    one pool)."""

    def __init__(self, read: AsyncEngine, write: AsyncEngine) -> None:
        self.read = read
        self.write = write
        self.dialect = write.dialect.name

    def insert(self, table: Any) -> Any:
        """INSERT with the dialect's ON CONFLICT support."""
        module = postgresql if self.dialect == "postgresql" else sqlite
        return module.insert(table)


def ts(value: Any) -> dt.datetime:
    out = _utc(value)
    assert out is not None
    return out


async def project_id(conn: AsyncConnection, project: str) -> int:
    pid = await conn.scalar(select(s.projects.c.id).where(s.projects.c.name == project))
    if pid is None:
        raise NotFound(f"project {project!r} does not exist")
    return int(pid)


def ordering(
    sort: str, keys: Mapping[str, Any], tie: Any, nullable: Collection[str] = ()
) -> list[Any]:
    """ORDER BY for a listing's `sort`: a key of `keys`, descending with a `-` in front.
    Ties go by `tie` (a unique column) in the same direction, so each page of a sorted
    listing starts where the previous one ended and `-key` is `key` backwards. A key in
    `nullable` puts its NULLs (never signed in, never pulled) last either way."""
    descending = sort.startswith("-")
    key = sort.removeprefix("-")
    column = keys[key]
    first = column.desc() if descending else column.asc()
    if key in nullable:
        first = first.nulls_last()
    if column is tie:
        return [first]
    return [first, tie.desc() if descending else tie.asc()]
