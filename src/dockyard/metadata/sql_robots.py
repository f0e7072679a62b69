"""RobotStore on SQL: system and project robots."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from dockyard.errors import Conflict
from dockyard.metadata import schema as s
from dockyard.metadata.identity import Grant, Page, RobotRecord, RobotSort
from dockyard.metadata.identity_cache import IdentityCache, changes_identity
from dockyard.metadata.sql import _now, _utc, like_escape
from dockyard.metadata.sql_base import SqlEngines, ordering, project_id, ts

_ROBOT_FIELDS = {"description", "secret_hash", "permissions", "expires_at", "disabled"}


class SqlRobotStore:
    def __init__(self, db: SqlEngines, cache: IdentityCache) -> None:
        self._db = db
        self.identity_cache = cache

    @staticmethod
    def _robot(row: Row[Any]) -> RobotRecord:
        return RobotRecord(
            id=int(row.id),
            name=row.name,
            project=row.project,
            description=row.description,
            secret_hash=row.secret_hash,
            permissions=tuple(Grant.from_json(g) for g in json.loads(row.permissions)),
            expires_at=_utc(row.expires_at),
            disabled=bool(row.disabled),
            created_by=row.created_by,
            created_at=ts(row.created_at),
            updated_at=ts(row.updated_at),
        )

    def _robots_query(self) -> Any:
        rb, p = s.robots, s.projects
        return select(rb, p.c.name.label("project")).outerjoin(p, p.c.id == rb.c.project_id)

    @changes_identity
    async def create_robot(
        self,
        name: str,
        *,
        project: str | None,
        description: str,
        secret_hash: str,
        permissions: Sequence[Grant],
        expires_at: dt.datetime | None,
        created_by: str,
    ) -> RobotRecord:
        now = _now()
        try:
            async with self._db.write.begin() as conn:
                pid = None if project is None else await project_id(conn, project)
                await conn.execute(
                    s.robots.insert().values(
                        name=name,
                        project_id=pid,
                        description=description,
                        secret_hash=secret_hash,
                        permissions=json.dumps([g.to_json() for g in permissions]),
                        expires_at=expires_at,
                        disabled=False,
                        created_by=created_by,
                        created_at=now,
                        updated_at=now,
                    )
                )
        except IntegrityError:
            raise Conflict(f"robot {name!r} already exists") from None
        robot = await self.get_robot(name)
        assert robot is not None
        return robot

    async def get_robot(self, name: str) -> RobotRecord | None:
        async with self._db.read.connect() as conn:
            row = (await conn.execute(self._robots_query().where(s.robots.c.name == name))).first()
        return None if row is None else self._robot(row)

    async def list_robots(
        self,
        project: str | None,
        page: Page,
        *,
        query: str | None = None,
        prefix: str = "",
        sort: RobotSort = "name",
    ) -> tuple[list[RobotRecord], int]:
        rb, p = s.robots, s.projects
        conds: list[Any] = [rb.c.project_id.is_(None) if project is None else p.c.name == project]
        if query:
            pattern = f"{like_escape(prefix)}%{like_escape(query.lower())}%"  # names: lower case
            conds.append(rb.c.name.like(pattern, escape="\\"))
        keys = {"name": rb.c.name, "created": rb.c.created_at, "expires": rb.c.expires_at}
        q = (
            self._robots_query()
            .where(*conds)
            .order_by(*ordering(sort, keys, rb.c.name, nullable={"expires"}))
            .limit(page.size)
            .offset(page.offset)
        )
        count = (
            select(func.count())
            .select_from(rb.outerjoin(p, p.c.id == rb.c.project_id))
            .where(*conds)
        )
        async with self._db.read.connect() as conn:
            rows = (await conn.execute(q)).all()
            total = int(await conn.scalar(count) or 0)
        return [self._robot(r) for r in rows], total

    @changes_identity
    async def update_robot(self, name: str, **changes: Any) -> RobotRecord | None:
        unknown = set(changes) - _ROBOT_FIELDS
        if unknown:
            raise ValueError(f"cannot change {sorted(unknown)}")
        if "permissions" in changes:
            changes["permissions"] = json.dumps([g.to_json() for g in changes["permissions"]])
        async with self._db.write.begin() as conn:
            await conn.execute(
                update(s.robots).where(s.robots.c.name == name).values(**changes, updated_at=_now())
            )
        return await self.get_robot(name)

    @changes_identity
    async def delete_robot(self, name: str) -> bool:
        async with self._db.write.begin() as conn:
            res = await conn.execute(delete(s.robots).where(s.robots.c.name == name))
        return bool(res.rowcount)

    async def cached_robot(self, name: str) -> RobotRecord | None:
        found: RobotRecord | None = await self.identity_cache.lookup(
            ("robot", name), lambda: self.get_robot(name)
        )
        return found
