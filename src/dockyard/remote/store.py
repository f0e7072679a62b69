"""The registries capability's SQL: the endpoints table, on the metadata database's
engines (SQLite and PostgreSQL by the same statements)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from dockyard.errors import Conflict
from dockyard.metadata.engine import HasEngines, utc, utcnow
from dockyard.remote.schema import endpoints as t


@dataclass(frozen=True, slots=True)
class EndpointRow:
    id: int
    name: str
    url: str
    kind: str
    username: str | None
    secret_sealed: str | None
    insecure: bool
    ca_certificate: str | None
    description: str
    created_at: dt.datetime
    updated_at: dt.datetime


def _row(r: Any) -> EndpointRow:
    return EndpointRow(
        id=r.id,
        name=r.name,
        url=r.url,
        kind=r.kind,
        username=r.username,
        secret_sealed=r.secret_sealed,
        insecure=bool(r.insecure),
        ca_certificate=r.ca_certificate,
        description=r.description,
        created_at=utc(r.created_at),
        updated_at=utc(r.updated_at),
    )


class EndpointStore:
    def __init__(self, engines: HasEngines) -> None:
        self._read = engines.read_engine
        self._write = engines.write_engine

    async def list(self) -> list[EndpointRow]:
        async with self._read.connect() as conn:
            rows = (await conn.execute(select(t).order_by(t.c.name))).all()
        return [_row(r) for r in rows]

    async def get(self, name: str) -> EndpointRow | None:
        async with self._read.connect() as conn:
            row = (await conn.execute(select(t).where(t.c.name == name))).first()
        return None if row is None else _row(row)

    async def create(self, values: Mapping[str, Any]) -> EndpointRow:
        at = utcnow()
        try:
            async with self._write.begin() as conn:
                await conn.execute(t.insert().values(**values, created_at=at, updated_at=at))
        except IntegrityError:
            raise Conflict(f"registry endpoint {values['name']!r} already exists") from None
        found = await self.get(str(values["name"]))
        assert found is not None
        return found

    async def update(self, name: str, values: Mapping[str, Any]) -> EndpointRow | None:
        async with self._write.begin() as conn:
            # updated_at always moves (it keys the clients cached per endpoint)
            previous = await conn.scalar(select(t.c.updated_at).where(t.c.name == name))
            if previous is None:
                return None
            at = max(utcnow(), utc(previous) + dt.timedelta(microseconds=1))
            await conn.execute(update(t).where(t.c.name == name).values(**values, updated_at=at))
        return await self.get(name)

    async def delete(self, name: str) -> bool:
        async with self._write.begin() as conn:
            result = await conn.execute(delete(t).where(t.c.name == name))
        return bool(result.rowcount)
