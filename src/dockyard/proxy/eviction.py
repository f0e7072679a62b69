"""Keeping a proxy cache under its size limit: the cached bytes are the project's
manifests and the distinct blobs they reference; while over the limit the
least-recently-pulled manifest (artifact_pulls.last_pulled_at, else when it was
cached) goes, with its tags and referrers. Its blobs are then unreferenced and go
through the normal garbage collection: a `gc.run` job is enqueued after an eviction
that removed anything (deduplicated, so a burst of evictions is one pass)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from dockyard.metadata import schema as s
from dockyard.proxy.store import ProxyConfig

log = logging.getLogger(__name__)

GC_JOB = "gc.run"


@dataclass(frozen=True, slots=True)
class Evicted:
    project: str
    before_bytes: int
    after_bytes: int
    manifests: list[str]
    """repository@digest of each evicted manifest"""


def _in_project(project: str) -> Any:
    return s.repositories.c.name.like(
        project.replace("%", r"\%").replace("_", r"\_") + "/%", escape="\\"
    )


async def cached_bytes(services: Any, project: str) -> int:
    """The project's manifests plus the distinct blobs they reference."""
    engine = services.store.read_engine
    m, r, ref, b = s.manifests, s.repositories, s.manifest_references, s.blobs
    in_project = _in_project(project)
    manifests_q = (
        select(func.coalesce(func.sum(m.c.size), 0))
        .select_from(m.join(r, r.c.id == m.c.repository_id))
        .where(in_project)
    )
    referenced = (
        select(ref.c.digest)
        .select_from(ref.join(m, m.c.id == ref.c.manifest_id).join(r, r.c.id == m.c.repository_id))
        .where(in_project, ref.c.kind == "blob")
        .distinct()
        .subquery()
    )
    blobs_q = select(func.coalesce(func.sum(b.c.size), 0)).where(
        b.c.digest.in_(select(referenced.c.digest))
    )
    async with engine.connect() as conn:
        total = int((await conn.execute(manifests_q)).scalar_one())
        total += int((await conn.execute(blobs_q)).scalar_one())
    return total


async def _oldest(services: Any, project: str, limit: int) -> list[tuple[str, str]]:
    """Top-level manifests (not an index's child, not a referrer), least recently
    pulled first."""
    m, r, p, ref = s.manifests, s.repositories, s.artifact_pulls, s.manifest_references
    child = select(ref.c.digest).where(ref.c.kind == "manifest")
    q = (
        select(r.c.name, m.c.digest)
        .select_from(
            m.join(r, r.c.id == m.c.repository_id).outerjoin(
                p, (p.c.repository_id == m.c.repository_id) & (p.c.digest == m.c.digest)
            )
        )
        .where(_in_project(project), m.c.subject_digest.is_(None), m.c.digest.not_in(child))
        .order_by(func.coalesce(p.c.last_pulled_at, m.c.created_at), m.c.id)
        .limit(limit)
    )
    async with services.store.read_engine.connect() as conn:
        return [(row[0], row[1]) for row in await conn.execute(q)]


async def evict(services: Any, config: ProxyConfig) -> Evicted:
    limit = config.size_limit_bytes
    await services.pulls.flush()  # this process's pulls count for what is recent
    before = await cached_bytes(services, config.project)
    total = before
    gone: list[str] = []
    while limit and total > limit:
        batch = await _oldest(services, config.project, 16)
        if not batch:
            break
        for repository, digest in batch:
            await _drop(services, repository, digest)
            gone.append(f"{repository}@{digest}")
            total = await cached_bytes(services, config.project)
            if total <= limit:
                break
    if gone:
        await services.jobs.enqueue(GC_JOB, {}, dedup_key="proxy-eviction")
        log.info(
            "proxy %s: evicted %d manifests (%d → %d bytes)",
            config.project,
            len(gone),
            before,
            total,
        )
    return Evicted(config.project, before, total, gone)


async def _drop(services: Any, repository: str, digest: str) -> None:
    """The manifest, its referrers, and (with it) its tags and index children rows."""
    for referrer in await services.store.referrers(repository, digest, None):
        await _drop(services, repository, referrer.digest)
    await services.store.delete_manifest(repository, digest, "proxy-eviction")
    await services.cache.invalidate(repository)
