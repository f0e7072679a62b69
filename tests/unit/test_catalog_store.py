"""CatalogStore conformance, on SQLite and on PostgreSQL alike."""

from __future__ import annotations

from dockyard.metadata.identity import Page
from tests.unit.identity_conformance import Postgres, Sqlite, Stores, blob


class CatalogStoreConformance:
    async def test_listings_and_holders(self, stores: Stores) -> None:
        store, ids = stores
        shared = blob("shared")
        for repo in ("team_a/app", "team_a/web", "other/x"):
            await store.link_blob(repo, *shared)
        await store.link_blob("teamxa/y", *blob("elsewhere"))
        names = await ids.catalog.project_repository_names("team_a")
        assert names == ["team_a/app", "team_a/web"]  # `_` is no wildcard
        found, total = await ids.catalog.list_project_repositories("team_a", None, Page())
        assert total == 2 and [r.name for r in found] == names
        found, total = await ids.catalog.list_project_repositories(
            "team_a", None, Page(), names=["team_a/web"]
        )
        assert total == 1 and found[0].name == "team_a/web" and found[0].project == "team_a"
        # holders of a blob: those of the preferred project first, bounded
        assert await ids.catalog.repositories_with_blob(shared[0], "other", 10) == [
            "other/x",
            "team_a/app",
            "team_a/web",
        ]
        assert await ids.catalog.repositories_with_blob(shared[0], "team_a", 1) == ["team_a/app"]
        assert await ids.catalog.repositories_with_blob(blob("nowhere")[0], "team_a", 10) == []

    async def test_deleting_a_repository(self, stores: Stores) -> None:
        store, ids = stores
        await store.link_blob("gone/app", *blob("layer"))
        artifacts, total = await ids.catalog.list_artifacts("gone/app", Page())
        assert (artifacts, total) == ([], 0)
        assert await ids.catalog.delete_repository("gone/app")
        assert not await ids.catalog.delete_repository("gone/app")
        assert await ids.catalog.project_repository_names("gone") == []


class TestSqliteCatalogStore(Sqlite, CatalogStoreConformance):
    pass


class TestPostgresCatalogStore(Postgres, CatalogStoreConformance):
    pass
