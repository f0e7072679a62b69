"""The MetadataStore conformance suite, run against SqlMetadataStore.

`MetadataConformance` holds every test; a backend subclasses it and provides
`database_url`, a fixture yielding the URL of a fresh, empty database per
test. SQLite (a new file per test) is here; PostgreSQL subclasses the same
class with a URL factory that creates a throwaway database.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from dockyard.errors import (
    ManifestBlobUnknown,
    ManifestChildUnknown,
    ManifestInvalid,
    ManifestUnknown,
    SchemaError,
)
from dockyard.metadata import schema
from dockyard.metadata.engine import async_url
from dockyard.metadata.migrate import head_revision, upgrade
from dockyard.metadata.records import BlobRecord, ManifestRecord, NewManifest
from dockyard.metadata.sql import SqlMetadataStore
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import digest_of

SIG = "application/vnd.example.signature.v1"
SBOM = "application/vnd.example.sbom.v1"


def blob(name: str) -> tuple[str, int]:
    data = f"blob {name}".encode()
    return digest_of(data), len(data)


def manifest(
    name: str,
    blobs: list[tuple[str, int]] | None = None,
    children: list[tuple[str, int]] | None = None,
    *,
    media_type: str = mt.OCI_MANIFEST,
    artifact_type: str | None = None,
    subject: str | None = None,
    annotations: dict[str, str] | None = None,
) -> NewManifest:
    content = json.dumps({"schemaVersion": 2, "name": name}).encode()
    return NewManifest(
        digest=digest_of(content),
        media_type=media_type,
        content=content,
        artifact_type=artifact_type,
        subject_digest=subject,
        annotations=json.dumps(annotations) if annotations else None,
        blob_refs=blobs or [],
        child_refs=children or [],
    )


class MetadataConformance:
    """Base class; subclasses provide `database_url` (a fresh database per test)."""

    @pytest.fixture
    async def database_url(self) -> AsyncIterator[str]:
        raise NotImplementedError("a MetadataConformance subclass must provide `database_url`")
        yield  # pragma: no cover

    @pytest.fixture
    async def store(self, database_url: str) -> AsyncIterator[SqlMetadataStore]:
        await upgrade(database_url)
        store = SqlMetadataStore(database_url, pool_size=2)
        await store.check_schema()
        try:
            yield store
        finally:
            await store.close()

    async def _execute(self, url: str, sql: str, **params: Any) -> None:
        engine = create_async_engine(async_url(url))
        try:
            async with engine.begin() as conn:
                await conn.execute(text(sql), params)
        finally:
            await engine.dispose()

    async def _push(
        self, store: SqlMetadataStore, repo: str, name: str, tag: str | None = None, **kw: Any
    ) -> NewManifest:
        """Link a config and a layer, then put a manifest using them."""
        refs = [blob(f"{repo}/{name}/config"), blob(f"{repo}/{name}/layer")]
        for d, size in refs:
            await store.link_blob(repo, d, size)
        m = manifest(name, refs, **kw)
        await store.put_manifest(repo, m, tag)
        return m

    # -- schema -----------------------------------------------------------------

    async def test_schema_revision_is_alembic_head(self) -> None:
        assert head_revision() == schema.SCHEMA_REVISION

    # SQLite cannot reflect expression indexes (lower(username)): compared by name below
    @pytest.mark.filterwarnings("ignore:.*expression-based index:UserWarning")
    @pytest.mark.filterwarnings("ignore:.*expression-based index:sqlalchemy.exc.SAWarning")
    async def test_migrated_tables_match_schema_module(self, database_url: str) -> None:
        await upgrade(database_url)
        engine = create_async_engine(async_url(database_url))
        try:
            async with engine.connect() as conn:
                diffs = await conn.run_sync(
                    lambda sync: compare_metadata(MigrationContext.configure(sync), schema.metadata)
                )
                catalog = (
                    "SELECT indexname FROM pg_indexes"
                    if engine.dialect.name == "postgresql"
                    else "SELECT name FROM sqlite_master WHERE type = 'index'"
                )
                indexes = set((await conn.execute(text(catalog))).scalars())
        finally:
            await engine.dispose()
        assert diffs == []
        assert "ux_users_username_lower" in indexes

    async def test_upgrade_twice_is_a_no_op(self, database_url: str) -> None:
        await upgrade(database_url)
        await upgrade(database_url)
        store = SqlMetadataStore(database_url)
        try:
            await store.check_schema()
            assert await store.schema_revision() == head_revision()
        finally:
            await store.close()

    async def test_check_schema_unmigrated(self, database_url: str) -> None:
        store = SqlMetadataStore(database_url)
        try:
            await store.ping()
            with pytest.raises(SchemaError, match="run `dockyard migrate`"):
                await store.check_schema()
        finally:
            await store.close()

    async def test_check_schema_newer_unknown_revision(self, database_url: str) -> None:
        await upgrade(database_url)
        await self._execute(database_url, "UPDATE alembic_version SET version_num = 'f00dfeed9999'")
        store = SqlMetadataStore(database_url)
        try:
            with pytest.raises(SchemaError) as exc:
                await store.check_schema()
        finally:
            await store.close()
        assert "f00dfeed9999" in str(exc.value)
        assert schema.SCHEMA_REVISION in str(exc.value)

    # -- repositories -----------------------------------------------------------

    async def test_catalog_empty(self, store: SqlMetadataStore) -> None:
        assert await store.list_repositories(None, None) == []
        assert not await store.repository_exists("nothing")

    async def test_catalog_lexical_order_and_pagination(self, store: SqlMetadataStore) -> None:
        # byte order, whatever the database's collation: '-' < '.' < '/' < '0' < '_' < 'a'
        names = ["b", "a_b", "a", "a/b", "a-b", "a.b", "a0", "c/d/e", "ab"]
        for name in names:
            await store.create_upload(name, uuid.uuid4().hex)
        expected = sorted(names)
        assert expected == ["a", "a-b", "a.b", "a/b", "a0", "a_b", "ab", "b", "c/d/e"]
        assert await store.list_repositories(None, None) == expected
        for name in names:
            assert await store.repository_exists(name)

        # walk the catalog two at a time
        pages: list[list[str]] = []
        last: str | None = None
        while True:
            page = await store.list_repositories(2, last)
            if not page:
                break
            pages.append(page)
            last = page[-1]
        assert [n for p in pages for n in p] == expected
        assert all(len(p) == 2 for p in pages[:-1])

        assert await store.list_repositories(3, "a/b") == ["a0", "a_b", "ab"]
        assert await store.list_repositories(None, "a1") == ["a_b", "ab", "b", "c/d/e"]
        assert await store.list_repositories(None, "zzz") == []
        assert await store.list_repositories(0, None) == []

    async def test_repository_created_by_blob_link(self, store: SqlMetadataStore) -> None:
        d, size = blob("x")
        await store.link_blob("lib/x", d, size)
        assert await store.repository_exists("lib/x")
        assert not await store.repository_exists("lib")
        assert await store.list_repositories(None, None) == ["lib/x"]

    # -- blobs ------------------------------------------------------------------

    async def test_link_and_get_blob(self, store: SqlMetadataStore) -> None:
        d, size = blob("layer")
        assert await store.get_blob("r1", d) is None
        assert await store.get_blob(None, d) is None
        await store.link_blob("r1", d, size)
        assert await store.get_blob("r1", d) == BlobRecord(d, size)
        assert await store.get_blob(None, d) == BlobRecord(d, size)
        assert await store.get_blob("r2", d) is None
        assert await store.get_blob("unknown", d) is None

    async def test_link_blob_is_idempotent(self, store: SqlMetadataStore) -> None:
        d, size = blob("layer")
        await store.link_blob("r1", d, size)
        await store.link_blob("r1", d, size)
        await store.link_blob("r2", d, size)
        assert await store.get_blob("r1", d) == BlobRecord(d, size)
        assert await store.get_blob("r2", d) == BlobRecord(d, size)

    async def test_unlink_blob(self, store: SqlMetadataStore) -> None:
        d, size = blob("layer")
        await store.link_blob("r1", d, size)
        await store.link_blob("r2", d, size)
        assert await store.unlink_blob("r1", d) is True
        assert await store.get_blob("r1", d) is None
        assert await store.get_blob("r2", d) == BlobRecord(d, size)
        assert await store.get_blob(None, d) == BlobRecord(d, size)
        assert await store.unlink_blob("r1", d) is False
        assert await store.unlink_blob("r2", d) is True
        # linked nowhere: unknown even without a repository
        assert await store.get_blob(None, d) is None
        assert await store.unlink_blob("never-existed", d) is False

    # -- uploads ----------------------------------------------------------------

    async def test_create_and_get_upload(self, store: SqlMetadataStore) -> None:
        before = dt.datetime.now(dt.UTC)
        rec = await store.create_upload("r", "a" * 32)
        assert rec.id == "a" * 32
        assert rec.repository == "r"
        assert rec.offset == 0
        assert rec.lease_until is None
        got = await store.get_upload("r", "a" * 32)
        assert got is not None
        assert (got.id, got.repository, got.offset, got.lease_until) == ("a" * 32, "r", 0, None)
        assert got.started_at.tzinfo is not None
        assert abs((got.started_at - before).total_seconds()) < 60
        assert await store.repository_exists("r")

    async def test_get_upload_scoped_to_repository(self, store: SqlMetadataStore) -> None:
        await store.create_upload("r", "a" * 32)
        assert await store.get_upload("other", "a" * 32) is None
        assert await store.get_upload("r", "b" * 32) is None

    async def test_lease_is_exclusive(self, store: SqlMetadataStore) -> None:
        uid = "c" * 32
        await store.create_upload("r", uid)
        assert await store.lease_upload("r", uid, 0, 60) is not None
        assert await store.lease_upload("r", uid, 0, 60) is None
        rec = await store.get_upload("r", uid)
        assert rec is not None and rec.lease_until is not None
        assert rec.lease_until > dt.datetime.now(dt.UTC)

    async def test_concurrent_leases_only_one_wins(self, store: SqlMetadataStore) -> None:
        uid = "c" * 32
        await store.create_upload("r", uid)
        results = await asyncio.gather(*(store.lease_upload("r", uid, 0, 60) for _ in range(8)))
        assert sorted(r for r in results if r is not None) == [0]
        assert results.count(None) == 7

    async def test_lease_at_wrong_offset_fails(self, store: SqlMetadataStore) -> None:
        uid = "d" * 32
        await store.create_upload("r", uid)
        assert await store.lease_upload("r", uid, 5, 60) is None
        assert await store.lease_upload("other", uid, 0, 60) is None
        assert await store.lease_upload("r", "e" * 32, 0, 60) is None
        assert await store.lease_upload("r", uid, 0, 60) == 0
        # without an expected offset the lease reports where the upload is
        await store.release_upload(uid, 77)
        assert await store.lease_upload("r", uid, None, 60) == 77

    async def test_release_moves_offset_and_frees_lease(self, store: SqlMetadataStore) -> None:
        uid = "e" * 32
        await store.create_upload("r", uid)
        assert await store.lease_upload("r", uid, 0, 60) is not None
        await store.release_upload(uid, 1234)
        rec = await store.get_upload("r", uid)
        assert rec is not None
        assert rec.offset == 1234
        assert rec.lease_until is None
        assert await store.lease_upload("r", uid, 0, 60) is None
        assert await store.lease_upload("r", uid, 1234, 60) == 1234

    async def test_expired_lease_can_be_taken(self, store: SqlMetadataStore) -> None:
        uid = "f" * 32
        await store.create_upload("r", uid)
        assert await store.lease_upload("r", uid, 0, 0.2) is not None
        await asyncio.sleep(0.4)
        assert await store.lease_upload("r", uid, 0, 60) is not None
        assert await store.lease_upload("r", uid, 0, 60) is None

    async def test_lease_refresh_extends(self, store: SqlMetadataStore) -> None:
        uid = "f" * 32
        await store.create_upload("r", uid)
        assert await store.lease_upload("r", uid, 0, 0.2) is not None
        await store.lease_upload_refresh(uid, 60)
        await asyncio.sleep(0.4)
        assert await store.lease_upload("r", uid, 0, 60) is None

    async def test_delete_upload(self, store: SqlMetadataStore) -> None:
        uid = "1" * 32
        await store.create_upload("r", uid)
        assert await store.delete_upload(uid) is True
        assert await store.get_upload("r", uid) is None
        assert await store.delete_upload(uid) is False

    async def test_complete_upload_links_blob_and_drops_row(self, store: SqlMetadataStore) -> None:
        uid = "2" * 32
        d, size = blob("uploaded")
        await store.create_upload("r", uid)
        assert await store.lease_upload("r", uid, 0, 60) is not None
        await store.release_upload(uid, size)
        await store.complete_upload("r", uid, d, size)
        assert await store.get_upload("r", uid) is None
        assert await store.get_blob("r", d) == BlobRecord(d, size)
        # completing a blob that already exists elsewhere links it here too
        uid2 = "3" * 32
        await store.create_upload("r2", uid2)
        await store.complete_upload("r2", uid2, d, size)
        assert await store.get_blob("r2", d) == BlobRecord(d, size)

    async def test_stale_uploads(self, store: SqlMetadataStore) -> None:
        await store.create_upload("r", "4" * 32)
        await store.create_upload("r/s", "5" * 32)
        now = dt.datetime.now(dt.UTC)
        assert await store.stale_uploads(now - dt.timedelta(hours=1)) == []
        stale = await store.stale_uploads(now + dt.timedelta(seconds=5))
        assert sorted((u.id, u.repository) for u in stale) == [("4" * 32, "r"), ("5" * 32, "r/s")]

    # -- manifests --------------------------------------------------------------

    async def test_put_and_get_manifest(self, store: SqlMetadataStore) -> None:
        m = await self._push(store, "r", "one", "latest", annotations={"k": "v"})
        expected = ManifestRecord(
            m.digest, m.media_type, len(m.content), m.content, None, None, m.annotations
        )
        assert await store.get_manifest("r", m.digest) == expected
        assert await store.get_manifest("r", "latest") == expected
        assert await store.get_manifest("r", "other-tag") is None
        assert await store.get_manifest("elsewhere", m.digest) is None
        assert await store.get_manifest("elsewhere", "latest") is None
        assert await store.get_manifest("r", digest_of(b"nope")) is None

    async def test_put_manifest_missing_blob(self, store: SqlMetadataStore) -> None:
        have, missing = blob("have"), blob("missing")
        await store.link_blob("r", *have)
        m = manifest("m", [have, missing])
        with pytest.raises(ManifestBlobUnknown) as exc:
            await store.put_manifest("r", m, "latest")
        assert missing[0] in str(exc.value)
        assert exc.value.detail == {"digest": missing[0]}
        assert await store.get_manifest("r", m.digest) is None
        assert await store.list_tags("r", None, None) == []

    async def test_put_manifest_blob_in_other_repository_is_unknown(
        self, store: SqlMetadataStore
    ) -> None:
        b = blob("elsewhere")
        await store.link_blob("other", *b)
        with pytest.raises(ManifestBlobUnknown, match=b[0]):
            await store.put_manifest("r", manifest("m", [b]), None)

    async def test_put_manifest_missing_child(self, store: SqlMetadataStore) -> None:
        child = await self._push(store, "r", "amd64")
        ghost = digest_of(b"no such manifest")
        index = manifest(
            "idx",
            children=[(child.digest, len(child.content)), (ghost, 10)],
            media_type=mt.OCI_INDEX,
        )
        with pytest.raises(ManifestChildUnknown) as exc:
            await store.put_manifest("r", index, "multi")
        assert isinstance(exc.value, ManifestUnknown)
        assert ghost in str(exc.value)
        assert exc.value.detail == {"digest": ghost}
        assert await store.get_manifest("r", index.digest) is None
        assert await store.get_manifest("r", "multi") is None

    async def test_put_index(self, store: SqlMetadataStore) -> None:
        a = await self._push(store, "r", "amd64")
        b = await self._push(store, "r", "arm64")
        children = [(a.digest, len(a.content)), (b.digest, len(b.content))]
        index = manifest("idx", children=children, media_type=mt.OCI_INDEX)
        await store.put_manifest("r", index, "multi")
        got = await store.get_manifest("r", "multi")
        assert got is not None and got.digest == index.digest
        assert got.media_type == mt.OCI_INDEX

    async def test_put_index_child_size_mismatch(self, store: SqlMetadataStore) -> None:
        a = await self._push(store, "r", "amd64")
        for size in (len(a.content) + 1, len(a.content) - 1):
            index = manifest("idx", children=[(a.digest, size)], media_type=mt.OCI_INDEX)
            with pytest.raises(ManifestInvalid, match=f"size {size} does not match manifest"):
                await store.put_manifest("r", index, "multi")
            assert await store.get_manifest("r", index.digest) is None
        assert await store.get_manifest("r", "multi") is None

    async def test_put_manifest_size_mismatch(self, store: SqlMetadataStore) -> None:
        d, size = blob("layer")
        await store.link_blob("r", d, size)
        m = manifest("m", [(d, size + 1)])
        with pytest.raises(ManifestInvalid, match=d):
            await store.put_manifest("r", m, "latest")
        assert await store.get_manifest("r", m.digest) is None

    async def test_put_manifest_twice_is_idempotent(self, store: SqlMetadataStore) -> None:
        m = await self._push(store, "r", "one", "v1")
        await store.put_manifest("r", m, "v1")
        await store.put_manifest("r", m, None)
        await store.put_manifest("r", m, "v2")
        got = await store.get_manifest("r", m.digest)
        assert got is not None and got.content == m.content
        assert await store.list_tags("r", None, None) == ["v1", "v2"]

    async def test_same_manifest_in_two_repositories(self, store: SqlMetadataStore) -> None:
        m1 = await self._push(store, "r1", "same", "t")
        refs = m1.blob_refs
        for d, size in refs:
            await store.link_blob("r2", d, size)
        await store.put_manifest("r2", m1, "t")
        assert await store.delete_manifest("r1", m1.digest)
        assert await store.get_manifest("r2", "t") is not None

    async def test_tag_moves(self, store: SqlMetadataStore) -> None:
        one = await self._push(store, "r", "one", "latest")
        two = await self._push(store, "r", "two", "latest")
        got = await store.get_manifest("r", "latest")
        assert got is not None and got.digest == two.digest
        assert await store.list_tags("r", None, None) == ["latest"]
        # the old manifest stays, by digest
        assert await store.get_manifest("r", one.digest) is not None

    async def test_delete_manifest_removes_its_tags(self, store: SqlMetadataStore) -> None:
        one = await self._push(store, "r", "one", "a")
        await store.put_manifest("r", one, "b")
        two = await self._push(store, "r", "two", "c")
        assert await store.delete_manifest("r", one.digest) is True
        assert await store.get_manifest("r", one.digest) is None
        assert await store.get_manifest("r", "a") is None
        assert await store.get_manifest("r", "b") is None
        assert await store.list_tags("r", None, None) == ["c"]
        assert await store.get_manifest("r", two.digest) is not None
        assert await store.delete_manifest("r", one.digest) is False
        assert await store.delete_manifest("unknown", two.digest) is False

    async def test_delete_tag(self, store: SqlMetadataStore) -> None:
        m = await self._push(store, "r", "one", "a")
        await store.put_manifest("r", m, "b")
        assert await store.delete_tag("r", "a") is True
        assert await store.delete_tag("r", "a") is False
        assert await store.delete_tag("unknown", "b") is False
        assert await store.get_manifest("r", "a") is None
        assert await store.get_manifest("r", "b") is not None
        assert await store.get_manifest("r", m.digest) is not None
        assert await store.list_tags("r", None, None) == ["b"]

    async def test_list_tags_order_and_pagination(self, store: SqlMetadataStore) -> None:
        assert await store.list_tags("r", None, None) is None
        m = await self._push(store, "r", "one")
        assert await store.list_tags("r", None, None) == []
        tags = ["latest", "v1.0", "v1-0", "v1_0", "V2", "1.0", "_x", "a", "B", "v10", "v9"]
        for tag in tags:
            await store.put_manifest("r", m, tag)
        expected = sorted(tags)  # code-point order: digits < upper < '_' < lower
        assert expected[:4] == ["1.0", "B", "V2", "_x"]
        assert await store.list_tags("r", None, None) == expected
        assert await store.list_tags("r", 3, None) == expected[:3]
        assert await store.list_tags("r", 3, expected[2]) == expected[3:6]
        assert await store.list_tags("r", None, expected[-1]) == []
        assert await store.list_tags("r", 100, "v1") == [t for t in expected if t > "v1"]

    async def test_list_tags_scoped_to_repository(self, store: SqlMetadataStore) -> None:
        await self._push(store, "r1", "one", "only-in-r1")
        await self._push(store, "r2", "two", "only-in-r2")
        assert await store.list_tags("r1", None, None) == ["only-in-r1"]
        assert await store.list_tags("r2", None, None) == ["only-in-r2"]

    # -- referrers --------------------------------------------------------------

    async def test_referrers(self, store: SqlMetadataStore) -> None:
        subject = await self._push(store, "r", "image", "latest")
        sig = await self._push(
            store, "r", "sig", artifact_type=SIG, subject=subject.digest, annotations={"a": "1"}
        )
        sbom = await self._push(store, "r", "sbom", artifact_type=SBOM, subject=subject.digest)
        await self._push(store, "r", "unrelated", artifact_type=SIG)

        every = await store.referrers("r", subject.digest, None)
        assert {r.digest for r in every} == {sig.digest, sbom.digest}
        by_digest = {r.digest: r for r in every}
        assert by_digest[sig.digest] == ManifestRecord(
            sig.digest, mt.OCI_MANIFEST, len(sig.content), b"", SIG, subject.digest, sig.annotations
        )
        assert by_digest[sbom.digest].artifact_type == SBOM

        only_sig = await store.referrers("r", subject.digest, SIG)
        assert [r.digest for r in only_sig] == [sig.digest]
        assert await store.referrers("r", subject.digest, "application/vnd.none") == []
        assert await store.referrers("r", digest_of(b"nothing refers"), None) == []
        assert await store.referrers("other", subject.digest, None) == []

    async def test_referrers_of_absent_subject(self, store: SqlMetadataStore) -> None:
        # distribution-spec: a manifest whose subject does not exist is accepted
        ghost = digest_of(b"not pushed yet")
        sig = await self._push(store, "r", "sig", artifact_type=SIG, subject=ghost)
        assert [r.digest for r in await store.referrers("r", ghost, None)] == [sig.digest]

    async def test_deleted_referrer_disappears(self, store: SqlMetadataStore) -> None:
        subject = await self._push(store, "r", "image")
        sig = await self._push(store, "r", "sig", artifact_type=SIG, subject=subject.digest)
        assert await store.delete_manifest("r", sig.digest)
        assert await store.referrers("r", subject.digest, None) == []


class TestSqliteMetadata(MetadataConformance):
    @pytest.fixture
    async def database_url(self, tmp_path: Path) -> AsyncIterator[str]:
        yield f"sqlite:///{tmp_path / 'metadata.db'}"


class TestPostgresMetadata(MetadataConformance):
    """The same suite on the PostgreSQL server these machines run (127.0.0.1:5432)."""

    @pytest.fixture
    async def database_url(self, postgres_database: str) -> AsyncIterator[str]:
        yield postgres_database
