"""MetadataStore on SQLAlchemy 2 Core (async): SQLite now, PostgreSQL by the same code."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Row, and_, func, select, text
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.pool import QueuePool

from dockyard.errors import QuotaExceeded, SchemaError
from dockyard.metadata import schema as s
from dockyard.metadata import sql_manifest_writes as mw
from dockyard.metadata import sql_writes as w
from dockyard.metadata.engine import make_engines, make_writer
from dockyard.metadata.records import (
    BlobRecord,
    ManifestRecord,
    NewManifest,
    UploadRecord,
)
from dockyard.metadata.sql_pulls import PullTally, record_pulls
from dockyard.metadata.writer import Writer
from dockyard.oci.names import is_tag

T = TypeVar("T")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def like_escape(text: str) -> str:
    """`text` for a LIKE pattern with ESCAPE '\\': its wildcards match only themselves."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def contains_pattern(text: str) -> str:
    return f"%{like_escape(text)}%"


def _repo_id_of(name: str) -> Any:
    return select(s.repositories.c.id).where(s.repositories.c.name == name).scalar_subquery()


class SqlMetadataStore:
    def __init__(self, url: str, pool_size: int = 10) -> None:
        self.url = url
        self._read, self._write = make_engines(url, pool_size)
        self._writer = make_writer(url, self._write)
        self._dialect = self._write.dialect.name

    @property
    def read_engine(self) -> AsyncEngine:
        return self._read

    @property
    def write_engine(self) -> AsyncEngine:
        """Other stores on this database (identity) write through the same engine."""
        return self._write

    # -- plumbing ---------------------------------------------------------------

    def _bytewise(self, column: Any) -> Any:
        """Order and compare names byte by byte, as the spec's lexical order means,
        whatever collation the PostgreSQL database was created with."""
        return column.collate("C") if self._dialect == "postgresql" else column

    async def ping(self) -> None:
        async with self._read.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def schema_heads(self) -> set[str] | None:
        """The revisions alembic_version holds (one per branch), None with no schema."""
        try:
            async with self._read.connect() as conn:
                rows = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
        except (OperationalError, ProgrammingError):
            return None
        return {str(row[0]) for row in rows} or None

    async def schema_revision(self, branches: Sequence[Path] = ()) -> str | None:
        """The newest core revision applied (a capability branch's head, in `branches`,
        implies the core revision it depends on)."""
        heads = await self.schema_heads()
        if not heads:
            return None
        from dockyard.metadata.migrate import core_revision  # alembic loads only here

        return core_revision(heads, branches)

    async def check_schema(self, branches: Sequence[Path] = ()) -> None:
        """Refuse a database not migrated to exactly this build's heads: the core's and
        those of the capability branches in `branches`."""
        heads = await self.schema_heads()
        if heads is None:
            raise SchemaError(
                "the metadata database has no schema yet: run `dockyard migrate` first"
            )
        from dockyard.metadata.migrate import schema_problem

        problem = schema_problem(heads, branches)
        if problem is not None:
            raise SchemaError(problem)

    def pool_status(self) -> tuple[int, int]:
        """(in use, idle) connections across this process's pools, for metrics."""
        in_use = idle = 0
        for engine in {id(e): e for e in (self._read, self._write)}.values():
            pool = engine.pool
            if isinstance(pool, QueuePool):
                in_use += pool.checkedout()
                idle += pool.checkedin()
        return in_use, idle

    async def close(self) -> None:
        await self._writer.close()
        await self._read.dispose()
        if self._write is not self._read:
            await self._write.dispose()

    async def _repository_id(self, conn: AsyncConnection, name: str) -> int | None:
        rid = await conn.scalar(select(s.repositories.c.id).where(s.repositories.c.name == name))
        return None if rid is None else int(rid)

    # -- repositories -----------------------------------------------------------

    async def list_repositories(self, n: int | None, last: str | None) -> list[str]:
        name = self._bytewise(s.repositories.c.name)
        q = select(s.repositories.c.name).order_by(name)
        if last:
            q = q.where(name > last)
        if n is not None:
            q = q.limit(n)
        async with self._read.connect() as conn:
            return list((await conn.execute(q)).scalars())

    async def repository_exists(self, repository: str) -> bool:
        async with self._read.connect() as conn:
            return await self._repository_id(conn, repository) is not None

    # -- blobs ------------------------------------------------------------------

    async def get_blob(self, repository: str | None, digest: str) -> BlobRecord | None:
        b, rb, r = s.blobs, s.repository_blobs, s.repositories
        if repository is None:
            q = select(b.c.digest, b.c.size).where(
                b.c.digest == digest,
                select(rb.c.digest).where(rb.c.digest == digest).exists(),
            )
        else:
            q = (
                select(b.c.digest, b.c.size)
                .join(rb, rb.c.digest == b.c.digest)
                .join(r, r.c.id == rb.c.repository_id)
                .where(r.c.name == repository, b.c.digest == digest)
            )
        async with self._read.connect() as conn:
            row = (await conn.execute(q)).first()
        return None if row is None else BlobRecord(row.digest, int(row.size))

    async def _refusable(
        self, repository: str, fn: Callable[..., T], *args: Any, durable: bool = True
    ) -> T:
        """A write that a project's quota may refuse: the refusal becomes an event (in
        a transaction of its own: the refused one was rolled back)."""
        try:
            return await self._writer.run(fn, *args, durable=durable)
        except QuotaExceeded as exc:
            await self._writer.run(mw.quota_refused, repository, exc)
            raise

    async def check_quota(self, repository: str, digest: str, size: int) -> None:
        # on the writer: one hand-off, where a read on the pool costs several
        await self._refusable(repository, w.check_quota, repository, digest, size, durable=False)

    async def link_blob(self, repository: str, digest: str, size: int) -> None:
        await self._refusable(repository, w.link_blob, repository, digest, size)

    async def unlink_blob(self, repository: str, digest: str) -> bool:
        return await self._writer.run(w.unlink_blob, repository, digest)

    # -- uploads ----------------------------------------------------------------

    @staticmethod
    def _upload(row: Row[Any], repository: str) -> UploadRecord:
        return UploadRecord(
            id=row.id,
            repository=repository,
            offset=int(row.offset),
            started_at=_utc(row.started_at) or _now(),
            lease_until=_utc(row.lease_until),
            lease_holder=row.lease_holder,
        )

    async def create_upload(self, repository: str, upload_id: str) -> UploadRecord:
        now = _now()
        await self._writer.run(w.create_upload, repository, upload_id, now, durable=False)
        return UploadRecord(upload_id, repository, 0, now, None)

    async def get_upload(self, repository: str, upload_id: str) -> UploadRecord | None:
        u = s.uploads
        q = select(u).where(u.c.id == upload_id, u.c.repository_id == _repo_id_of(repository))
        async with self._read.connect() as conn:
            row = (await conn.execute(q)).first()
        return None if row is None else self._upload(row, repository)

    async def get_upload_by_id(self, upload_id: str) -> UploadRecord | None:
        u, r = s.uploads, s.repositories
        q = (
            select(u, r.c.name.label("repository"))
            .join(r, r.c.id == u.c.repository_id)
            .where(u.c.id == upload_id)
        )
        async with self._read.connect() as conn:
            row = (await conn.execute(q)).first()
        return None if row is None else self._upload(row, row.repository)

    async def lease_upload(
        self,
        repository: str,
        upload_id: str,
        offset: int | None,
        seconds: float,
        *,
        holder: str = "",
        take_from: str | None = None,
        quota: tuple[str, int] | None = None,
    ) -> int | None:
        return await self._refusable(
            repository,
            w.lease_upload,
            repository,
            upload_id,
            offset,
            seconds,
            holder,
            take_from,
            quota,
            durable=False,
        )

    async def lease_upload_refresh(self, upload_id: str, seconds: float) -> None:
        await self._writer.run(w.refresh_lease, upload_id, seconds, durable=False)

    async def release_upload(self, upload_id: str, offset: int) -> None:
        await self._writer.run(w.release_upload, upload_id, offset)

    async def delete_upload(self, upload_id: str) -> bool:
        return await self._writer.run(w.delete_upload, upload_id)

    async def complete_upload(
        self, repository: str, upload_id: str, digest: str, size: int
    ) -> None:
        await self._refusable(repository, w.complete_upload, repository, upload_id, digest, size)

    async def stale_uploads(self, older_than: dt.datetime) -> list[UploadRecord]:
        u, r = s.uploads, s.repositories
        q = (
            select(u, r.c.name.label("repository"))
            .join(r, r.c.id == u.c.repository_id)
            .where(u.c.updated_at < older_than)
        )
        async with self._read.connect() as conn:
            rows = (await conn.execute(q)).all()
        return [self._upload(row, row.repository) for row in rows]

    async def count_uploads(self) -> int:
        async with self._read.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(s.uploads)) or 0)

    # -- manifests and tags -----------------------------------------------------

    async def get_manifest(self, repository: str, reference: str) -> ManifestRecord | None:
        m, r, t = s.manifests, s.repositories, s.tags
        cols = (
            m.c.digest,
            m.c.media_type,
            m.c.size,
            m.c.content,
            m.c.artifact_type,
            m.c.subject_digest,
            m.c.annotations,
        )
        if is_tag(reference):
            q = (
                select(*cols)
                .select_from(t)
                .join(r, r.c.id == t.c.repository_id)
                .join(
                    m,
                    and_(m.c.repository_id == t.c.repository_id, m.c.digest == t.c.manifest_digest),
                )
                .where(r.c.name == repository, t.c.name == reference)
            )
        else:
            q = (
                select(*cols)
                .join(r, r.c.id == m.c.repository_id)
                .where(r.c.name == repository, m.c.digest == reference)
            )
        async with self._read.connect() as conn:
            row = (await conn.execute(q)).first()
        if row is None:
            return None
        return ManifestRecord(
            row.digest,
            row.media_type,
            int(row.size),
            bytes(row.content),
            row.artifact_type,
            row.subject_digest,
            row.annotations,
        )

    async def put_manifest(
        self, repository: str, manifest: NewManifest, tag: str | None, actor: str | None = None
    ) -> None:
        await self._refusable(repository, mw.put_manifest, repository, manifest, tag, actor)

    async def delete_manifest(self, repository: str, digest: str, actor: str | None = None) -> bool:
        return await self._writer.run(mw.delete_manifest, repository, digest, actor)

    async def delete_tag(self, repository: str, tag: str, actor: str | None = None) -> bool:
        return await self._writer.run(mw.delete_tag, repository, tag, actor)

    @property
    def writer(self) -> Writer:
        """The write path other SQL stores on this database share (jobs, events)."""
        return self._writer

    async def tags_of(self, repository: str, digest: str) -> list[str]:
        """The tags pointing at `digest` in `repository`, in order."""
        t = s.tags
        q = (
            select(t.c.name)
            .where(t.c.repository_id == _repo_id_of(repository), t.c.manifest_digest == digest)
            .order_by(self._bytewise(t.c.name))
        )
        async with self._read.connect() as conn:
            return list((await conn.execute(q)).scalars())

    async def record_pulls(self, tallies: list[PullTally]) -> int:
        """Add a batch of pull counts (and their events) in one transaction."""
        return await self._writer.run(record_pulls, tallies)

    async def list_tags(self, repository: str, n: int | None, last: str | None) -> list[str] | None:
        t = s.tags
        async with self._read.connect() as conn:
            rid = await self._repository_id(conn, repository)
            if rid is None:
                return None
            name = self._bytewise(t.c.name)
            q = select(t.c.name).where(t.c.repository_id == rid).order_by(name)
            if last:
                q = q.where(name > last)
            if n is not None:
                q = q.limit(n)
            return list((await conn.execute(q)).scalars())

    async def referrers(
        self, repository: str, digest: str, artifact_type: str | None
    ) -> list[ManifestRecord]:
        m = s.manifests
        q = (
            select(m.c.digest, m.c.media_type, m.c.size, m.c.artifact_type, m.c.annotations)
            .where(m.c.repository_id == _repo_id_of(repository), m.c.subject_digest == digest)
            .order_by(m.c.created_at, m.c.digest)
        )
        if artifact_type is not None:
            q = q.where(m.c.artifact_type == artifact_type)
        async with self._read.connect() as conn:
            rows = (await conn.execute(q)).all()
        return [
            ManifestRecord(
                row.digest,
                row.media_type,
                int(row.size),
                b"",
                row.artifact_type,
                digest,
                row.annotations,
            )
            for row in rows
        ]
