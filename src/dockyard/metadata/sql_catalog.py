"""CatalogStore on SQL: repository listings for the management API, and repository
deletion; the artifact side (artifacts, tags, referrers) is sql_catalog_artifacts.py."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import case, delete, func, select

from dockyard.events import REPOSITORY_DELETED, NewEvent
from dockyard.events.outbox import write_events
from dockyard.metadata import schema as s
from dockyard.metadata.identity import Page, RepositorySort, RepositorySummary
from dockyard.metadata.identity_cache import IdentityCache, changes_identity
from dockyard.metadata.sql import _utc, contains_pattern
from dockyard.metadata.sql_base import SqlEngines
from dockyard.metadata.sql_catalog_artifacts import ArtifactQueries


class SqlCatalogStore(ArtifactQueries):
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

    def _last_push(self, repository_id: Any) -> Any:
        """When the repository last changed by a push: its newest manifest, or the last
        tag moved (to a manifest it already had); NULL when nothing was pushed. Two
        index lookups (ix_manifests_created, ix_tags_updated)."""
        m, t = s.manifests, s.tags
        stored = (
            select(func.max(m.c.created_at))
            .where(m.c.repository_id == repository_id)
            .scalar_subquery()
        )
        moved = (
            select(func.max(t.c.updated_at))
            .where(t.c.repository_id == repository_id)
            .scalar_subquery()
        )
        # a tag points at a manifest: `moved` is NULL or `stored` is not; GREATEST
        # ignores NULLs on PostgreSQL, SQLite's max(a, b) does not, hence the COALESCE
        pick = func.greatest if self._db.dialect == "postgresql" else func.max
        return pick(func.coalesce(moved, stored), stored, type_=m.c.created_at.type)

    async def list_project_repositories(
        self,
        project: str,
        query: str | None,
        page: Page,
        names: Sequence[str] | None = None,
        sort: RepositorySort = "name",
    ) -> tuple[list[RepositorySummary], int]:
        r, p, m, t = s.repositories, s.projects, s.manifests, s.tags
        artifacts = (
            select(func.count()).select_from(m).where(m.c.repository_id == r.c.id).scalar_subquery()
        )
        tags = (
            select(func.count()).select_from(t).where(t.c.repository_id == r.c.id).scalar_subquery()
        )
        conds: list[Any] = [p.c.name == project]
        if query:  # names are lower case: so is the query, on either database
            conds.append(r.c.name.like(contains_pattern(query.lower()), escape="\\"))
        if names is not None:
            conds.append(r.c.name.in_(list(names)))
        if sort == "updated":
            sort = "-pushed"
        by_push = sort in ("pushed", "-pushed")
        name_order = r.c.name.desc() if sort.startswith("-") else r.c.name

        def push_order(last: Any) -> list[Any]:
            """By the last push, ties by name the same way; never pushed last either way."""
            return [
                case((last.is_(None), 1), else_=0),
                last.desc() if sort == "-pushed" else last,
                name_order,
            ]

        keys = select(r.c.id).join(p, p.c.id == r.c.project_id).where(*conds)
        order = push_order(self._last_push(r.c.id)) if by_push else [name_order]
        page_keys = keys.order_by(*order).limit(page.size).offset(page.offset).subquery("page")
        pushed = self._last_push(r.c.id).label("last_push")
        q = select(
            r.c.name,
            r.c.created_at,
            pushed,
            artifacts.label("artifacts_n"),
            tags.label("tags_n"),
        ).select_from(page_keys.join(r, r.c.id == page_keys.c.id))
        q = q.order_by(*(push_order(pushed) if by_push else [name_order]))
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
                updated_at=_utc(row.last_push),
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
