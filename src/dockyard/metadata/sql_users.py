"""UserStore on SQL: users, whose names compare regardless of case, and their web UI
sessions."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from dockyard.errors import Conflict
from dockyard.metadata import schema as s
from dockyard.metadata.identity import Page, UserRecord, UserSort, UserSource
from dockyard.metadata.identity_cache import IdentityCache, changes_identity
from dockyard.metadata.sql import _now, _utc, contains_pattern
from dockyard.metadata.sql_base import SqlEngines, ordering, ts

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

    async def list_users(
        self, query: str | None, page: Page, sort: UserSort = "name"
    ) -> tuple[list[UserRecord], int]:
        u = s.users
        cond = None
        if query:  # names compare regardless of case, on either database
            pattern = contains_pattern(query.lower())
            cond = func.lower(u.c.username).like(pattern, escape="\\")
        # a sort of the table (tens of thousands of directory users at most), one page kept
        keys = {"name": u.c.username, "created": u.c.created_at, "login": u.c.last_login_at}
        order = ordering(sort, keys, u.c.username, nullable={"login"})
        q = select(u).order_by(*order).limit(page.size).offset(page.offset)
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
            user_id = select(s.users.c.id).where(s.users.c.username == name).scalar_subquery()
            await conn.execute(delete(s.user_sessions).where(s.user_sessions.c.user_id == user_id))
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

    # -- web UI sessions -----------------------------------------------------------

    async def create_session(self, username: str, id_hash: str, expires_at: dt.datetime) -> bool:
        """Record a session of the user; False if there is no such user. Sessions past
        their expiry are dropped on the way (an indexed delete, at sign-in only)."""
        now = _now()
        async with self._db.write.begin() as conn:
            user_id = await conn.scalar(select(s.users.c.id).where(_user_is(username)))
            if user_id is None:
                return False
            await conn.execute(delete(s.user_sessions).where(s.user_sessions.c.expires_at < now))
            await conn.execute(
                s.user_sessions.insert().values(
                    id_hash=id_hash, user_id=user_id, created_at=now, expires_at=expires_at
                )
            )
        return True

    async def session_user(self, id_hash: str) -> tuple[str, dt.datetime] | None:
        """The name of the user a live session belongs to, and when it expires. Read
        from the primary: a session is used the moment it is made."""
        async with self._db.write.connect() as conn:
            row = (
                await conn.execute(
                    select(s.users.c.username, s.user_sessions.c.expires_at)
                    .join(s.users, s.users.c.id == s.user_sessions.c.user_id)
                    .where(s.user_sessions.c.id_hash == id_hash)
                )
            ).first()
        if row is None:
            return None
        expires = _utc(row.expires_at)
        assert expires is not None
        return (row.username, expires) if expires > _now() else None

    async def cached_session_user(self, id_hash: str) -> tuple[str, dt.datetime] | None:
        found: tuple[str, dt.datetime] | None = await self.identity_cache.lookup(
            ("session", id_hash), lambda: self.session_user(id_hash), keep_none=False
        )
        return found

    @changes_identity
    async def end_session(self, id_hash: str) -> bool:
        async with self._db.write.begin() as conn:
            res = await conn.execute(
                delete(s.user_sessions).where(s.user_sessions.c.id_hash == id_hash)
            )
        return bool(res.rowcount)

    @changes_identity
    async def end_sessions(self, username: str) -> int:
        """End every session of the user; how many there were."""
        async with self._db.write.begin() as conn:
            user_id = select(s.users.c.id).where(_user_is(username)).scalar_subquery()
            res = await conn.execute(
                delete(s.user_sessions).where(
                    s.user_sessions.c.user_id == user_id, s.user_sessions.c.expires_at >= _now()
                )
            )
        return int(res.rowcount or 0)
