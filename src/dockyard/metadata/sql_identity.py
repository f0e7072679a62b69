"""IdentityStore on the same SQLAlchemy engines as the registry metadata."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, and_, case, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from dockyard.cache.base import Cache
from dockyard.errors import Conflict, NotFound
from dockyard.metadata import schema as s
from dockyard.metadata.identity import (
    AuditEvent,
    AuditQuery,
    Grant,
    MemberKind,
    MemberRecord,
    Page,
    ProjectRecord,
    RobotRecord,
    ThrottleRule,
    UserRecord,
    UserSource,
)
from dockyard.metadata.identity_cache import CachedLookups, changes_identity
from dockyard.metadata.sql import SqlMetadataStore, _now, _utc, contains_pattern, like_escape
from dockyard.metadata.sql_catalog import CatalogQueries

_USER_FIELDS = {
    "email",
    "password_hash",
    "cli_secret_hash",
    "is_admin",
    "disabled",
    "groups",
    "last_login_at",
    "subject",
}
_PROJECT_FIELDS = {"public", "quota_bytes"}
_ROBOT_FIELDS = {"description", "secret_hash", "permissions", "expires_at", "disabled"}


def _delay_case(n: Any, rule: ThrottleRule) -> Any:
    """SQL for `rule.delay(n)`: no wait for the free attempts, then doubling up to the cap."""
    steps = [(n < rule.free, 0.0)]
    i = 0
    while rule.base * 2**i < rule.cap:
        steps.append((n == rule.free + i, rule.base * 2**i))
        i += 1
    return case(*steps, else_=rule.cap)


def _user_is(username: str) -> Any:
    """User names compare regardless of case (`Admin` is `admin`)."""
    return func.lower(s.users.c.username) == username.lower()


def _ts(value: Any) -> dt.datetime:
    out = _utc(value)
    assert out is not None
    return out


class SqlIdentityStore(CatalogQueries, CachedLookups):
    def __init__(self, store: SqlMetadataStore, cache: Cache | None = None) -> None:
        self._store = store
        self._read, self._write = store._read, store._write
        self._insert = store._insert
        CachedLookups.__init__(self, cache)

    # -- users ------------------------------------------------------------------

    @staticmethod
    def _user(row: Row[Any]) -> UserRecord:
        return UserRecord(
            id=int(row.id),
            username=row.username,
            email=row.email,
            source=row.source,
            password_hash=row.password_hash,
            cli_secret_hash=row.cli_secret_hash,
            is_admin=bool(row.is_admin),
            disabled=bool(row.disabled),
            groups=tuple(json.loads(row.groups or "[]")),
            created_at=_ts(row.created_at),
            updated_at=_ts(row.updated_at),
            last_login_at=_utc(row.last_login_at),
        )

    @changes_identity
    async def create_user(
        self,
        username: str,
        *,
        source: UserSource,
        password_hash: str | None = None,
        email: str | None = None,
        is_admin: bool = False,
        groups: Sequence[str] = (),
    ) -> UserRecord:
        now = _now()
        values = {
            "username": username,
            "email": email,
            "source": source,
            "password_hash": password_hash,
            "is_admin": is_admin,
            "disabled": False,
            "groups": json.dumps(list(groups)),
            "created_at": now,
            "updated_at": now,
        }
        try:
            async with self._write.begin() as conn:
                await conn.execute(s.users.insert().values(**values))
        except IntegrityError:
            raise Conflict(f"user {username!r} already exists (names ignore case)") from None
        user = await self.get_user(username)
        assert user is not None
        return user

    async def get_user(self, username: str) -> UserRecord | None:
        async with self._read.connect() as conn:
            row = (await conn.execute(select(s.users).where(_user_is(username)))).first()
        return None if row is None else self._user(row)

    async def count_users(self) -> int:
        async with self._read.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(s.users)) or 0)

    async def list_users(self, query: str | None, page: Page) -> tuple[list[UserRecord], int]:
        u = s.users
        cond = u.c.username.like(contains_pattern(query), escape="\\") if query else None
        q = select(u).order_by(u.c.username).limit(page.size).offset(page.offset)
        count = select(func.count()).select_from(u)
        if cond is not None:
            q, count = q.where(cond), count.where(cond)
        async with self._read.connect() as conn:
            rows = (await conn.execute(q)).all()
            total = int(await conn.scalar(count) or 0)
        return [self._user(r) for r in rows], total

    @changes_identity
    async def update_user(self, username: str, **changes: Any) -> UserRecord | None:
        unknown = set(changes) - _USER_FIELDS
        if unknown:
            raise ValueError(f"cannot change {sorted(unknown)}")
        if "groups" in changes:
            changes["groups"] = json.dumps(list(changes["groups"]))
        async with self._write.begin() as conn:
            await conn.execute(
                update(s.users).where(_user_is(username)).values(**changes, updated_at=_now())
            )
        return await self.get_user(username)

    async def record_login(self, username: str, at: dt.datetime) -> None:
        async with self._write.begin() as conn:
            await conn.execute(update(s.users).where(_user_is(username)).values(last_login_at=at))

    @changes_identity
    async def delete_user(self, username: str) -> bool:
        async with self._write.begin() as conn:
            name = await conn.scalar(select(s.users.c.username).where(_user_is(username)))
            if name is None:
                return False
            res = await conn.execute(delete(s.users).where(s.users.c.username == name))
            if res.rowcount:
                await conn.execute(
                    delete(s.members).where(s.members.c.kind == "user", s.members.c.name == name)
                )
        return bool(res.rowcount)

    # -- projects ---------------------------------------------------------------

    @staticmethod
    def _project(row: Row[Any]) -> ProjectRecord:
        return ProjectRecord(
            id=int(row.id),
            name=row.name,
            public=bool(row.public),
            quota_bytes=None if row.quota_bytes is None else int(row.quota_bytes),
            used_bytes=int(row.used_bytes),
            created_at=_ts(row.created_at),
            updated_at=_ts(row.updated_at),
        )

    @changes_identity
    async def create_project(
        self, name: str, *, public: bool = False, quota_bytes: int | None = None
    ) -> ProjectRecord:
        now = _now()
        try:
            async with self._write.begin() as conn:
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
        async with self._read.connect() as conn:
            row = (await conn.execute(select(p).where(p.c.name == name))).first()
        return None if row is None else self._project(row)

    async def list_projects(
        self, query: str | None, names: Sequence[str] | None, public: bool | None, page: Page
    ) -> tuple[list[ProjectRecord], int]:
        p = s.projects
        conds: list[Any] = []
        if query:
            conds.append(p.c.name.like(contains_pattern(query), escape="\\"))
        if names is not None:
            visible = p.c.name.in_(list(names))
            conds.append(or_(visible, p.c.public.is_(True)) if public else visible)
        elif public is not None:
            conds.append(p.c.public.is_(public))
        q = select(p).where(*conds).order_by(p.c.name).limit(page.size).offset(page.offset)
        count = select(func.count()).select_from(p).where(*conds)
        async with self._read.connect() as conn:
            rows = (await conn.execute(q)).all()
            total = int(await conn.scalar(count) or 0)
        return [self._project(r) for r in rows], total

    @changes_identity
    async def update_project(self, name: str, **changes: Any) -> ProjectRecord | None:
        unknown = set(changes) - _PROJECT_FIELDS
        if unknown:
            raise ValueError(f"cannot change {sorted(unknown)}")
        async with self._write.begin() as conn:
            await conn.execute(
                update(s.projects)
                .where(s.projects.c.name == name)
                .values(**changes, updated_at=_now())
            )
        return await self.get_project(name)

    @changes_identity
    async def delete_project(self, name: str) -> bool:
        p, r = s.projects, s.repositories
        async with self._write.begin() as conn:
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

    # -- members ----------------------------------------------------------------

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
            created_at=_ts(row.created_at),
        )

    def _members_query(self) -> Any:
        m, p = s.members, s.projects
        return select(m, p.c.name.label("project")).join(p, p.c.id == m.c.project_id)

    async def _project_id(self, conn: AsyncConnection, project: str) -> int:
        pid = await conn.scalar(select(s.projects.c.id).where(s.projects.c.name == project))
        if pid is None:
            raise NotFound(f"project {project!r} does not exist")
        return int(pid)

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
            async with self._write.begin() as conn:
                pid = await self._project_id(conn, project)
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
        async with self._read.connect() as conn:
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
        async with self._write.begin() as conn:
            pid = await self._project_id(conn, project)
            res = await conn.execute(
                update(m)
                .where(m.c.id == member_id, m.c.project_id == pid)
                .values(role=role, repositories=repos)
            )
        return await self._get_member(member_id) if res.rowcount else None

    @changes_identity
    async def remove_member(self, project: str, member_id: int) -> bool:
        m = s.members
        async with self._write.begin() as conn:
            pid = await self._project_id(conn, project)
            res = await conn.execute(delete(m).where(m.c.id == member_id, m.c.project_id == pid))
        return bool(res.rowcount)

    async def list_members(self, project: str) -> list[MemberRecord]:
        q = self._members_query().where(s.projects.c.name == project).order_by(s.members.c.id)
        async with self._read.connect() as conn:
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
        async with self._read.connect() as conn:
            rows = (await conn.execute(q)).all()
        return [self._member(r) for r in rows]

    # -- robots -----------------------------------------------------------------

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
            created_at=_ts(row.created_at),
            updated_at=_ts(row.updated_at),
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
            async with self._write.begin() as conn:
                pid = None if project is None else await self._project_id(conn, project)
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
        async with self._read.connect() as conn:
            row = (await conn.execute(self._robots_query().where(s.robots.c.name == name))).first()
        return None if row is None else self._robot(row)

    async def list_robots(self, project: str | None) -> list[RobotRecord]:
        q = self._robots_query().order_by(s.robots.c.name)
        q = q.where(
            s.robots.c.project_id.is_(None) if project is None else s.projects.c.name == project
        )
        async with self._read.connect() as conn:
            rows = (await conn.execute(q)).all()
        return [self._robot(r) for r in rows]

    @changes_identity
    async def update_robot(self, name: str, **changes: Any) -> RobotRecord | None:
        unknown = set(changes) - _ROBOT_FIELDS
        if unknown:
            raise ValueError(f"cannot change {sorted(unknown)}")
        if "permissions" in changes:
            changes["permissions"] = json.dumps([g.to_json() for g in changes["permissions"]])
        async with self._write.begin() as conn:
            await conn.execute(
                update(s.robots).where(s.robots.c.name == name).values(**changes, updated_at=_now())
            )
        return await self.get_robot(name)

    @changes_identity
    async def delete_robot(self, name: str) -> bool:
        async with self._write.begin() as conn:
            res = await conn.execute(delete(s.robots).where(s.robots.c.name == name))
        return bool(res.rowcount)

    # -- audit ------------------------------------------------------------------

    async def add_audit(self, events: Sequence[AuditEvent]) -> None:
        if not events:
            return
        now = _now()
        rows = [
            {
                "at": ev.at or now,
                "actor": ev.actor[:255],
                "actor_kind": ev.actor_kind,
                "address": ev.address[:64],
                "action": ev.action,
                "resource": ev.resource[:512],
                "project": ev.project,
                "outcome": ev.outcome,
                "detail": None if ev.detail is None else json.dumps(ev.detail),
            }
            for ev in events
        ]
        async with self._write.begin() as conn:
            await conn.execute(s.audit_log.insert(), rows)

    async def query_audit(self, query: AuditQuery, page: Page) -> tuple[list[AuditEvent], int]:
        a = s.audit_log
        conds: list[Any] = []
        if query.actor:
            conds.append(a.c.actor == query.actor)
        if query.action:
            conds.append(a.c.action == query.action)
        if query.project:
            conds.append(a.c.project == query.project)
        if query.projects is not None:
            conds.append(a.c.project.in_(list(query.projects)))
        if query.resource_prefix:
            conds.append(a.c.resource.like(like_escape(query.resource_prefix) + "%", escape="\\"))
        if query.outcome:
            conds.append(a.c.outcome == query.outcome)
        if query.since:
            conds.append(a.c.at >= query.since)
        if query.until:
            conds.append(a.c.at < query.until)
        q = (
            select(a)
            .where(*conds)
            .order_by(a.c.at.desc(), a.c.id.desc())
            .limit(page.size)
            .offset(page.offset)
        )
        count = select(func.count()).select_from(a).where(*conds)
        async with self._read.connect() as conn:
            rows = (await conn.execute(q)).all()
            total = int(await conn.scalar(count) or 0)
        return [
            AuditEvent(
                id=int(r.id),
                at=_utc(r.at),
                actor=r.actor,
                actor_kind=r.actor_kind,
                address=r.address,
                action=r.action,
                resource=r.resource,
                project=r.project,
                outcome=r.outcome,
                detail=None if r.detail is None else json.loads(r.detail),
            )
            for r in rows
        ], total

    async def purge_audit(self, older_than: dt.datetime) -> int:
        async with self._write.begin() as conn:
            res = await conn.execute(delete(s.audit_log).where(s.audit_log.c.at < older_than))
        return int(res.rowcount or 0)

    # -- login throttling -------------------------------------------------------

    async def take_login_attempt(
        self, key: str, now: float, rule: ThrottleRule
    ) -> tuple[bool, float]:
        t = s.login_throttle
        key = key[:320]
        fresh = t.c.last_at >= now - rule.window
        n = case((fresh, t.c.failures + 1), else_=1)
        counted = (
            update(t)
            .where(t.c.key == key, t.c.blocked_until <= now)
            .values(failures=n, last_at=now, blocked_until=now + _delay_case(n, rule))
            .returning(t.c.blocked_until)
        )
        for _ in range(2):
            async with self._write.begin() as conn:
                row = (await conn.execute(counted)).first()
                if row is not None:
                    return True, float(row[0])
                inserted = await conn.execute(
                    self._insert(t)
                    .values(key=key, failures=1, last_at=now, blocked_until=now + rule.delay(1))
                    .on_conflict_do_nothing(index_elements=["key"])
                    .returning(t.c.blocked_until)
                )
                row = inserted.first()
                if row is not None:
                    return True, float(row[0])
                until = await conn.scalar(select(t.c.blocked_until).where(t.c.key == key))
                if until is not None and float(until) > now:
                    return False, float(until)
        return True, now

    async def forgive_login_attempt(self, key: str, rule: ThrottleRule, *, reset: bool) -> None:
        t = s.login_throttle
        key = key[:320]
        async with self._write.begin() as conn:
            if reset:
                await conn.execute(delete(t).where(t.c.key == key))
                return
            left = t.c.failures - 1
            await conn.execute(
                update(t)
                .where(t.c.key == key, t.c.failures > 0)
                .values(
                    failures=left,
                    blocked_until=case((left < rule.free, 0.0), else_=t.c.blocked_until),
                )
            )

    async def purge_login_attempts(self, before: float) -> int:
        t = s.login_throttle
        async with self._write.begin() as conn:
            res = await conn.execute(
                delete(t).where(t.c.last_at < before, t.c.blocked_until < before)
            )
        return int(res.rowcount or 0)

    # -- secrets ----------------------------------------------------------------

    async def get_secret(self, name: str) -> str | None:
        async with self._read.connect() as conn:
            got = await conn.scalar(select(s.secrets.c.value).where(s.secrets.c.name == name))
        return None if got is None else str(got)

    async def get_or_create_secret(self, name: str, value: str) -> str:
        async with self._write.begin() as conn:
            await conn.execute(
                self._insert(s.secrets)
                .values(name=name, value=value, created_at=_now())
                .on_conflict_do_nothing(index_elements=["name"])
            )
            got = await conn.scalar(select(s.secrets.c.value).where(s.secrets.c.name == name))
        assert got is not None
        return str(got)
