"""UserStore conformance, on SQLite and on PostgreSQL alike."""

from __future__ import annotations

import datetime as dt

import pytest

from dockyard.errors import Conflict
from dockyard.metadata.identity import Page
from dockyard.metadata.sql_identity import sql_identity
from tests.unit.identity_conformance import Postgres, Sqlite, Stores


class _CountingCache:
    """A Cache that counts invalidations of the identity scope."""

    def __init__(self) -> None:
        self.invalidations = 0

    async def token(self, scope: str) -> bytes:
        return str(self.invalidations).encode()

    async def get(self, scope: str, key: str) -> object | None:
        return None

    async def put(self, scope: str, key: str, value: object, token: bytes, size: int) -> None:
        return None

    async def invalidate(self, scope: str) -> None:
        self.invalidations += 1


class UserStoreConformance:
    async def test_users(self, stores: Stores) -> None:
        _, ids = stores
        assert await ids.users.count_users() == 0
        u = await ids.users.create_user("alice", source="local", password_hash="h", email="a@x")
        assert u.username == "alice" and not u.is_admin and not u.disabled and u.groups == ()
        with pytest.raises(Conflict):
            await ids.users.create_user("alice", source="local")
        await ids.users.create_user("bob_1", source="ldap", groups=["g1", "g2"])
        got = await ids.users.update_user("bob_1", is_admin=True, groups=["g3"])
        assert got is not None and got.is_admin and got.groups == ("g3",)
        users, total = await ids.users.list_users("b", Page(1, 10))
        assert total == 1 and users[0].username == "bob_1"
        users, total = await ids.users.list_users("_", Page(1, 10))  # LIKE wildcards are literal
        assert [u.username for u in users] == ["bob_1"]
        users, total = await ids.users.list_users(None, Page(2, 1))
        assert total == 2 and [u.username for u in users] == ["bob_1"]
        assert await ids.users.delete_user("alice") and not await ids.users.delete_user("alice")
        assert await ids.users.get_user("alice") is None

    async def test_user_names_ignore_case(self, stores: Stores) -> None:
        _, ids = stores
        await ids.users.create_user("admin", source="local", password_hash="x")
        with pytest.raises(Conflict):
            await ids.users.create_user("Admin", source="local", password_hash="y")
        found = await ids.users.get_user("ADMIN")
        assert found is not None and found.username == "admin"

    async def test_recording_a_login_keeps_cached_lookups(self, stores: Stores) -> None:
        store, _ = stores
        cache = _CountingCache()
        ids = sql_identity(store, cache)
        await ids.users.create_user("carol", source="local", password_hash="x")
        changes = cache.invalidations
        await ids.users.record_login("carol", dt.datetime.now(dt.UTC))
        assert cache.invalidations == changes  # no identity change, no invalidation
        got = await ids.users.get_user("carol")
        assert got is not None and got.last_login_at is not None
        await ids.users.update_user("carol", email="c@x")
        assert cache.invalidations == changes + 1


class TestSqliteUserStore(Sqlite, UserStoreConformance):
    pass


class TestPostgresUserStore(Postgres, UserStoreConformance):
    pass
