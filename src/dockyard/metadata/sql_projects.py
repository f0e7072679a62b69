"""ProjectStore on SQL: projects and their members."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from dockyard.errors import Conflict
from dockyard.metadata import schema as s
from dockyard.metadata.identity import (
    MemberKind,
    MemberRecord,
    Page,
    ProjectRecord,
    ProjectSort,
)
from dockyard.metadata.identity_cache import IdentityCache, changes_identity
from dockyard.metadata.sql import _now, contains_pattern
from dockyard.metadata.sql_base import SqlEngines, ordering, project_id, ts

_PROJECT_FIELDS = {"public", "quota_bytes"}


class SqlProjectStore:
    def __init__(self, db: SqlEngines, cache: IdentityCache) -> None:
        self._db = db
        self.identity_cache = cache

    @staticmethod
    def _project(row: Row[Any]) -> ProjectRecord:
        return ProjectRecord(
            id=int(row.id),
            name=row.name,
            public=bool(row.public),
            quota_bytes=None if row.quota_bytes is None else int(row.quota_bytes),
            used_bytes=int(row.used_bytes),
            created_at=ts(row.created_at),
            updated_at=ts(row.updated_at),
        )

    @changes_identity
    async def create_project(
        self, name: str, *, public: bool = False, quota_bytes: int | None = None
    ) -> ProjectRecord:
        now = _now()
        try:
            async with self._db.write.begin() as conn:
                await conn.execute(
                    s.projects.insert().values(
                        name=name,
                        public=public,
                        quota_bytes=quota_bytes,
                        used_bytes=0,
                        created_at=now,
                        updated_at=now,
                    )
                )
        except IntegrityError:
            raise Conflict(f"project {name!r} already exists") from None
        project = await self.get_project(name)
        assert project is not None
        return project

    async def get_project(self, name: str) -> ProjectRecord | None:
        p = s.projects
        async with self._db.read.connect() as conn:
            row = (await conn.execute(select(p).where(p.c.name == name))).first()
        return None if row is None else self._project(row)

    async def list_projects(
        self,
        query: str | None,
        names: Sequence[str] | None,
        public: bool | None,
        page: Page,
        sort: ProjectSort = "name",
    ) -> tuple[list[ProjectRecord], int]:
        p = s.projects
        conds: list[Any] = []
        if query:  # names are lower case: so is the query, on either database
            conds.append(p.c.name.like(contains_pattern(query.lower()), escape="\\"))
        if names is not None:
            visible = p.c.name.in_(list(names))
            conds.append(or_(visible, p.c.public.is_(True)) if public else visible)
        elif public is not None:
            conds.append(p.c.public.is_(public))
        # projects are few (thousands at most): any order is one sort, no index needed
        keys = {"name": p.c.name, "created": p.c.created_at, "size": p.c.used_bytes}
        q = (
            select(p)
            .where(*conds)
            .order_by(*ordering(sort, keys, p.c.name))
            .limit(page.size)
            .offset(page.offset)
        )
        count = select(func.count()).select_from(p).where(*conds)
        async with self._db.read.connect() as conn:
            rows = (await conn.execute(q)).all()
            total = int(await conn.scalar(count) or 0)
        return [self._project(r) for r in rows], total

    @changes_identity
    async def update_project(self, name: str, **changes: Any) -> ProjectRecord | None:
        unknown = set(changes) - _PROJECT_FIELDS
        if unknown:
            raise ValueError(f"cannot change {sorted(unknown)}")
        async with self._db.write.begin() as conn:
            await conn.execute(
                update(s.projects)
                .where(s.projects.c.name == name)
                .values(**changes, updated_at=_now())
            )
        return await self.get_project(name)

    @changes_identity
    async def delete_project(self, name: str) -> bool:
        p, r = s.projects, s.repositories
        async with self._db.write.begin() as conn:
            pid = await conn.scalar(select(p.c.id).where(p.c.name == name))
            if pid is None:
                return False
            held = await conn.scalar(
                select(func.count()).select_from(r).where(r.c.project_id == pid)
            )
            if held:
                raise Conflict(
                    f"project {name!r} still holds {held} repositories: delete them first"
                )
            await conn.execute(delete(s.members).where(s.members.c.project_id == pid))
            await conn.execute(delete(s.robots).where(s.robots.c.project_id == pid))
            await conn.execute(delete(p).where(p.c.id == pid))
        return True

    @staticmethod
    def _member(row: Row[Any]) -> MemberRecord:
        repos = None if row.repositories is None else tuple(json.loads(row.repositories))
        return MemberRecord(
            id=int(row.id),
            project=row.project,
            kind=row.kind,
            name=row.name,
            role=row.role,
            repositories=repos,
            created_at=ts(row.created_at),
        )

    def _members_query(self) -> Any:
        m, p = s.members, s.projects
        return select(m, p.c.name.label("project")).join(p, p.c.id == m.c.project_id)

    @changes_identity
    async def add_member(
        self,
        project: str,
        kind: MemberKind,
        name: str,
        role: str,
        repositories: Sequence[str] | None,
    ) -> MemberRecord:
        repos = None if repositories is None else json.dumps(list(repositories))
        try:
            async with self._db.write.begin() as conn:
                pid = await project_id(conn, project)
                res = await conn.execute(
                    s.members.insert()
                    .values(
                        project_id=pid,
                        kind=kind,
                        name=name,
                        role=role,
                        repositories=repos,
                        created_at=_now(),
                    )
                    .returning(s.members.c.id)
                )
                mid = int(res.scalar_one())
        except IntegrityError:
            raise Conflict(f"{kind} {name!r} is already a member of {project!r}") from None
        return await self._get_member(mid)

    async def _get_member(self, member_id: int) -> MemberRecord:
        async with self._db.read.connect() as conn:
            row = (
                await conn.execute(self._members_query().where(s.members.c.id == member_id))
            ).first()
        assert row is not None
        return self._member(row)

    @changes_identity
    async def update_member(
        self, project: str, member_id: int, role: str, repositories: Sequence[str] | None
    ) -> MemberRecord | None:
        m = s.members
        repos = None if repositories is None else json.dumps(list(repositories))
        async with self._db.write.begin() as conn:
            pid = await project_id(conn, project)
            res = await conn.execute(
                update(m)
                .where(m.c.id == member_id, m.c.project_id == pid)
                .values(role=role, repositories=repos)
            )
        return await self._get_member(member_id) if res.rowcount else None

    @changes_identity
    async def remove_member(self, project: str, member_id: int) -> bool:
        m = s.members
        async with self._db.write.begin() as conn:
            pid = await project_id(conn, project)
            res = await conn.execute(delete(m).where(m.c.id == member_id, m.c.project_id == pid))
        return bool(res.rowcount)

    async def list_members(self, project: str) -> list[MemberRecord]:
        q = self._members_query().where(s.projects.c.name == project).order_by(s.members.c.id)
        async with self._db.read.connect() as conn:
            rows = (await conn.execute(q)).all()
        return [self._member(r) for r in rows]

    async def memberships(
        self, username: str, groups: Sequence[str], project: str | None = None
    ) -> list[MemberRecord]:
        m = s.members
        who = and_(m.c.kind == "user", m.c.name == username)
        if groups:
            who = or_(who, and_(m.c.kind == "group", m.c.name.in_(list(groups))))
        q = self._members_query().where(who)
        if project is not None:
            q = q.where(s.projects.c.name == project)
        async with self._db.read.connect() as conn:
            rows = (await conn.execute(q)).all()
        return [self._member(r) for r in rows]

    async def cached_project(self, name: str) -> ProjectRecord | None:
        # a project also comes into being with a push (the registry store creates it,
        # not this one): that one was missing is never remembered
        found: ProjectRecord | None = await self.identity_cache.lookup(
            ("project", name), lambda: self.get_project(name), keep_none=False
        )
        return found

    async def cached_memberships(
        self, username: str, groups: Sequence[str], project: str
    ) -> list[MemberRecord]:
        key = ("members", username, tuple(groups), project)
        found: list[MemberRecord] = await self.identity_cache.lookup(
            key, lambda: self.memberships(username, groups, project)
        )
        return found
