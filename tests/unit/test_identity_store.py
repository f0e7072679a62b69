"""IdentityStore conformance (users, projects, members, robots, audit, throttling,
secrets, quota accounting), on SQLite and on PostgreSQL alike."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from dockyard.errors import Conflict, NotFound, QuotaExceeded
from dockyard.metadata.engine import async_url
from dockyard.metadata.identity import AuditEvent, AuditQuery, Grant, Page, ThrottleRule
from dockyard.metadata.migrate import upgrade
from dockyard.metadata.sql import SqlMetadataStore
from dockyard.metadata.sql_identity import SqlIdentityStore
from dockyard.oci.digest import digest_of


def blob(name: str, size: int = 10) -> tuple[str, int]:
    return digest_of(name.encode()), size


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


class IdentityConformance:
    @pytest.fixture
    async def database_url(self) -> AsyncIterator[str]:
        raise NotImplementedError
        yield ""

    @pytest.fixture
    async def stores(
        self, database_url: str
    ) -> AsyncIterator[tuple[SqlMetadataStore, SqlIdentityStore]]:
        await upgrade(database_url)
        store = SqlMetadataStore(database_url)
        try:
            yield store, SqlIdentityStore(store)
        finally:
            await store.close()

    async def test_users(self, stores: tuple[SqlMetadataStore, SqlIdentityStore]) -> None:
        _, ids = stores
        assert await ids.count_users() == 0
        u = await ids.create_user("alice", source="local", password_hash="h", email="a@x")
        assert u.username == "alice" and not u.is_admin and not u.disabled and u.groups == ()
        with pytest.raises(Conflict):
            await ids.create_user("alice", source="local")
        await ids.create_user("bob_1", source="ldap", groups=["g1", "g2"])
        got = await ids.update_user("bob_1", is_admin=True, groups=["g3"])
        assert got is not None and got.is_admin and got.groups == ("g3",)
        users, total = await ids.list_users("b", Page(1, 10))
        assert total == 1 and users[0].username == "bob_1"
        users, total = await ids.list_users("_", Page(1, 10))  # LIKE wildcards are literal
        assert [u.username for u in users] == ["bob_1"]
        users, total = await ids.list_users(None, Page(2, 1))
        assert total == 2 and [u.username for u in users] == ["bob_1"]
        assert await ids.delete_user("alice") and not await ids.delete_user("alice")
        assert await ids.get_user("alice") is None

    async def test_projects_and_members(
        self, stores: tuple[SqlMetadataStore, SqlIdentityStore]
    ) -> None:
        store, ids = stores
        p = await ids.create_project("team-a", public=True, quota_bytes=100)
        assert p.public and p.quota_bytes == 100 and p.used_bytes == 0
        with pytest.raises(Conflict):
            await ids.create_project("team-a")
        await ids.create_project("team-b")
        await ids.add_member("team-a", "user", "alice", "developer", ["team-a/api/*"])
        await ids.add_member("team-a", "group", "devs", "maintainer", None)
        await ids.add_member("team-b", "user", "alice", "guest", None)
        with pytest.raises(Conflict):
            await ids.add_member("team-a", "user", "alice", "guest", None)
        with pytest.raises(NotFound):
            await ids.add_member("nope", "user", "alice", "guest", None)
        mine = await ids.memberships("alice", ["devs"], "team-a")
        assert {(m.kind, m.role, m.repositories) for m in mine} == {
            ("user", "developer", ("team-a/api/*",)),
            ("group", "maintainer", None),
        }
        assert len(await ids.memberships("alice", [])) == 2
        m = mine[0]
        changed = await ids.update_member("team-a", m.id, "guest", None)
        assert changed is not None and changed.role == "guest"
        assert await ids.update_member("team-b", m.id, "guest", None) is None  # other project
        assert await ids.remove_member("team-a", m.id)
        projects, total = await ids.list_projects(None, ["team-b"], True, Page())
        assert {p.name for p in projects} == {"team-a", "team-b"} and total == 2
        projects, _ = await ids.list_projects(None, ["team-b"], None, Page())
        assert [p.name for p in projects] == ["team-b"]
        # a project holding repositories cannot go
        await store.link_blob("team-b/app", *blob("x"))
        with pytest.raises(Conflict):
            await ids.delete_project("team-b")
        assert await ids.delete_repository("team-b/app")
        assert await ids.delete_project("team-b")
        assert await ids.get_project("team-b") is None

    async def test_robots(self, stores: tuple[SqlMetadataStore, SqlIdentityStore]) -> None:
        _, ids = stores
        await ids.create_project("team-a")
        grants = [Grant("team-a", frozenset({"pull", "push"}), ("team-a/*",))]
        r = await ids.create_robot(
            "robot$team-a+ci",
            project="team-a",
            description="ci",
            secret_hash="s",
            permissions=grants,
            expires_at=None,
            created_by="admin",
        )
        assert r.project == "team-a" and r.permissions == tuple(grants)
        with pytest.raises(Conflict):
            await ids.create_robot(
                "robot$team-a+ci",
                project="team-a",
                description="",
                secret_hash="s",
                permissions=[],
                expires_at=None,
                created_by="admin",
            )
        await ids.create_robot(
            "robot$sys",
            project=None,
            description="",
            secret_hash="t",
            permissions=[Grant("*", frozenset({"pull"}))],
            expires_at=None,
            created_by="admin",
        )
        assert [x.name for x in await ids.list_robots(None)] == ["robot$sys"]
        assert [x.name for x in await ids.list_robots("team-a")] == ["robot$team-a+ci"]
        soon = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
        got = await ids.update_robot("robot$sys", disabled=True, expires_at=soon, secret_hash="u")
        assert got is not None and got.disabled and got.secret_hash == "u"
        assert got.expires_at is not None and abs((got.expires_at - soon).total_seconds()) < 1
        assert await ids.delete_robot("robot$sys")

    async def test_audit(self, stores: tuple[SqlMetadataStore, SqlIdentityStore]) -> None:
        _, ids = stores
        old = dt.datetime.now(dt.UTC) - dt.timedelta(days=10)
        await ids.add_audit(
            [
                AuditEvent("alice", "user", "10.0.0.1", "push", "team-a/app:v1", project="team-a"),
                AuditEvent("bob", "user", "10.0.0.2", "pull", "team-b/app:v1", project="team-b"),
                AuditEvent(
                    "bob",
                    "user",
                    "10.0.0.2",
                    "login",
                    "user/bob",
                    outcome="failed",
                    detail={"reason": "x"},
                    at=old,
                ),
            ]
        )
        got, total = await ids.query_audit(AuditQuery(actor="bob"), Page())
        assert total == 2 and got[0].action == "pull"  # newest first
        got, _ = await ids.query_audit(AuditQuery(outcome="failed"), Page())
        assert got[0].detail == {"reason": "x"}
        got, _ = await ids.query_audit(AuditQuery(projects=["team-a"]), Page())
        assert [e.actor for e in got] == ["alice"]
        got, _ = await ids.query_audit(AuditQuery(resource_prefix="team-"), Page(1, 1))
        assert len(got) == 1
        since = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
        _, total = await ids.query_audit(AuditQuery(since=since), Page())
        assert total == 2
        assert await ids.purge_audit(since) == 1

    async def test_login_throttle_counts_then_backs_off(
        self, stores: tuple[SqlMetadataStore, SqlIdentityStore]
    ) -> None:
        _, ids = stores
        rule = ThrottleRule(free=3, base=10.0, cap=40.0, window=100.0)
        now = 1_000_000.0

        async def wait(key: str, at: float) -> float:
            admitted, until = await ids.take_login_attempt(key, at, rule)
            return 0.0 if admitted else until - at

        # the first free attempts go ahead; the third starts the first backoff
        assert [await wait("k", now) for _ in range(3)] == [0, 0, 0]
        assert await wait("k", now + 1) == pytest.approx(9.0)
        assert await wait("other", now + 1) == 0  # keys are independent
        # once the wait is over, one attempt goes ahead and the wait doubles
        assert await ids.take_login_attempt("k", now + 10, rule) == (True, now + 30)
        assert await wait("k", now + 29) == pytest.approx(1.0)
        assert await wait("k", now + 30) == 0
        assert await wait("k", now + 31) == pytest.approx(39.0)  # the cap
        # a success resets the key
        await ids.forgive_login_attempt("k", rule, reset=True)
        assert await wait("k", now + 32) == 0
        # failures older than the window are forgotten
        for _ in range(2):
            await wait("k", now + 33)
        assert await wait("k", now + 33 + 40 + 101) == 0
        assert await ids.purge_login_attempts(now + 10_000) == 2

    async def test_login_throttle_is_atomic_under_concurrency(
        self, stores: tuple[SqlMetadataStore, SqlIdentityStore]
    ) -> None:
        _, ids = stores
        rule = ThrottleRule(free=5, base=60.0, cap=60.0, window=600.0)
        now = 2_000_000.0
        got = await asyncio.gather(*(ids.take_login_attempt("storm", now, rule) for _ in range(40)))
        assert sum(1 for admitted, _ in got if admitted) == 5, got

    async def test_user_names_ignore_case(
        self, stores: tuple[SqlMetadataStore, SqlIdentityStore]
    ) -> None:
        _, ids = stores
        await ids.create_user("admin", source="local", password_hash="x")
        with pytest.raises(Conflict):
            await ids.create_user("Admin", source="local", password_hash="y")
        found = await ids.get_user("ADMIN")
        assert found is not None and found.username == "admin"

    async def test_recording_a_login_keeps_cached_lookups(
        self, stores: tuple[SqlMetadataStore, SqlIdentityStore]
    ) -> None:
        store, _ = stores
        cache = _CountingCache()
        ids = SqlIdentityStore(store, cache)
        await ids.create_user("carol", source="local", password_hash="x")
        changes = cache.invalidations
        await ids.record_login("carol", dt.datetime.now(dt.UTC))
        assert cache.invalidations == changes  # no identity change, no invalidation
        got = await ids.get_user("carol")
        assert got is not None and got.last_login_at is not None
        await ids.update_user("carol", email="c@x")
        assert cache.invalidations == changes + 1

    async def test_secrets(self, stores: tuple[SqlMetadataStore, SqlIdentityStore]) -> None:
        _, ids = stores
        got = await asyncio.gather(*(ids.get_or_create_secret("k", f"v{i}") for i in range(5)))
        assert len(set(got)) == 1 and await ids.get_secret("k") == got[0]

    async def test_quota_counts_blobs_once_per_project(
        self, stores: tuple[SqlMetadataStore, SqlIdentityStore]
    ) -> None:
        store, ids = stores
        await ids.create_project("q", quota_bytes=25)
        a, b, c = blob("a", 10), blob("b", 10), blob("c", 10)
        await store.link_blob("q/one", *a)
        await store.link_blob("q/two", *a)  # same blob, second repository: free
        await store.link_blob("other/x", *b)  # another project: not counted here
        assert (await ids.get_project("q")).used_bytes == 10  # type: ignore[union-attr]
        await store.link_blob("q/one", *b)
        with pytest.raises(QuotaExceeded) as exc:
            await store.link_blob("q/two", *c)
        assert exc.value.detail["project"] == "q"
        with pytest.raises(QuotaExceeded):
            await store.check_quota("q/one", *c)
        await store.check_quota("q/one", *a)  # already there: fits
        assert await store.unlink_blob("q/one", a[0])
        assert (await ids.get_project("q")).used_bytes == 20  # still in q/two  # type: ignore[union-attr]
        assert await store.unlink_blob("q/two", a[0])
        assert (await ids.get_project("q")).used_bytes == 10  # type: ignore[union-attr]
        await store.link_blob("q/two", *c)
        assert await ids.delete_repository("q/two")
        assert (await ids.get_project("q")).used_bytes == 10  # type: ignore[union-attr]

    async def test_concurrent_links_count_once(
        self, stores: tuple[SqlMetadataStore, SqlIdentityStore]
    ) -> None:
        store, ids = stores
        await ids.create_project("race", quota_bytes=1000)
        d, size = blob("shared", 100)
        await asyncio.gather(*(store.link_blob(f"race/r{i}", d, size) for i in range(8)))
        assert (await ids.get_project("race")).used_bytes == 100  # type: ignore[union-attr]


class TestSqliteIdentity(IdentityConformance):
    @pytest.fixture
    async def database_url(self, tmp_path: Path) -> AsyncIterator[str]:
        yield f"sqlite:///{tmp_path / 'db.sqlite'}"


class TestPostgresIdentity(IdentityConformance):
    @pytest.fixture
    async def database_url(self, postgres_database: str) -> AsyncIterator[str]:
        yield postgres_database


async def test_migration_puts_existing_repositories_into_projects(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    await upgrade(url, "0001")
    engine = create_async_engine(async_url(url))
    now = dt.datetime.now(dt.UTC)
    async with engine.begin() as conn:
        for i, name in enumerate(("team-a/app", "team-a/web", "solo"), start=1):
            await conn.execute(
                text("INSERT INTO repositories (id, name, created_at) VALUES (:i, :n, :t)"),
                {"i": i, "n": name, "t": now},
            )
        await conn.execute(
            text("INSERT INTO blobs (digest, size, created_at) VALUES ('sha256:aa', 7, :t)"),
            {"t": now},
        )
        for rid in (1, 2):
            await conn.execute(
                text("INSERT INTO repository_blobs VALUES (:r, 'sha256:aa', :t)"),
                {"r": rid, "t": now},
            )
    await engine.dispose()
    await upgrade(url)
    store = SqlMetadataStore(url)
    try:
        ids = SqlIdentityStore(store)
        team = await ids.get_project("team-a")
        assert team is not None and not team.public and team.used_bytes == 7
        assert await ids.get_project("solo") is not None
        repos, total = await ids.list_project_repositories("team-a", None, Page())
        assert total == 2 and [r.name for r in repos] == ["team-a/app", "team-a/web"]
    finally:
        await store.close()
