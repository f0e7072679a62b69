"""The artifact side of CatalogStore on SQL: a repository's artifacts and tags, one
artifact in full, and the manifests that refer to others.

Every listing pages in the database: the page's keys are chosen first (ORDER BY over
an index, LIMIT/OFFSET), then only those rows are joined to their manifest, pull
statistics and blob sizes, and one COUNT gives the total. A repository of 100,000
tags costs a page, not the repository (indexes of 0008: `ix_tags_updated`,
`ix_tags_manifest`, `ix_manifests_created`). Artifacts in push order read their index
too; by size or pulls, and when searched, the repository's artifacts are read (never
another repository's) to choose the page.

Names order by the database's collation: byte order on SQLite and on a PostgreSQL
database created with the C collation (the /v2 tag list is byte order everywhere;
here the index serves the order instead).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from dockyard.metadata import schema as s
from dockyard.metadata.identity import (
    ArtifactSort,
    ArtifactSummary,
    Page,
    ReferrerSummary,
    TagSort,
    TagSummary,
)
from dockyard.metadata.sql import _utc, contains_pattern, like_escape
from dockyard.metadata.sql_base import SqlEngines, ordering, ts
from dockyard.oci.digest import is_digest


def blob_bytes(manifest_id: Any) -> Any:
    """The bytes of the blobs (config, layers) the manifest references directly."""
    mr, b = s.manifest_references, s.blobs
    return (
        select(func.coalesce(func.sum(b.c.size), 0))
        .select_from(mr.join(b, b.c.digest == mr.c.digest))
        .where(mr.c.manifest_id == manifest_id, mr.c.kind == "blob")
        .scalar_subquery()
    )


async def repository_id(conn: AsyncConnection, repository: str) -> int | None:
    found = await conn.scalar(
        select(s.repositories.c.id).where(s.repositories.c.name == repository)
    )
    return None if found is None else int(found)


def _tag_order(sort: TagSort, tag: Any) -> list[Any]:
    """Each order has an index behind it: the primary key (repository_id, name), or
    ix_tags_updated (repository_id, updated_at, name), read forwards or backwards."""
    if sort == "name":
        return [tag.name]
    if sort == "-name":
        return [tag.name.desc()]
    if sort == "updated":
        return [tag.updated_at, tag.name]
    return [tag.updated_at.desc(), tag.name.desc()]


def _artifact_order(sort: ArtifactSort, m: Any, ap: Any) -> list[Any]:
    """`pushed` reads ix_manifests_created; the others sort the repository's artifacts:
    `pulls` and `pulled` with one primary-key lookup of artifact_pulls each, `size`
    with the sum of each one's blobs (its manifest_references)."""
    keys = {
        "pushed": m.c.created_at,
        "size": m.c.size + blob_bytes(m.c.id),
        "pulls": func.coalesce(ap.c.pull_count, 0),
        "pulled": ap.c.last_pulled_at,
    }
    return ordering(sort, keys, m.c.digest, nullable={"pulled"})


def _artifact_search(rid: int, query: str, m: Any) -> Any:
    """An artifact one of whose tags contains `query` (ASCII case ignored, as the tag
    search), or whose digest starts with it, with or without the algorithm (`sha256:3f`
    or `3f`: a digest has one colon)."""
    t = s.tags
    start = like_escape(query.lower())
    tagged = exists().where(
        t.c.repository_id == rid,
        t.c.manifest_digest == m.c.digest,
        t.c.name.ilike(contains_pattern(query), escape="\\"),
    )
    return or_(
        tagged,
        m.c.digest.like(f"{start}%", escape="\\"),
        m.c.digest.like(f"%:{start}%", escape="\\"),
    )


async def _tags_of(conn: AsyncConnection, rid: int, digests: Sequence[str]) -> dict[str, list[str]]:
    t = s.tags
    rows = await conn.execute(
        select(t.c.name, t.c.manifest_digest)
        .where(t.c.repository_id == rid, t.c.manifest_digest.in_(list(set(digests))))
        .order_by(t.c.name)
    )
    by_digest: dict[str, list[str]] = {}
    for row in rows:
        by_digest.setdefault(row.manifest_digest, []).append(row.name)
    return by_digest


class ArtifactQueries:
    """Mixed into SqlCatalogStore."""

    _db: SqlEngines

    async def list_artifacts(
        self,
        repository: str,
        page: Page,
        query: str | None = None,
        sort: ArtifactSort = "-pushed",
    ) -> tuple[list[ArtifactSummary], int]:
        m, ap = s.manifests, s.artifact_pulls
        async with self._db.read.connect() as conn:
            rid = await repository_id(conn, repository)
            if rid is None:
                return [], 0
            conds: list[Any] = [m.c.repository_id == rid]
            if query:
                conds.append(_artifact_search(rid, query, m))
            chosen = select(m.c.id)
            if sort.removeprefix("-") in ("pulls", "pulled"):
                pulls = and_(ap.c.repository_id == rid, ap.c.digest == m.c.digest)
                chosen = chosen.select_from(m.outerjoin(ap, pulls))
            keys = (
                chosen.where(*conds)
                .order_by(*_artifact_order(sort, m, ap))
                .limit(page.size)
                .offset(page.offset)
                .subquery("page")
            )
            q = (
                select(
                    m.c.digest,
                    m.c.media_type,
                    m.c.artifact_type,
                    m.c.size,
                    m.c.content,
                    m.c.created_at,
                    m.c.subject_digest,
                    m.c.annotations,
                    blob_bytes(m.c.id).label("blob_bytes"),
                    ap.c.pull_count,
                    ap.c.last_pulled_at,
                )
                .select_from(keys.join(m, m.c.id == keys.c.id))
                .outerjoin(ap, and_(ap.c.repository_id == rid, ap.c.digest == m.c.digest))
                .order_by(*_artifact_order(sort, m, ap))
            )
            rows = (await conn.execute(q)).all()
            count = select(func.count()).select_from(m).where(*conds)
            total = int(await conn.scalar(count) or 0)
            tags = await _tags_of(conn, rid, [row.digest for row in rows])
        return [_artifact(row, tags.get(row.digest, ())) for row in rows], total

    async def list_tags(
        self, repository: str, query: str | None, sort: TagSort, page: Page
    ) -> tuple[list[TagSummary], int]:
        t, m, ap = s.tags, s.manifests, s.artifact_pulls
        async with self._db.read.connect() as conn:
            rid = await repository_id(conn, repository)
            if rid is None:
                return [], 0
            conds: list[Any] = [t.c.repository_id == rid]
            if query:  # tags are ASCII: case-insensitive alike on both databases
                conds.append(t.c.name.ilike(contains_pattern(query), escape="\\"))
            keys = (
                select(t.c.name, t.c.manifest_digest, t.c.updated_at)
                .where(*conds)
                .order_by(*_tag_order(sort, t.c))
                .limit(page.size)
                .offset(page.offset)
                .subquery("page")
            )
            q = (
                select(
                    keys.c.name,
                    keys.c.updated_at,
                    m.c.digest,
                    m.c.media_type,
                    m.c.size,
                    m.c.created_at,
                    blob_bytes(m.c.id).label("blob_bytes"),
                    ap.c.pull_count,
                    ap.c.last_pulled_at,
                )
                .select_from(
                    keys.join(
                        m, and_(m.c.repository_id == rid, m.c.digest == keys.c.manifest_digest)
                    )
                )
                .outerjoin(ap, and_(ap.c.repository_id == rid, ap.c.digest == m.c.digest))
                .order_by(*_tag_order(sort, keys.c))
            )
            rows = (await conn.execute(q)).all()
            total = int(await conn.scalar(select(func.count()).select_from(t).where(*conds)) or 0)
        return [
            TagSummary(
                name=row.name,
                digest=row.digest,
                media_type=row.media_type,
                size=int(row.size) + int(row.blob_bytes),
                updated_at=ts(row.updated_at),
                pushed_at=ts(row.created_at),
                pull_count=int(row.pull_count or 0),
                last_pulled_at=_utc(row.last_pulled_at),
            )
            for row in rows
        ], total

    async def get_artifact(self, repository: str, reference: str) -> ArtifactSummary | None:
        m, t, ap = s.manifests, s.tags, s.artifact_pulls
        async with self._db.read.connect() as conn:
            rid = await repository_id(conn, repository)
            if rid is None:
                return None
            digest: str | None = reference
            if not is_digest(reference):
                digest = await conn.scalar(
                    select(t.c.manifest_digest).where(
                        t.c.repository_id == rid, t.c.name == reference
                    )
                )
                if digest is None:
                    return None
            q = (
                select(
                    m.c.digest,
                    m.c.media_type,
                    m.c.artifact_type,
                    m.c.size,
                    m.c.content,
                    m.c.created_at,
                    m.c.subject_digest,
                    m.c.annotations,
                    blob_bytes(m.c.id).label("blob_bytes"),
                    ap.c.pull_count,
                    ap.c.last_pulled_at,
                )
                .outerjoin(ap, and_(ap.c.repository_id == rid, ap.c.digest == m.c.digest))
                .where(m.c.repository_id == rid, m.c.digest == digest)
            )
            row = (await conn.execute(q)).first()
            if row is None:
                return None
            tags = await _tags_of(conn, rid, [row.digest])
        return _artifact(row, tags.get(row.digest, ()))

    async def referrers_of(
        self, repository: str, subjects: Sequence[str], limit: int
    ) -> list[ReferrerSummary]:
        m = s.manifests
        if not subjects or limit < 1:
            return []
        async with self._db.read.connect() as conn:
            rid = await repository_id(conn, repository)
            if rid is None:
                return []
            q = (  # ix_manifests_subject, as the /v2 referrers API finds them
                select(
                    m.c.subject_digest,
                    m.c.digest,
                    m.c.media_type,
                    m.c.artifact_type,
                    m.c.size,
                    m.c.created_at,
                    m.c.annotations,
                    blob_bytes(m.c.id).label("blob_bytes"),
                )
                .where(m.c.repository_id == rid, m.c.subject_digest.in_(list(set(subjects))))
                .order_by(m.c.created_at, m.c.digest)
                .limit(limit)
            )
            rows = (await conn.execute(q)).all()
        return [
            ReferrerSummary(
                subject=row.subject_digest,
                digest=row.digest,
                media_type=row.media_type,
                artifact_type=row.artifact_type,
                size=int(row.size) + int(row.blob_bytes),
                created_at=ts(row.created_at),
                annotations=row.annotations,
            )
            for row in rows
        ]


def _artifact(row: Any, tags: Sequence[str]) -> ArtifactSummary:
    return ArtifactSummary(
        digest=row.digest,
        media_type=row.media_type,
        artifact_type=row.artifact_type,
        size=int(row.size) + int(row.blob_bytes),
        tags=tuple(tags),
        created_at=ts(row.created_at),
        content=bytes(row.content),
        pull_count=int(row.pull_count or 0),
        last_pulled_at=_utc(row.last_pulled_at),
        subject_digest=row.subject_digest,
        annotations=row.annotations,
    )
