"""UserStore on SQL: users, whose names compare regardless of case."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from dockyard.errors import Conflict
from dockyard.metadata import schema as s
from dockyard.metadata.identity import Page, UserRecord, UserSource
from dockyard.metadata.identity_cache import IdentityCache, changes_identity
from dockyard.metadata.sql import _now, _utc, contains_pattern
from dockyard.metadata.sql_base import SqlEngines, ts

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


def _user_is(username: str) -> Any:
    """User names compare regardless of case (`Admin` is `admin`)."""
    return func.lower(s.users.c.username) == username.lower()


class SqlUserStore:
    def __init__(self, db: SqlEngines, cache: IdentityCache) -> None:
        self._db = db
        self.identity_cache = cache

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
            created_at=ts(row.created_at),
            updated_at=ts(row.updated_at),
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
            async with self._db.write.begin() as conn:
                await conn.execute(s.users.insert().values(**values))
        except IntegrityError:
            raise Conflict(f"user {username!r} already exists (names ignore case)") from None
        user = await self.get_user(username)
        assert user is not None
        return user

    async def get_user(self, username: str) -> UserRecord | None:
        async with self._db.read.connect() as conn:
            row = (await conn.execute(select(s.users).where(_user_is(username)))).first()
        return None if row is None else self._user(row)

    async def count_users(self) -> int:
        async with self._db.read.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(s.users)) or 0)

    async def list_users(self, query: str | None, page: Page) -> tuple[list[UserRecord], int]:
        u = s.users
        cond = u.c.username.like(contains_pattern(query), escape="\\") if query else None
        q = select(u).order_by(u.c.username).limit(page.size).offset(page.offset)
        count = select(func.count()).select_from(u)
        if cond is not None:
            q, count = q.where(cond), count.where(cond)
        async with self._db.read.connect() as conn:
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
        async with self._db.write.begin() as conn:
            await conn.execute(
                update(s.users).where(_user_is(username)).values(**changes, updated_at=_now())
            )
        return await self.get_user(username)

    async def record_login(self, username: str, at: dt.datetime) -> None:
        async with self._db.write.begin() as conn:
            await conn.execute(update(s.users).where(_user_is(username)).values(last_login_at=at))

    @changes_identity
    async def delete_user(self, username: str) -> bool:
        async with self._db.write.begin() as conn:
            name = await conn.scalar(select(s.users.c.username).where(_user_is(username)))
            if name is None:
                return False
            res = await conn.execute(delete(s.users).where(s.users.c.username == name))
            if res.rowcount:
                await conn.execute(
                    delete(s.members).where(s.members.c.kind == "user", s.members.c.name == name)
                )
        return bool(res.rowcount)

    async def cached_user(self, username: str) -> UserRecord | None:
        found: UserRecord | None = await self.identity_cache.lookup(
            ("user", username.lower()), lambda: self.get_user(username)
        )
        return found
