"""MetadataStore on SQLAlchemy 2 Core (async): SQLite now, PostgreSQL by the same code."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Row, and_, case, delete, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.pool import QueuePool

from dockyard.errors import (
    ManifestBlobUnknown,
    ManifestChildUnknown,
    ManifestInvalid,
    QuotaExceeded,
    SchemaError,
)
from dockyard.metadata import schema as s
from dockyard.metadata.engine import make_engines
from dockyard.metadata.records import (
    BlobRecord,
    ManifestRecord,
    NewManifest,
    UploadRecord,
)
from dockyard.oci.names import is_tag


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

    def _insert(self, table: Any) -> Any:
        module = postgresql if self._dialect == "postgresql" else sqlite
        return module.insert(table)

    async def ping(self) -> None:
        async with self._read.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def schema_revision(self) -> str | None:
        try:
            async with self._read.connect() as conn:
                row = (await conn.execute(text("SELECT version_num FROM alembic_version"))).first()
        except (OperationalError, ProgrammingError):
            return None
        return None if row is None else str(row[0])

    async def check_schema(self) -> None:
        current = await self.schema_revision()
        if current is None:
            raise SchemaError(
                "the metadata database has no schema yet: run `dockyard migrate` first"
            )
        if current != s.SCHEMA_REVISION:
            raise SchemaError(
                f"the metadata database is at schema revision {current!r} but this Dockyard "
                f"expects {s.SCHEMA_REVISION!r}: run `dockyard migrate`, or upgrade Dockyard "
                "if the database is newer"
            )

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
        await self._read.dispose()
        if self._write is not self._read:
            await self._write.dispose()

    async def _ensure_repository(self, conn: AsyncConnection, name: str) -> int:
        rid = await conn.scalar(select(s.repositories.c.id).where(s.repositories.c.name == name))
        if rid is not None:
            return int(rid)
        # Authorization decided before this point whether the project may come into being.
        project = name.split("/", 1)[0]
        now = _now()
        await conn.execute(
            self._insert(s.projects)
            .values(name=project, public=False, used_bytes=0, created_at=now, updated_at=now)
            .on_conflict_do_nothing(index_elements=["name"])
        )
        pid = await conn.scalar(select(s.projects.c.id).where(s.projects.c.name == project))
        await conn.execute(
            self._insert(s.repositories)
            .values(name=name, created_at=now, project_id=pid)
            .on_conflict_do_nothing(index_elements=["name"])
        )
        rid = await conn.scalar(select(s.repositories.c.id).where(s.repositories.c.name == name))
        assert rid is not None
        return int(rid)

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

    async def _link_blob(self, conn: AsyncConnection, rid: int, digest: str, size: int) -> None:
        now = _now()
        rb = s.repository_blobs
        if await conn.scalar(
            select(func.count())
            .select_from(rb)
            .where(rb.c.repository_id == rid, rb.c.digest == digest)
        ):
            return
        await self._charge_project(conn, rid, digest, size)
        await conn.execute(
            self._insert(s.blobs)
            .values(digest=digest, size=size, created_at=now)
            .on_conflict_do_nothing(index_elements=["digest"])
        )
        await conn.execute(
            self._insert(rb)
            .values(repository_id=rid, digest=digest, created_at=now)
            .on_conflict_do_nothing(index_elements=["repository_id", "digest"])
        )

    async def check_quota(self, repository: str, digest: str, size: int) -> None:
        async with self._read.connect() as conn:
            rid = await self._repository_id(conn, repository)
            if rid is not None:
                await self._charge_project(conn, rid, digest, size, dry_run=True)

    async def _charge_project(
        self, conn: AsyncConnection, rid: int, digest: str, size: int, *, dry_run: bool = False
    ) -> None:
        """Count a blob against its project's quota the first time any repository of the
        project links it; refuse it when that would exceed the quota. The project row is
        locked first, so concurrent pushes into one project are counted one at a time."""
        r, rb, p = s.repositories, s.repository_blobs, s.projects
        pid = await conn.scalar(select(r.c.project_id).where(r.c.id == rid))
        if pid is None:
            return
        project = (
            await conn.execute(
                select(p.c.name, p.c.quota_bytes, p.c.used_bytes)
                .where(p.c.id == pid)
                .with_for_update(skip_locked=False, read=dry_run)
            )
        ).first()
        if project is None:
            return
        held = await conn.scalar(
            select(func.count())
            .select_from(rb.join(r, r.c.id == rb.c.repository_id))
            .where(r.c.project_id == pid, rb.c.digest == digest)
        )
        if held:
            return
        used = int(project.used_bytes)
        if project.quota_bytes is not None and used + size > int(project.quota_bytes):
            raise QuotaExceeded(
                f"project {project.name!r} quota exceeded: storing {size} more bytes would "
                f"use {used + size} of its {int(project.quota_bytes)} bytes",
                detail={
                    "project": project.name,
                    "quota_bytes": int(project.quota_bytes),
                    "used_bytes": used,
                    "requested_bytes": size,
                },
            )
        if not dry_run:
            await conn.execute(
                update(p).where(p.c.id == pid).values(used_bytes=p.c.used_bytes + size)
            )

    async def _release_project(self, conn: AsyncConnection, rid: int, digest: str) -> None:
        """Give a blob's bytes back to the project once no repository of it links the blob."""
        r, rb, p, b = s.repositories, s.repository_blobs, s.projects, s.blobs
        pid = await conn.scalar(select(r.c.project_id).where(r.c.id == rid))
        if pid is None:
            return
        await conn.execute(select(p.c.id).where(p.c.id == pid).with_for_update())
        held = await conn.scalar(
            select(func.count())
            .select_from(rb.join(r, r.c.id == rb.c.repository_id))
            .where(r.c.project_id == pid, rb.c.digest == digest)
        )
        if held:
            return
        size = int(await conn.scalar(select(b.c.size).where(b.c.digest == digest)) or 0)
        await conn.execute(
            update(p)
            .where(p.c.id == pid)
            .values(used_bytes=case((p.c.used_bytes > size, p.c.used_bytes - size), else_=0))
        )

    async def link_blob(self, repository: str, digest: str, size: int) -> None:
        async with self._write.begin() as conn:
            rid = await self._ensure_repository(conn, repository)
            await self._link_blob(conn, rid, digest, size)

    async def unlink_blob(self, repository: str, digest: str) -> bool:
        rb = s.repository_blobs
        async with self._write.begin() as conn:
            rid = await self._repository_id(conn, repository)
            if rid is None:
                return False
            res = await conn.execute(
                delete(rb).where(rb.c.repository_id == rid, rb.c.digest == digest)
            )
            if res.rowcount:
                await self._release_project(conn, rid, digest)
        return bool(res.rowcount)

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
        async with self._write.begin() as conn:
            rid = await self._ensure_repository(conn, repository)
            await conn.execute(
                s.uploads.insert().values(
                    id=upload_id, repository_id=rid, offset=0, started_at=now, updated_at=now
                )
            )
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
    ) -> int | None:
        u = s.uploads
        now = _now()
        free = (u.c.lease_until.is_(None)) | (u.c.lease_until < now)
        if take_from is not None:
            free = free | (u.c.lease_holder == take_from)
        conds = [u.c.id == upload_id, u.c.repository_id == _repo_id_of(repository), free]
        if offset is not None:
            conds.append(u.c.offset == offset)
        q = (
            update(u)
            .where(*conds)
            .values(
                lease_until=now + dt.timedelta(seconds=seconds),
                lease_holder=holder or None,
                updated_at=now,
            )
            .returning(u.c.offset)
        )
        async with self._write.begin() as conn:
            got = (await conn.execute(q)).scalar()
        return None if got is None else int(got)

    async def lease_upload_refresh(self, upload_id: str, seconds: float) -> None:
        u = s.uploads
        now = _now()
        async with self._write.begin() as conn:
            await conn.execute(
                update(u)
                .where(u.c.id == upload_id)
                .values(lease_until=now + dt.timedelta(seconds=seconds), updated_at=now)
            )

    async def release_upload(self, upload_id: str, offset: int) -> None:
        u = s.uploads
        async with self._write.begin() as conn:
            await conn.execute(
                update(u)
                .where(u.c.id == upload_id)
                .values(offset=offset, lease_until=None, lease_holder=None, updated_at=_now())
            )

    async def delete_upload(self, upload_id: str) -> bool:
        async with self._write.begin() as conn:
            res = await conn.execute(delete(s.uploads).where(s.uploads.c.id == upload_id))
        return bool(res.rowcount)

    async def complete_upload(
        self, repository: str, upload_id: str, digest: str, size: int
    ) -> None:
        async with self._write.begin() as conn:
            rid = await self._ensure_repository(conn, repository)
            await self._link_blob(conn, rid, digest, size)
            await conn.execute(delete(s.uploads).where(s.uploads.c.id == upload_id))

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

    async def _check_references(
        self, conn: AsyncConnection, rid: int, manifest: NewManifest
    ) -> None:
        if manifest.blob_refs:
            wanted = {d for d, _ in manifest.blob_refs}
            rb, b = s.repository_blobs, s.blobs
            rows = await conn.execute(
                select(b.c.digest, b.c.size)
                .join(rb, rb.c.digest == b.c.digest)
                .where(rb.c.repository_id == rid, b.c.digest.in_(wanted))
            )
            sizes = {row.digest: int(row.size) for row in rows}
            missing = sorted(wanted - sizes.keys())
            if missing:
                raise ManifestBlobUnknown(
                    f"blob unknown to registry: {missing[0]}", detail={"digest": missing[0]}
                )
            for digest, size in manifest.blob_refs:
                if sizes[digest] != size:
                    raise ManifestInvalid(
                        f"descriptor size {size} does not match blob {digest} ({sizes[digest]})"
                    )
        if manifest.child_refs:
            wanted = {d for d, _ in manifest.child_refs}
            m = s.manifests
            rows = await conn.execute(
                select(m.c.digest, m.c.size).where(m.c.repository_id == rid, m.c.digest.in_(wanted))
            )
            sizes = {row.digest: int(row.size) for row in rows}
            missing = sorted(wanted - sizes.keys())
            if missing:
                raise ManifestChildUnknown(
                    f"manifest unknown to registry: {missing[0]}", detail={"digest": missing[0]}
                )
            for digest, size in manifest.child_refs:
                if sizes[digest] != size:
                    raise ManifestInvalid(
                        f"descriptor size {size} does not match manifest {digest} "
                        f"({sizes[digest]} bytes)"
                    )

    async def put_manifest(self, repository: str, manifest: NewManifest, tag: str | None) -> None:
        m = s.manifests
        now = _now()
        async with self._write.begin() as conn:
            rid = await self._ensure_repository(conn, repository)
            await self._check_references(conn, rid, manifest)
            res = await conn.execute(
                self._insert(m)
                .values(
                    repository_id=rid,
                    digest=manifest.digest,
                    media_type=manifest.media_type,
                    artifact_type=manifest.artifact_type,
                    subject_digest=manifest.subject_digest,
                    annotations=manifest.annotations,
                    size=len(manifest.content),
                    content=manifest.content,
                    created_at=now,
                )
                .on_conflict_do_nothing(index_elements=["repository_id", "digest"])
                .returning(m.c.id)
            )
            mid = res.scalar()
            if mid is not None:
                refs = [
                    {"manifest_id": mid, "digest": d, "kind": "blob"}
                    for d in dict.fromkeys(d for d, _ in manifest.blob_refs)
                ]
                refs += [
                    {"manifest_id": mid, "digest": d, "kind": "manifest"}
                    for d in dict.fromkeys(d for d, _ in manifest.child_refs)
                ]
                if refs:
                    await conn.execute(
                        self._insert(s.manifest_references).on_conflict_do_nothing(), refs
                    )
            if tag is not None:
                stmt = self._insert(s.tags).values(
                    repository_id=rid, name=tag, manifest_digest=manifest.digest, updated_at=now
                )
                await conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["repository_id", "name"],
                        set_={"manifest_digest": manifest.digest, "updated_at": now},
                    )
                )

    async def delete_manifest(self, repository: str, digest: str) -> bool:
        m = s.manifests
        async with self._write.begin() as conn:
            rid = await self._repository_id(conn, repository)
            if rid is None:
                return False
            # Tags first: not every backend enforces ON DELETE CASCADE on composite keys alike.
            await conn.execute(
                delete(s.tags).where(
                    s.tags.c.repository_id == rid, s.tags.c.manifest_digest == digest
                )
            )
            res = await conn.execute(
                delete(m).where(m.c.repository_id == rid, m.c.digest == digest)
            )
        return bool(res.rowcount)

    async def delete_tag(self, repository: str, tag: str) -> bool:
        t = s.tags
        async with self._write.begin() as conn:
            res = await conn.execute(
                delete(t).where(t.c.repository_id == _repo_id_of(repository), t.c.name == tag)
            )
        return bool(res.rowcount)

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
