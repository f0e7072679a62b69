"""CatalogStore conformance, on SQLite and on PostgreSQL alike."""

from __future__ import annotations

import datetime as dt
import json

from dockyard.accounts.repositories import referrer_tree
from dockyard.metadata.identity import Page, TagSort
from dockyard.metadata.records import NewManifest
from dockyard.metadata.sql import SqlMetadataStore
from dockyard.metadata.sql_pulls import PullTally
from tests.unit.identity_conformance import Postgres, Sqlite, Stores, blob
from tests.unit.test_metadata import manifest


async def _push(
    store: SqlMetadataStore,
    repo: str,
    name: str,
    tag: str | None = None,
    *,
    subject: str | None = None,
    size: int = 10,
    **kw: str,
) -> NewManifest:
    refs = [blob(f"{repo}/{name}/config", size), blob(f"{repo}/{name}/layer", 2 * size)]
    for d, n in refs:
        await store.link_blob(repo, d, n)
    m = manifest(name, refs, subject=subject, **kw)
    await store.put_manifest(repo, m, tag)
    return m


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

    async def test_tags_paged_searched_sorted(self, stores: Stores) -> None:
        store, ids = stores
        repo = "tags/app"
        one = await _push(store, repo, "one", "v1")
        two = await _push(store, repo, "two", "V2")
        for tag in ("a_b", "axb", "v10", "latest"):
            await store.put_manifest(repo, two, tag)
        await store.put_manifest(repo, two, "v1")  # v1 moves to the newer manifest
        everything, total = await ids.catalog.list_tags(repo, None, "name", Page(1, 100))
        assert total == 6
        assert [t.name for t in everything] == sorted(["v1", "V2", "a_b", "axb", "v10", "latest"])
        v1 = next(t for t in everything if t.name == "v1")
        assert (v1.digest, v1.media_type) == (two.digest, two.media_type)
        assert v1.size == len(two.content) + 30  # the manifest, its config and its layer
        assert v1.pushed_at < v1.updated_at  # moved after the manifest was stored
        assert v1.pull_count == 0 and v1.last_pulled_at is None
        assert one.digest not in {t.digest for t in everything}

        def key(t: object) -> tuple[dt.datetime, str]:
            return t.updated_at, t.name  # type: ignore[attr-defined]

        orders: dict[TagSort, list[str]] = {
            "name": sorted(t.name for t in everything),
            "-name": sorted((t.name for t in everything), reverse=True),
            "updated": [t.name for t in sorted(everything, key=key)],
            "-updated": [t.name for t in sorted(everything, key=key, reverse=True)],
        }
        assert orders["-updated"][0] == "v1"
        for sort, expected in orders.items():
            paged = []
            for number in (1, 2, 3):
                found, total = await ids.catalog.list_tags(repo, None, sort, Page(number, 2))
                assert total == 6
                paged += [t.name for t in found]
            assert paged == expected, sort
        # part of the name, ASCII case ignored, LIKE's wildcards only themselves
        found, total = await ids.catalog.list_tags(repo, "V1", "name", Page())
        assert (total, [t.name for t in found]) == (2, ["v1", "v10"])
        found, total = await ids.catalog.list_tags(repo, "_", "name", Page())
        assert (total, [t.name for t in found]) == (1, ["a_b"])
        found, total = await ids.catalog.list_tags(repo, "v", "name", Page(2, 2))
        assert total == 3 and [t.name for t in found] == ["v10"]
        assert await ids.catalog.list_tags("tags/none", None, "name", Page()) == ([], 0)

        at = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)
        await store.record_pulls([PullTally(repo, two.digest, 3, at, ("v1",))])
        (v1,) = (await ids.catalog.list_tags(repo, "v1", "name", Page(1, 1)))[0]
        assert (v1.pull_count, v1.last_pulled_at) == (3, at)

    async def test_one_artifact_and_its_referrers(self, stores: Stores) -> None:
        store, ids = stores
        repo = "refs/app"
        image = await _push(store, repo, "image", "v1", annotations={"org.example": "x"})
        await store.put_manifest(repo, image, "stable")
        sbom = await _push(store, repo, "sbom", subject=image.digest, artifact_type="x/sbom")
        sig = await _push(store, repo, "sig", subject=sbom.digest, annotations={"k": "v"})
        await _push(store, "refs/other", "elsewhere", subject=image.digest)  # not this repo

        for reference in ("v1", "stable", image.digest):
            found = await ids.catalog.get_artifact(repo, reference)
            assert found is not None and found.digest == image.digest
            assert found.tags == ("stable", "v1") and found.content == image.content
            assert found.size == len(image.content) + 30 and found.subject_digest is None
            assert json.loads(found.annotations or "") == {"org.example": "x"}
        found = await ids.catalog.get_artifact(repo, sbom.digest)
        assert found is not None and found.tags == () and found.subject_digest == image.digest
        assert found.artifact_type == "x/sbom"
        for missing in ("nope", "sha256:" + "0" * 64):
            assert await ids.catalog.get_artifact(repo, missing) is None
        assert await ids.catalog.get_artifact("refs/none", "v1") is None

        (r,) = await ids.catalog.referrers_of(repo, [image.digest], 10)
        assert (r.subject, r.digest, r.artifact_type) == (image.digest, sbom.digest, "x/sbom")
        assert r.size == len(sbom.content) + 30 and r.media_type == sbom.media_type
        assert await ids.catalog.referrers_of(repo, [image.digest, sbom.digest], 1) == [r]
        both = await ids.catalog.referrers_of(repo, [image.digest, sbom.digest], 10)
        assert [x.digest for x in both] == [sbom.digest, sig.digest]
        assert json.loads(both[1].annotations or "") == {"k": "v"}

        tree, truncated = await referrer_tree(ids.catalog, repo, image.digest)
        assert not truncated
        assert [(n.referrer.digest, [c.referrer.digest for c in n.referrers]) for n in tree] == [
            (sbom.digest, [sig.digest])
        ]
        assert tree[0].referrers[0].referrers == ()

    async def test_referrer_tree_is_capped(self, stores: Stores) -> None:
        store, ids = stores
        repo = "capped/app"
        root = await _push(store, repo, "root", "v1")
        chain = [root.digest]
        for level in range(4):  # root <- r0 <- r1 <- r2 <- r3
            chain.append((await _push(store, repo, f"r{level}", subject=chain[-1])).digest)
        tree, truncated = await referrer_tree(ids.catalog, repo, root.digest)
        assert truncated  # r3 is a fourth level
        assert tree[0].referrer.digest == chain[1]
        assert tree[0].referrers[0].referrers[0].referrer.digest == chain[3]
        assert tree[0].referrers[0].referrers[0].referrers == ()
        tree, truncated = await referrer_tree(ids.catalog, repo, root.digest, depth=4)
        assert not truncated

        for n in range(4):  # root has five referrers now
            await _push(store, repo, f"fan{n}", subject=root.digest)
        tree, truncated = await referrer_tree(ids.catalog, repo, root.digest, depth=4, limit=5)
        assert truncated and len(tree) == 5 and all(n.referrers == () for n in tree)
        tree, truncated = await referrer_tree(ids.catalog, repo, root.digest, depth=4, limit=8)
        assert not truncated and len(tree) == 5

    async def test_repositories_sorted_by_last_push(self, stores: Stores) -> None:
        store, ids = stores
        await store.link_blob("sorted/empty", *blob("only a blob"))
        old = await _push(store, "sorted/b-old", "old", "v1")
        await _push(store, "sorted/a-new", "new", "v1")
        await _push(store, "sorted/c-newer", "newer", "v1")

        async def names(sort: str, page: Page = Page()) -> list[str]:
            found, total = await ids.catalog.list_project_repositories(
                "sorted",
                None,
                page,
                sort=sort,  # type: ignore[arg-type]
            )
            assert total == 4
            return [r.name.removeprefix("sorted/") for r in found]

        assert await names("name") == ["a-new", "b-old", "c-newer", "empty"]
        assert await names("-name") == ["empty", "c-newer", "b-old", "a-new"]
        assert await names("updated") == ["c-newer", "a-new", "b-old", "empty"]
        await store.put_manifest("sorted/b-old", old, "retagged")  # a tag moved: a push
        assert await names("updated") == ["b-old", "c-newer", "a-new", "empty"]
        assert await names("updated", Page(2, 3)) == ["empty"]
        found, _ = await ids.catalog.list_project_repositories("sorted", None, Page())
        when = {r.name: r.updated_at for r in found}
        assert when["sorted/empty"] is None
        b_old = when["sorted/b-old"]
        assert b_old is not None and b_old.tzinfo is not None
        assert all(v is None or v <= b_old for v in when.values())


class TestSqliteCatalogStore(Sqlite, CatalogStoreConformance):
    pass


class TestPostgresCatalogStore(Postgres, CatalogStoreConformance):
    pass
