"""ProjectStore conformance, on SQLite and on PostgreSQL alike."""

from __future__ import annotations

import asyncio

import pytest

from dockyard.errors import Conflict, NotFound, QuotaExceeded
from dockyard.metadata.identity import Page
from tests.unit.identity_conformance import Postgres, Sqlite, Stores, blob


class ProjectStoreConformance:
    async def test_projects_and_members(self, stores: Stores) -> None:
        store, ids = stores
        p = await ids.projects.create_project("team-a", public=True, quota_bytes=100)
        assert p.public and p.quota_bytes == 100 and p.used_bytes == 0
        with pytest.raises(Conflict):
            await ids.projects.create_project("team-a")
        await ids.projects.create_project("team-b")
        await ids.projects.add_member("team-a", "user", "alice", "developer", ["team-a/api/*"])
        await ids.projects.add_member("team-a", "group", "devs", "maintainer", None)
        await ids.projects.add_member("team-b", "user", "alice", "guest", None)
        with pytest.raises(Conflict):
            await ids.projects.add_member("team-a", "user", "alice", "guest", None)
        with pytest.raises(NotFound):
            await ids.projects.add_member("nope", "user", "alice", "guest", None)
        mine = await ids.projects.memberships("alice", ["devs"], "team-a")
        assert {(m.kind, m.role, m.repositories) for m in mine} == {
            ("user", "developer", ("team-a/api/*",)),
            ("group", "maintainer", None),
        }
        assert len(await ids.projects.memberships("alice", [])) == 2
        m = mine[0]
        changed = await ids.projects.update_member("team-a", m.id, "guest", None)
        assert changed is not None and changed.role == "guest"
        assert (
            await ids.projects.update_member("team-b", m.id, "guest", None) is None
        )  # other project
        assert await ids.projects.remove_member("team-a", m.id)
        projects, total = await ids.projects.list_projects(None, ["team-b"], True, Page())
        assert {p.name for p in projects} == {"team-a", "team-b"} and total == 2
        projects, _ = await ids.projects.list_projects(None, ["team-b"], None, Page())
        assert [p.name for p in projects] == ["team-b"]
        # a project holding repositories cannot go
        await store.link_blob("team-b/app", *blob("x"))
        with pytest.raises(Conflict):
            await ids.projects.delete_project("team-b")
        assert await ids.catalog.delete_repository("team-b/app")
        assert await ids.projects.delete_project("team-b")
        assert await ids.projects.get_project("team-b") is None

    async def test_quota_counts_blobs_once_per_project(self, stores: Stores) -> None:
        store, ids = stores
        await ids.projects.create_project("q", quota_bytes=25)
        a, b, c = blob("a", 10), blob("b", 10), blob("c", 10)
        await store.link_blob("q/one", *a)
        await store.link_blob("q/two", *a)  # same blob, second repository: free
        await store.link_blob("other/x", *b)  # another project: not counted here
        assert (await ids.projects.get_project("q")).used_bytes == 10  # type: ignore[union-attr]
        await store.link_blob("q/one", *b)
        with pytest.raises(QuotaExceeded) as exc:
            await store.link_blob("q/two", *c)
        assert exc.value.detail["project"] == "q"
        with pytest.raises(QuotaExceeded):
            await store.check_quota("q/one", *c)
        await store.check_quota("q/one", *a)  # already there: fits
        assert await store.unlink_blob("q/one", a[0])
        assert (await ids.projects.get_project("q")).used_bytes == 20  # still in q/two  # type: ignore[union-attr]
        assert await store.unlink_blob("q/two", a[0])
        assert (await ids.projects.get_project("q")).used_bytes == 10  # type: ignore[union-attr]
        await store.link_blob("q/two", *c)
        assert await ids.catalog.delete_repository("q/two")
        assert (await ids.projects.get_project("q")).used_bytes == 10  # type: ignore[union-attr]

    async def test_concurrent_links_count_once(self, stores: Stores) -> None:
        store, ids = stores
        await ids.projects.create_project("race", quota_bytes=1000)
        d, size = blob("shared", 100)
        await asyncio.gather(*(store.link_blob(f"race/r{i}", d, size) for i in range(8)))
        assert (await ids.projects.get_project("race")).used_bytes == 100  # type: ignore[union-attr]


class TestSqliteProjectStore(Sqlite, ProjectStoreConformance):
    pass


class TestPostgresProjectStore(Postgres, ProjectStoreConformance):
    pass
