"""CatalogStore on SQL: repository and artifact listings for the management API, and
repository deletion."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import case, delete, func, select

from dockyard.events import REPOSITORY_DELETED, NewEvent
from dockyard.events.outbox import write_events
from dockyard.metadata import schema as s
from dockyard.metadata.identity import ArtifactSummary, Page, RepositorySummary
from dockyard.metadata.identity_cache import IdentityCache, changes_identity
from dockyard.metadata.sql import _utc, contains_pattern
from dockyard.metadata.sql_base import SqlEngines


class SqlCatalogStore:
    def __init__(self, db: SqlEngines, cache: IdentityCache) -> None:
        self._db = db
        self.identity_cache = cache  # deleting a repository changes its project's usage

    async def project_repository_names(self, project: str) -> list[str]:
        r, p = s.repositories, s.projects
        q = (
            select(r.c.name)
            .join(p, p.c.id == r.c.project_id)
            .where(p.c.name == project)
            .order_by(r.c.name)
        )
        async with self._db.read.connect() as conn:
            return list((await conn.execute(q)).scalars())

    async def list_project_repositories(
        self, project: str, query: str | None, page: Page, names: Sequence[str] | None = None
    ) -> tuple[list[RepositorySummary], int]:
        r, p, m, t = s.repositories, s.projects, s.manifests, s.tags
        artifacts = (
            select(func.count()).select_from(m).where(m.c.repository_id == r.c.id).scalar_subquery()
        )
        tags = (
            select(func.count()).select_from(t).where(t.c.repository_id == r.c.id).scalar_subquery()
        )
        conds: list[Any] = [p.c.name == project]
        if query:
            conds.append(r.c.name.like(contains_pattern(query), escape="\\"))
        if names is not None:
            conds.append(r.c.name.in_(list(names)))
        base = select(
            r.c.name, r.c.created_at, artifacts.label("artifacts_n"), tags.label("tags_n")
        ).join(p, p.c.id == r.c.project_id)
        q = base.where(*conds).order_by(r.c.name).limit(page.size).offset(page.offset)
        count = select(func.count()).select_from(r.join(p, p.c.id == r.c.project_id)).where(*conds)
        async with self._db.read.connect() as conn:
            rows = (await conn.execute(q)).all()
            total = int(await conn.scalar(count) or 0)
        return [
            RepositorySummary(
                name=row.name,
                project=project,
                artifact_count=int(row.artifacts_n),
                tag_count=int(row.tags_n),
                created_at=_utc(row.created_at) or row.created_at,
            )
            for row in rows
        ], total

    async def repositories_with_blob(self, digest: str, project: str, limit: int) -> list[str]:
        r, rb, p = s.repositories, s.repository_blobs, s.projects
        q = (
            select(r.c.name)
            .join(rb, rb.c.repository_id == r.c.id)
            .join(p, p.c.id == r.c.project_id)
            .where(rb.c.digest == digest)
            .order_by(case((p.c.name == project, 0), else_=1), r.c.name)
            .limit(limit)
        )
        async with self._db.read.connect() as conn:
            return list((await conn.execute(q)).scalars())

    async def list_artifacts(
        self, repository: str, page: Page
    ) -> tuple[list[ArtifactSummary], int]:
        r, m, t, mr, b = s.repositories, s.manifests, s.tags, s.manifest_references, s.blobs
        ap = s.artifact_pulls
        blob_bytes = (
            select(func.coalesce(func.sum(b.c.size), 0))
            .select_from(mr.join(b, b.c.digest == mr.c.digest))
            .where(mr.c.manifest_id == m.c.id, mr.c.kind == "blob")
            .scalar_subquery()
        )
        conds = [r.c.name == repository]
        q = (
            select(
                m.c.id,
                m.c.digest,
                m.c.media_type,
                m.c.artifact_type,
                m.c.size,
                m.c.content,
                m.c.created_at,
                blob_bytes.label("blob_bytes"),
                ap.c.pull_count,
                ap.c.last_pulled_at,
            )
            .join(r, r.c.id == m.c.repository_id)
            .outerjoin(ap, (ap.c.repository_id == m.c.repository_id) & (ap.c.digest == m.c.digest))
            .where(*conds)
            .order_by(m.c.created_at.desc(), m.c.digest)
            .limit(page.size)
            .offset(page.offset)
        )
        count = (
            select(func.count()).select_from(m.join(r, r.c.id == m.c.repository_id)).where(*conds)
        )
        async with self._db.read.connect() as conn:
            rows = (await conn.execute(q)).all()
            total = int(await conn.scalar(count) or 0)
            tag_rows = (
                await conn.execute(
                    select(t.c.name, t.c.manifest_digest)
                    .join(r, r.c.id == t.c.repository_id)
                    .where(*conds)
                    .order_by(t.c.name)
                )
            ).all()
        by_digest: dict[str, list[str]] = {}
        for tr in tag_rows:
            by_digest.setdefault(tr.manifest_digest, []).append(tr.name)
        return [
            ArtifactSummary(
                digest=row.digest,
                media_type=row.media_type,
                artifact_type=row.artifact_type,
                size=int(row.size) + int(row.blob_bytes),
                tags=tuple(by_digest.get(row.digest, ())),
                created_at=_utc(row.created_at) or row.created_at,
                content=bytes(row.content),
                pull_count=int(row.pull_count or 0),
                last_pulled_at=_utc(row.last_pulled_at),
            )
            for row in rows
        ], total

    @changes_identity
    async def delete_repository(self, repository: str, actor: str | None = None) -> bool:
        r, rb, b, p = s.repositories, s.repository_blobs, s.blobs, s.projects
        async with self._db.write.begin() as conn:
            row = (
                await conn.execute(select(r.c.id, r.c.project_id).where(r.c.name == repository))
            ).first()
            if row is None:
                return False
            rid, pid = int(row.id), row.project_id
            freed = 0
            if pid is not None:
                await conn.execute(select(p.c.id).where(p.c.id == pid).with_for_update())
                others = (
                    select(rb.c.digest)
                    .join(r, r.c.id == rb.c.repository_id)
                    .where(r.c.project_id == pid, r.c.id != rid)
                )
                freed = int(
                    await conn.scalar(
                        select(func.coalesce(func.sum(b.c.size), 0))
                        .select_from(rb.join(b, b.c.digest == rb.c.digest))
                        .where(rb.c.repository_id == rid, rb.c.digest.not_in(others))
                    )
                    or 0
                )
                mf = s.manifests
                other_manifests = (
                    select(mf.c.digest)
                    .join(r, r.c.id == mf.c.repository_id)
                    .where(r.c.project_id == pid, r.c.id != rid)
                )
                freed += int(
                    await conn.scalar(
                        select(func.coalesce(func.sum(mf.c.size), 0)).where(
                            mf.c.repository_id == rid, mf.c.digest.not_in(other_manifests)
                        )
                    )
                    or 0
                )
            await conn.execute(delete(s.tags).where(s.tags.c.repository_id == rid))
            await conn.execute(
                delete(s.manifest_references).where(
                    s.manifest_references.c.manifest_id.in_(
                        select(s.manifests.c.id).where(s.manifests.c.repository_id == rid)
                    )
                )
            )
            await conn.execute(delete(s.manifests).where(s.manifests.c.repository_id == rid))
            await conn.execute(delete(rb).where(rb.c.repository_id == rid))
            await conn.execute(delete(s.uploads).where(s.uploads.c.repository_id == rid))
            await conn.execute(delete(r).where(r.c.id == rid))
            gone = NewEvent(REPOSITORY_DELETED, repository, actor=actor)
            await conn.run_sync(write_events, [gone])
            if freed:
                await conn.execute(
                    p.update()
                    .where(p.c.id == pid)
                    .values(
                        used_bytes=case((p.c.used_bytes > freed, p.c.used_bytes - freed), else_=0)
                    )
                )
        return True
